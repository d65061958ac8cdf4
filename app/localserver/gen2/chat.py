"""POST /v1/chat/completions in generation 2's shape (stateless, or a session turn through
the x-layerscale-session-id header). Rendering and tool calls are gen 1's (../chat.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..chat import forced_tool, normalize_messages, parse_tool_calls, tool_prefill
from ..errors import APIError
from ..web import SSE_HEADERS, sse
from .errors import unsupported
from .jobs import max_reply, parse, prepare, run_once, run_streaming
from .schemas import ChatMessage, ChatRequest, stop_list
from .state import gen2_of
from .turns import TurnResult


def has_images(messages: list[ChatMessage]) -> bool:
    return any(isinstance(m.content, list) and any(
        isinstance(p, dict) and p.get("type") == "image_url" for p in m.content)
        for m in messages)


def render_chat(request: Request, messages: list[ChatMessage],
                tools: list[dict[str, Any]] | None) -> str:
    state = gen2_of(request).server
    assert state.template is not None
    plain = [SimpleNamespace(role="tool" if m.role == "ipython" else m.role,
                             content=m.content, tool_calls=m.tool_calls) for m in messages]
    return state.template.render(normalize_messages(plain), tools)


def check_tool_choice(choice: str | dict[str, Any] | None,
                      tools: list[dict[str, Any]] | None) -> None:
    if isinstance(choice, str) and choice not in {"auto", "none", "required"}:
        raise APIError(400, "tool_choice must be auto, none, required or a function",
                       code="invalid_value", param="tool_choice")
    if isinstance(choice, dict):
        name = forced_tool(choice, tools)
        if not name or name not in {t["function"]["name"] for t in tools or []}:
            raise APIError(400, "tool_choice names a function that is not in tools",
                           code="invalid_value", param="tool_choice")


def usage(turn: TurnResult) -> dict[str, Any]:
    n = len(turn.result.generation.tokens)
    details: dict[str, int] = {"cached_tokens": turn.cached_tokens}
    if turn.prefix_cached:
        details["prefix_cached_tokens"] = turn.prefix_cached
    return {"prompt_tokens": turn.prompt_tokens, "completion_tokens": n,
            "total_tokens": turn.prompt_tokens + n, "prompt_tokens_details": details}


async def chat_completions(request: Request) -> Response:
    g = gen2_of(request)
    g.server.require_engine()
    body = await parse(request, ChatRequest)
    if body.ignore_eos:
        raise unsupported("ignore_eos")
    if body.logprobs or body.top_logprobs:
        raise unsupported("logprobs" if body.logprobs else "top_logprobs")
    stop = stop_list(body.stop)
    tools = [t.model_dump(exclude_none=True) for t in body.tools] if body.tools else None
    check_tool_choice(body.tool_choice, tools)
    calling = bool(tools) and body.tool_choice != "none"
    tool_names = {t["function"]["name"] for t in tools or []}
    forced = forced_tool(body.tool_choice, tools) if calling else None
    prefill = tool_prefill(forced) if forced is not None else ""
    if prefill:
        stop = [*stop, "</tool_call>"]
    rendered = render_chat(request, body.messages, tools)
    job = await prepare(request, g, rendered + prefill, images=has_images(body.messages))
    max_tokens = max_reply(job, body.max_tokens, body.max_completion_tokens)
    model = g.server.config.model_name
    ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    def message_of(turn: TurnResult) -> tuple[dict[str, Any], str]:
        gen = turn.result.generation
        finish = "length" if gen.finish_reason == "length" else "stop"
        if calling:
            parsed = parse_tool_calls(prefill + gen.text, tool_names, forced or None)
            calls = parsed.tool_calls if body.parallel_tool_calls else parsed.tool_calls[:1]
            if calls:
                return ({"role": "assistant", "content": parsed.content or None,
                         "tool_calls": calls}, "tool_calls")
        return {"role": "assistant", "content": gen.text}, finish

    if not body.stream:
        turn = await run_once(request, job, max_tokens, stop)
        message, finish = message_of(turn)
        return JSONResponse({
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish}],
            "usage": usage(turn),
        })

    with_usage = bool(body.stream_options and body.stream_options.include_usage is True)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        out: dict[str, Any] = {
            "id": ident, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [{"index": 0, "delta": delta,
                                         "finish_reason": finish}]}
        if with_usage:
            out["usage"] = None
        return sse(out)

    async def frames() -> AsyncIterator[bytes]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for kind, item in run_streaming(job, max_tokens, stop):
                if kind == "token":
                    # With tools the answer may turn out to be a call: it is sent at the end.
                    if not calling and item[1]:
                        yield chunk({"content": item[1]})
                    continue
                message, finish = message_of(item)
                if calling and message.get("content"):
                    yield chunk({"content": message["content"]})
                for index, call in enumerate(message.get("tool_calls") or []):
                    # Exactly two chunks per call: the opener, then all its arguments.
                    yield chunk({"tool_calls": [{
                        "index": index, "id": call["id"], "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""}}]})
                    yield chunk({"tool_calls": [{
                        "index": index,
                        "function": {"arguments": call["function"]["arguments"]}}]})
                yield chunk({}, finish)
                if with_usage:
                    yield sse({"id": ident, "object": "chat.completion.chunk",
                               "created": created, "model": model, "choices": [],
                               "usage": usage(item)})
        except APIError as exc:
            status = 400 if exc.status == 422 else exc.status
            yield sse({"error": {"message": exc.message, "type": "invalid_request_error"
                                 if status < 500 else "server_error", "code": exc.code}})
        yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


ROUTES = [Route("/v1/chat/completions", chat_completions, methods=["POST"])]
