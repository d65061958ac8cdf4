"""Anthropic-compatible /v1/messages (plain and SSE event sequence)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .chat import (
    anthropic_to_openai,
    anthropic_tools,
    forced_tool,
    parse_tool_calls,
    tool_prefill,
)
from .errors import APIError
from .generation import chat_job, clamp_generate_tokens, run_for_client
from .routes_openai import _stream
from .schemas import MessagesRequest
from .sessions import QueryResult
from .state import ServerState
from .web import SSE_HEADERS, parse, sse


def _stop_reason(result: QueryResult, has_tools: bool) -> tuple[str, str | None]:
    gen = result.generation
    if has_tools:
        return "tool_use", None
    if gen.stop_sequence is not None:
        return "stop_sequence", gen.stop_sequence
    return ("max_tokens" if gen.finish_reason == "length" else "end_turn"), None


def _blocks(text: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if text or not calls:
        blocks.append({"type": "text", "text": text})
    for call in calls:
        fn = call["function"]
        try:
            args = json.loads(fn["arguments"])
        except json.JSONDecodeError:
            args = {"_raw": fn["arguments"]}
        blocks.append({"type": "tool_use", "id": "toolu_" + call["id"].removeprefix("call_"),
                       "name": fn["name"], "input": args if isinstance(args, dict) else
                       {"value": args}})
    return blocks


async def messages(request: Request) -> Response:
    state: ServerState = request.app.state.server
    state.require_engine()
    body = await parse(request, MessagesRequest)
    tools = anthropic_tools(body.tools)
    tool_names = {t["function"]["name"] for t in tools or []}
    assert state.template is not None
    rendered = state.template.render(anthropic_to_openai(body.system, body.messages), tools)
    choice_none = (body.tool_choice or {}).get("type") == "none"
    forced = None if choice_none else forced_tool(body.tool_choice, tools)
    prefill = tool_prefill(forced) if forced is not None else ""
    job = await chat_job(state, body.session_id, rendered + prefill)
    max_tokens = clamp_generate_tokens(body.max_tokens)
    stop = list(body.stop_sequences or []) + (["</tool_call>"] if prefill else [])
    model = body.model or state.config.model_name
    ident = f"msg_{uuid.uuid4().hex[:24]}"

    def content_of(result: QueryResult) -> tuple[list[dict[str, Any]], str, str | None]:
        text = result.generation.text
        calls: list[dict[str, Any]] = []
        if tools and not choice_none:
            parsed = parse_tool_calls(prefill + text, tool_names, forced or None)
            text, calls = (parsed.content, parsed.tool_calls) if parsed.tool_calls else (text, [])
        reason, sequence = _stop_reason(result, bool(calls))
        return _blocks(text, calls), reason, sequence

    if not body.stream:
        result = await run_for_client(request, state, job.run, max_tokens, stop)
        blocks, reason, sequence = content_of(result)
        return JSONResponse({
            "id": ident, "type": "message", "role": "assistant", "content": blocks,
            "model": model, "stop_reason": reason, "stop_sequence": sequence,
            "usage": {"input_tokens": job.prompt_tokens,
                      "output_tokens": len(result.generation.tokens)},
        })

    async def frames() -> AsyncIterator[bytes]:
        yield sse({"type": "message_start", "message": {
            "id": ident, "type": "message", "role": "assistant", "content": [],
            "model": model, "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": job.prompt_tokens, "output_tokens": 0}}},
            event="message_start")
        # With tools, the answer may be a tool call, so text is held until the end.
        live_text = not tools
        if live_text:
            yield sse({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}},
                      event="content_block_start")
        try:
            async for kind, item in _stream(state, job, max_tokens, stop):
                if kind == "token":
                    if live_text and item[1]:
                        yield sse({"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": item[1]}},
                                  event="content_block_delta")
                    continue
                blocks, reason, sequence = content_of(item)
                if live_text:
                    yield sse({"type": "content_block_stop", "index": 0},
                              event="content_block_stop")
                    blocks = blocks[1:] if blocks and blocks[0]["type"] == "text" else blocks
                start = 1 if live_text else 0
                for index, block in enumerate(blocks, start=start):
                    for frame in _block_events(index, block):
                        yield frame
                yield sse({"type": "message_delta",
                           "delta": {"stop_reason": reason, "stop_sequence": sequence},
                           "usage": {"output_tokens": len(item.generation.tokens)}},
                          event="message_delta")
                yield sse({"type": "message_stop"}, event="message_stop")
        except APIError as exc:
            yield sse({"type": "error", "error": exc.body()["error"]}, event="error")

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    if block["type"] == "text":
        return [
            sse({"type": "content_block_start", "index": index,
                 "content_block": {"type": "text", "text": ""}}, event="content_block_start"),
            sse({"type": "content_block_delta", "index": index,
                 "delta": {"type": "text_delta", "text": block["text"]}},
                event="content_block_delta"),
            sse({"type": "content_block_stop", "index": index}, event="content_block_stop"),
        ]
    return [
        sse({"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}},
            event="content_block_start"),
        sse({"type": "content_block_delta", "index": index, "delta": {
            "type": "input_json_delta", "partial_json": json.dumps(block["input"])}},
            event="content_block_delta"),
        sse({"type": "content_block_stop", "index": index}, event="content_block_stop"),
    ]


ROUTES = [Route("/v1/messages", messages, methods=["POST"])]
