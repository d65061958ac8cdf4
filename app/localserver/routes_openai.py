"""Server-level endpoints: health, models, OpenAI chat completions and completions.

Sampling is greedy: temperature/top_p are accepted for compatibility and ignored, so
answers are reproducible (documented in README).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import config, prompts
from .chat import forced_tool, normalize_messages, parse_tool_calls, tool_prefill
from .errors import APIError
from .generation import (
    ChatJob,
    TokenStream,
    chat_job,
    clamp_generate_tokens,
    run_for_client,
    submit,
)
from .schemas import ChatCompletionRequest, CompletionRequest, stop_list
from .sessions import QueryResult
from .state import ServerState
from .web import SSE_HEADERS, parse, sse


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


async def health(request: Request) -> Response:
    state = _state(request)
    body: dict[str, Any] = {
        "status": "ok" if state.ready else ("error" if state.load_error else "loading"),
        "uptime": time.time() - state.started_at,
        "model": state.config.model_name,
        "sessions": len(state.sessions()),
        "version": config.SERVER_VERSION,
    }
    if state.load_error:
        body["error"] = state.load_error
    return JSONResponse(body, status_code=200 if state.ready else 503)


async def models(request: Request) -> Response:
    state = _state(request)
    state.require_engine()
    return JSONResponse({"object": "list", "data": [{
        "id": state.config.model_name,
        "object": "model",
        "created": int(state.started_at),
        "owned_by": "local",
    }]})


def _finish(result: QueryResult) -> str:
    return "length" if result.generation.finish_reason == "length" else "stop"


async def chat_completions(request: Request) -> Response:
    state = _state(request)
    state.require_engine()
    body = await parse(request, ChatCompletionRequest)
    tools = [t.model_dump(exclude_none=True) for t in body.tools] if body.tools else None
    tool_names = {t["function"]["name"] for t in tools or []}
    assert state.template is not None
    rendered = state.template.render(normalize_messages(body.messages), tools)
    forced = forced_tool(body.tool_choice, tools) if body.tool_choice != "none" else None
    prefill = tool_prefill(forced) if forced is not None else ""
    job = await chat_job(state, body.session_id, rendered + prefill)
    max_tokens = clamp_generate_tokens(body.max_completion_tokens or body.max_tokens)
    stop = stop_list(body.stop) + (["</tool_call>"] if prefill else [])
    model = body.model or state.config.model_name
    ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    def message_of(result: QueryResult) -> tuple[dict[str, Any], str]:
        text = result.generation.text
        if tools and body.tool_choice != "none":
            parsed = parse_tool_calls(prefill + text, tool_names, forced or None)
            if parsed.tool_calls:
                return ({"role": "assistant", "content": parsed.content or None,
                         "tool_calls": parsed.tool_calls}, "tool_calls")
        return {"role": "assistant", "content": text}, _finish(result)

    def usage(result: QueryResult) -> dict[str, int]:
        n = len(result.generation.tokens)
        return {"prompt_tokens": job.prompt_tokens, "completion_tokens": n,
                "total_tokens": job.prompt_tokens + n}

    if not body.stream:
        result = await run_for_client(request, state, job.run, max_tokens, stop)
        message, finish = message_of(result)
        return JSONResponse({
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage(result),
        })

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({"id": ident, "object": "chat.completion.chunk", "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    async def frames() -> AsyncIterator[bytes]:
        yield chunk({"role": "assistant", "content": ""})
        # With tools the answer may turn out to be a tool call, so it is sent whole.
        buffered = bool(tools)
        try:
            async for kind, item in _stream(state, job, max_tokens, stop):
                if kind == "token":
                    if not buffered and item[1]:
                        yield chunk({"content": item[1]})
                    continue
                message, finish = message_of(item)
                if message.get("tool_calls"):
                    calls = [{"index": i} | c for i, c in enumerate(message["tool_calls"])]
                    yield chunk({"tool_calls": calls})
                elif buffered and message["content"]:
                    yield chunk({"content": message["content"]})
                yield sse({"id": ident, "object": "chat.completion.chunk", "created": created,
                           "model": model, "usage": usage(item),
                           "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        except APIError as exc:
            yield sse(exc.body())
        yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


async def _stream(state: ServerState, job: ChatJob, max_tokens: int, stop: list[str]
                  ) -> AsyncIterator[tuple[str, Any]]:
    assert state.loop is not None
    stream = TokenStream(state.loop)
    future = submit(state, job.run, max_tokens, stop, stream.on_token)
    async for item in stream.run(future):
        yield item


async def completions(request: Request) -> Response:
    state = _state(request)
    engine = state.require_engine()
    body = await parse(request, CompletionRequest)
    tokens = await prompts.tokenize(engine, body.prompt,
                                    limit=prompts.char_limit(state.config.ctx_size),
                                    param="prompt", add_special=engine.add_bos)
    if not tokens:
        raise APIError(400, "prompt is empty", code="empty_prompt", param="prompt")
    job = ChatJob(state, None, tokens)
    max_tokens = clamp_generate_tokens(body.max_tokens, default=16)
    stop = stop_list(body.stop)
    model = body.model or state.config.model_name
    ident = f"cmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    def usage(result: QueryResult) -> dict[str, int]:
        n = len(result.generation.tokens)
        return {"prompt_tokens": len(tokens), "completion_tokens": n,
                "total_tokens": len(tokens) + n}

    if not body.stream:
        result = await run_for_client(request, state, job.run, max_tokens, stop)
        return JSONResponse({
            "id": ident, "object": "text_completion", "created": created, "model": model,
            "choices": [{"text": result.generation.text, "index": 0, "logprobs": None,
                         "finish_reason": _finish(result)}],
            "usage": usage(result),
        })

    async def frames() -> AsyncIterator[bytes]:
        try:
            async for kind, item in _stream(state, job, max_tokens, stop):
                text = item[1] if kind == "token" else ""
                finish = None if kind == "token" else _finish(item)
                if kind == "token" and not text:
                    continue
                yield sse({"id": ident, "object": "text_completion", "created": created,
                           "model": model, "choices": [{"text": text, "index": 0,
                                                        "logprobs": None,
                                                        "finish_reason": finish}]})
        except APIError as exc:
            yield sse(exc.body())
        yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


ROUTES = [
    Route("/v1/health", health, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/v1/models", models, methods=["GET"]),
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/completions", completions, methods=["POST"]),
]
