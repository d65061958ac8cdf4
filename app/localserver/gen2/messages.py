"""POST /v1/messages and /v1/messages/count_tokens in generation 2's shape (errors in the
Anthropic envelope, see errors.py). Rendering and tool calls are gen 1's (../chat.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import prompts
from ..chat import anthropic_to_openai, anthropic_tools, forced_tool, parse_tool_calls, tool_prefill
from ..errors import APIError
from ..routes_anthropic import _blocks
from ..web import SSE_HEADERS, sse
from .errors import anthropic_body, status_of, unsupported
from .jobs import parse, prepare, run_once, run_streaming
from .schemas import CountTokensRequest, MessagesRequest, stop_list
from .state import gen2_of
from .turns import TurnResult, data_end


def _invalid(message: str, param: str) -> APIError:
    return APIError(400, message, code="invalid_value", param=param)


def _check(body: MessagesRequest) -> bool:
    """Refuse what the protocol refuses; True when the messages hold images."""
    if body.top_k is not None:
        raise unsupported("top_k")
    if body.ignore_eos:
        raise unsupported("ignore_eos")
    if body.output_config and "format" in body.output_config:
        raise unsupported("output_config.format")
    thinking = (body.thinking or {}).get("type")
    if thinking not in {None, "enabled", "adaptive", "disabled"}:
        raise _invalid("thinking.type must be enabled, adaptive or disabled", "thinking.type")
    choice = (body.tool_choice or {}).get("type")
    if body.tool_choice is not None and choice not in {"auto", "none", "any", "tool"}:
        raise _invalid("tool_choice.type must be auto, none, any or tool", "tool_choice.type")
    if choice in {"any", "tool"} and thinking in {"enabled", "adaptive"}:
        raise _invalid("a forced tool choice cannot be combined with thinking", "tool_choice")
    images = False
    for i, m in enumerate(body.messages):
        if isinstance(m.content, str):
            continue
        for j, block in enumerate(m.content):
            kind = block.get("type")
            if kind == "image":
                images = True
            if kind == "tool_result" and isinstance(block.get("content"), list):
                for k, part in enumerate(block["content"]):
                    if not isinstance(part, dict) or part.get("type") != "text":
                        raise _invalid("tool_result content parts need type: text",
                                       f"messages[{i}].content[{j}].content[{k}]")
    stop_list(body.stop_sequences, "stop_sequences")
    return images


def _render(request: Request, body: MessagesRequest) -> tuple[str, str, str | None,
                                                               list[dict[str, Any]] | None]:
    """(rendered prompt, tool-call prefill, forced tool, tools)."""
    state = gen2_of(request).server
    assert state.template is not None
    tools = anthropic_tools(body.tools)
    choice = (body.tool_choice or {}).get("type")
    forced = None if choice == "none" else forced_tool(body.tool_choice, tools)
    if choice == "tool" and forced not in {t["function"]["name"] for t in tools or []}:
        raise _invalid("tool_choice names a tool that is not in tools", "tool_choice.name")
    prefill = tool_prefill(forced) if forced is not None else ""
    rendered = state.template.render(anthropic_to_openai(body.system, body.messages), tools)
    return rendered, prefill, forced, tools


def _too_long(exc: APIError) -> APIError:
    if exc.code == "context_length_exceeded":
        numbers = [int(w) for w in exc.message.split() if w.isdigit()]
        if len(numbers) >= 2:
            exc.message = f"prompt is too long: {numbers[0]} tokens > {numbers[1] - 1} maximum"
    return exc


def _usage(turn: TurnResult, output: int | None = None) -> dict[str, int]:
    out = {"input_tokens": turn.prompt_tokens - turn.cached_tokens,
           "output_tokens": len(turn.result.generation.tokens) if output is None else output,
           "cache_creation_input_tokens": 0,
           "cache_read_input_tokens": turn.cached_tokens}
    if turn.prefix_cached:
        out["prefix_cached_tokens"] = turn.prefix_cached
    return out


def _stop(turn: TurnResult, calls: bool) -> tuple[str, str | None]:
    gen = turn.result.generation
    if calls:
        return "tool_use", None
    if gen.stop_sequence is not None:
        return "stop_sequence", gen.stop_sequence
    if gen.finish_reason == "length":
        return ("model_context_window_exceeded" if turn.result.clamped else "max_tokens"), None
    return "end_turn", None


async def messages(request: Request) -> Response:
    g = gen2_of(request)
    g.server.require_engine()
    body = await parse(request, MessagesRequest)
    images = _check(body)
    rendered, prefill, forced, tools = _render(request, body)
    stop = stop_list(body.stop_sequences, "stop_sequences") + (
        ["</tool_call>"] if prefill else [])
    try:
        job = await prepare(request, g, rendered + prefill, images=images)
    except APIError as exc:
        raise _too_long(exc) from None
    calling = bool(tools) and (body.tool_choice or {}).get("type") != "none"
    names = {t["function"]["name"] for t in tools or []}
    single = bool((body.tool_choice or {}).get("disable_parallel_tool_use"))
    model = g.server.config.model_name
    ident = f"msg_{uuid.uuid4().hex[:24]}"

    def content_of(turn: TurnResult) -> tuple[list[dict[str, Any]], str, str | None]:
        text = turn.result.generation.text
        calls: list[dict[str, Any]] = []
        if calling:
            parsed = parse_tool_calls(prefill + text, names, forced or None)
            if parsed.tool_calls:
                text, calls = parsed.content, parsed.tool_calls[:1] if single else \
                    parsed.tool_calls
        blocks = [b for b in _blocks(text, calls) if b["type"] != "text" or b["text"]]
        for block in blocks:  # gen 2: the input as parsed, or the raw string
            if block["type"] == "tool_use" and set(block["input"]) == {"_raw"}:
                block["input"] = block["input"]["_raw"]
        reason, sequence = _stop(turn, bool(calls))
        return blocks, reason, sequence

    if not body.stream:
        turn = await run_once(request, job, body.max_tokens, stop)
        blocks, reason, sequence = content_of(turn)
        return JSONResponse({"id": ident, "type": "message", "role": "assistant",
                             "model": model, "content": blocks, "stop_reason": reason,
                             "stop_sequence": sequence, "usage": _usage(turn)})

    held = data_end(job.session) if job.session is not None else 0

    async def frames() -> AsyncIterator[bytes]:
        yield sse({"type": "message_start", "message": {
            "id": ident, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": held + len(job.tokens), "output_tokens": 0,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}},
            event="message_start")
        index = -1  # the open text block's index, once it has text
        try:
            async for kind, item in run_streaming(job, body.max_tokens, stop):
                if kind == "token":
                    if calling or not item[1]:
                        continue  # with tools the text may turn out to be a call
                    if index < 0:
                        index = 0
                        yield sse({"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}},
                                  event="content_block_start")
                    yield sse({"type": "content_block_delta", "index": 0,
                               "delta": {"type": "text_delta", "text": item[1]}},
                              event="content_block_delta")
                    continue
                blocks, reason, sequence = content_of(item)
                if index == 0:
                    yield sse({"type": "content_block_stop", "index": 0},
                              event="content_block_stop")
                    blocks = [b for b in blocks if b["type"] != "text"]
                for n, block in enumerate(blocks, start=index + 1):
                    for frame in _block_events(n, block):
                        yield frame
                delta: dict[str, Any] = {"stop_reason": reason}
                if sequence is not None:
                    delta["stop_sequence"] = sequence
                yield sse({"type": "message_delta", "delta": delta, "usage": _usage(item)},
                          event="message_delta")
                yield sse({"type": "message_stop"}, event="message_stop")
        except APIError as exc:
            yield sse(anthropic_body(status_of(exc.status), _too_long(exc).message),
                      event="error")

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    if block["type"] == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        delta: dict[str, Any] = {"type": "text_delta", "text": block["text"]}
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        raw = block["input"]
        delta = {"type": "input_json_delta",
                 "partial_json": raw if isinstance(raw, str) else json.dumps(raw)}
    return [sse({"type": "content_block_start", "index": index, "content_block": start},
                event="content_block_start"),
            sse({"type": "content_block_delta", "index": index, "delta": delta},
                event="content_block_delta"),
            sse({"type": "content_block_stop", "index": index}, event="content_block_stop")]


async def count_tokens(request: Request) -> Response:
    """The tokenizer only: never waits on the model worker."""
    g = gen2_of(request)
    engine = g.server.require_engine()
    body = await parse(request, CountTokensRequest)
    images = _check(body)
    if images:
        raise APIError(400, "this model does not take images", code="invalid_value",
                       param="messages")
    rendered, prefill, _, _ = _render(request, body)
    tokens = await prompts.tokenize(engine, rendered + prefill,
                                    limit=prompts.char_limit(g.server.config.ctx_size),
                                    param="messages")
    return JSONResponse({"input_tokens": len(tokens)})


ROUTES = [
    Route("/v1/messages", messages, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
]
