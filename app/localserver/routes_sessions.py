"""Session endpoints: lifecycle, append, mark_prefix, ingest, stats, flash, generate."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import config, flash, ingest, prompts
from .chat import forced_tool, normalize_messages, parse_tool_calls, tool_prefill
from .engine import Engine
from .entries import validate_entries
from .errors import APIError, not_found
from .generation import (
    PromptPlan,
    TokenStream,
    clamp_generate_tokens,
    plan_rendered,
    run_for_client,
    submit,
)
from .in_use import InUse
from .prompts import char_limit, check_length
from .schemas import (
    AppendRequest,
    FlashRequest,
    GenerateRequest,
    InitRequest,
    PushRequest,
    stop_list,
)
from .sessions import QueryResult, Session
from .state import ServerState
from .stats import compute_stats
from .web import SSE_HEADERS, parse, read_json, sse


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def _session(request: Request) -> tuple[ServerState, Session]:
    state = _state(request)
    state.require_engine()
    return state, state.sessions().get(request.path_params["session_id"])


def _limit(state: ServerState) -> int:
    return char_limit(state.config.ctx_size)


async def init_session(request: Request) -> Response:
    state = _state(request)
    engine = state.require_engine()
    body = await parse(request, InitRequest)
    limit = _limit(state)
    check_length(body.prompt or "", limit, "prompt")
    if len(body.flash or []) > config.MAX_FLASH_QUERIES:
        raise APIError(400, f"a session holds at most {config.MAX_FLASH_QUERIES} flash "
                       f"queries; {len(body.flash or [])} given", code="flash_query_limit",
                       param="flash")
    questions = [await prompts.tokenize(engine, spec.query, limit=limit,
                                        param=f"flash[{i}].query")
                 for i, spec in enumerate(body.flash or [])]
    registry = state.sessions()
    assert state.loop is not None
    session = registry.create(body.type, body.context, body.window_size or 0, state.loop)
    try:
        for i, (spec, tokens) in enumerate(zip(body.flash or [], questions, strict=True)):
            try:
                flash.register(session, spec.query, tokens, spec.max_tokens)
            except APIError as exc:
                exc.param = f"flash[{i}].{exc.param}" if exc.param else f"flash[{i}]"
                raise
        await state.worker.call(session.init_prompt, engine, body.prompt or "")
    except BaseException:
        _discard(state, session)
        raise
    if session.deleted:  # deleted by a concurrent request while its prompt was decoded
        raise not_found("session", session.id)
    state.processors[session.id] = ingest.IngestProcessor(state, session)
    return JSONResponse({
        "session_id": session.id,
        "type": session.type,
        "n_tokens": session.n_tokens,
        "context": session.context,
        "window_size": session.window_size,
        "flash_queries": len(session.flash),
        "pos_max": session.n_tokens - 1,
    })


def _discard(state: ServerState, session: Session) -> None:
    """Forget the session now; its KV sequence is cleared by a request-lane job.

    The sequence id is free for a new session at once: the clear job is queued ahead
    of anything a later request could queue on that sequence (the lane is FIFO), and
    the deleted session's own background jobs see session.deleted and do nothing.
    """
    registry = state.sessions()
    if not registry.detach(session):
        return  # a concurrent DELETE got there first
    state.metrics.retire(session)
    processor = state.processors.pop(session.id, None)
    if processor is not None:
        processor.stop()
    session.ring.clear()
    session.hub.close()
    state.worker.submit(_clear, state.require_engine(), session.seq)
    registry.release(session.seq)


def _clear(engine: Engine, seq: int) -> None:
    """worker: forget a deleted session's positions (queued ahead of its seq's next owner)."""
    engine.seq_clear(seq)


async def list_sessions(request: Request) -> Response:
    state = _state(request)
    state.require_engine()
    registry = state.sessions()
    items = [s.summary() for s in registry.all()]
    return JSONResponse({"sessions": items, "count": len(items),
                         "max_sessions": registry.pool_size})


async def session_state(request: Request) -> Response:
    state, session = _session(request)
    return JSONResponse(session.state(state.require_engine()))


async def delete_session(request: Request) -> Response:
    state, session = _session(request)
    _discard(state, session)
    return JSONResponse({"success": True, "session_id": session.id})


async def append(request: Request) -> Response:
    state, session = _session(request)
    body = await parse(request, AppendRequest)
    check_length(body.text, _limit(state), "text")
    session.check_alive()
    with InUse(session):
        added = await state.worker.call(session.append_text, state.require_engine(), body.text)
    return JSONResponse({"n_tokens_added": added, "total_tokens": session.n_tokens,
                         "pos_max": session.n_tokens - 1})


async def mark_prefix(request: Request) -> Response:
    _, session = _session(request)
    await read_json(request)  # body is {} but must still be well-formed and bounded
    session.check_alive()
    session.prefix_end = session.n_tokens
    session.touch()
    return JSONResponse({"prefix_end": session.prefix_end,
                         "message": f"prefix frozen at {session.prefix_end} tokens; the data "
                                    "window never slides below it"})


async def push(request: Request) -> Response:
    state, session = _session(request)
    body = await parse(request, PushRequest)
    entries = validate_entries(session.type, body.data)
    return JSONResponse(ingest.push(state, session, entries))  # 404 if deleted meanwhile


async def stream_status(request: Request) -> Response:
    state, session = _session(request)
    return JSONResponse(ingest.status(state, session))


async def stats(request: Request) -> Response:
    _, session = _session(request)
    return JSONResponse(compute_stats(session.type, session.entries()))


async def add_flash(request: Request) -> Response:
    state, session = _session(request)
    body = await parse(request, FlashRequest)
    flash.check_room(session)
    tokens = await prompts.tokenize(state.require_engine(), body.query, limit=_limit(state),
                                    param="query")
    session.check_alive()
    fq = flash.register(session, body.query, tokens, body.max_tokens)
    processor = state.processors.get(session.id)
    if processor is not None and session.data_count:
        processor.wake()  # answer it now rather than after the next push
    return JSONResponse({"id": fq.id, "query": fq.query, "max_tokens": fq.max_tokens,
                         "n_tokens": len(fq.tokens), "total_flash_queries": len(session.flash)})


async def list_flash(request: Request) -> Response:
    _, session = _session(request)
    items = [fq.public() for fq in session.flash.values()]
    return JSONResponse({"flash_queries": items, "count": len(items),
                         "current_data_version": session.data_version})


async def delete_flash(request: Request) -> Response:
    _, session = _session(request)
    raw = request.path_params["query_id"]
    try:
        query_id = int(raw)
    except ValueError:
        raise not_found("flash query", raw) from None
    if session.flash.pop(query_id, None) is None:
        raise not_found("flash query", query_id)
    return JSONResponse({"success": True, "remaining": len(session.flash)})


# -- generate ------------------------------------------------------------------------------


def _cached_flash(session: Session, prompt: str, max_tokens: int | None
                  ) -> dict[str, Any] | None:
    """A fresh flash answer for exactly this question, served without touching the model."""
    for fq in session.flash.values():
        if fq.query == prompt and flash.is_fresh(session, fq) and (
                max_tokens is None or max_tokens == fq.max_tokens):
            return {
                "text": fq.value,
                "n_tokens": fq.answer_n_tokens,
                "total_tokens": session.n_tokens,
                "pos_max": session.n_tokens - 1,
                "finish_reason": fq.finish_reason,
                "flash": True,
                "flash_id": fq.id,
                "data_version": fq.data_version,
                "confidence": fq.confidence,
            }
    return None


async def generate(request: Request) -> Response:
    state, session = _session(request)
    engine = state.require_engine()
    body = await parse(request, GenerateRequest)
    session.check_alive()
    if body.prompt is not None and body.messages is not None:
        raise APIError(400, "send either prompt or messages, not both", code="invalid_request",
                       param="messages")
    stop = stop_list(body.stop)
    if body.prompt is not None and not body.stream and body.clear_after and not stop:
        cached = _cached_flash(session, body.prompt, body.max_tokens)
        if cached is not None:
            session.touch()
            return JSONResponse(cached)
    max_tokens = clamp_generate_tokens(body.max_tokens)
    tools = [t.model_dump(exclude_none=True) for t in body.tools] if body.tools else None
    tool_names = {t["function"]["name"] for t in tools or []}
    prefill = ""
    forced: str | None = None
    if body.messages is not None:
        assert state.template is not None
        rendered = state.template.render(normalize_messages(body.messages), tools)
        forced = forced_tool(body.tool_choice, tools)
        if forced is not None:
            prefill = tool_prefill(forced)
            rendered += prefill
            stop = [*stop, "</tool_call>"]
        plan = await plan_rendered(state, session, rendered)
    elif body.prompt is not None:
        plan = PromptPlan(await prompts.tokenize(engine, body.prompt, limit=_limit(state),
                                                 param="prompt"))
    else:
        plan = PromptPlan([])
    session.check_alive()
    sure_gap = config.FAST_ANSWER_GAP if body.fast_answer else None

    def finish(result: QueryResult) -> dict[str, Any]:
        gen = result.generation
        text = gen.text
        out: dict[str, Any] = {
            "text": text,
            "n_tokens": len(gen.tokens),
            "total_tokens": session.n_tokens,
            "pos_max": session.n_tokens - 1,
            "finish_reason": gen.finish_reason,
            "data_version": session.data_version,
            "confidence": result.confidence,
        }
        if tools:
            parsed = parse_tool_calls(prefill + text, tool_names, forced or None)
            if parsed.tool_calls:
                out["text"] = parsed.content
                out["tool_calls"] = parsed.tool_calls
                out["finish_reason"] = "tool_calls"
        if body.fast_answer:
            out["speculative"] = gen.speculative
            out["logit_gap"] = gen.first_gap
        return out

    if not body.stream:
        with InUse(session), state.metrics.query_timer():
            result = await run_for_client(
                request, state, session.query, engine, plan.tokens, max_tokens, stop=stop,
                sure_gap=sure_gap, keep=not body.clear_after)
        return JSONResponse(finish(result))

    assert state.loop is not None
    stream = TokenStream(state.loop)

    async def frames() -> Any:
        with InUse(session), state.metrics.query_timer():
            job = submit(state, session.query, engine, plan.tokens, max_tokens, stop=stop,
                         on_token=stream.on_token, sure_gap=sure_gap,
                         keep=not body.clear_after)
            in_tool = bool(prefill)
            try:
                async for kind, item in stream.run(job):
                    if kind == "token":
                        _, piece, pos = item
                        frame: dict[str, Any] = {"token": piece, "pos": pos, "done": False}
                        if tools and (in_tool or "<tool_call>" in piece):
                            in_tool = True
                            frame["tool_call"] = True
                        yield sse(frame)
                    else:
                        yield sse({"done": True} | finish(item))
            except APIError as exc:
                # text and n_tokens too: clients read any done frame as the final answer.
                yield sse({"done": True, "text": "", "n_tokens": 0, "finish_reason": "error",
                           "error": exc.body()["error"]})

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


ROUTES = [
    Route("/v1/sessions/init", init_session, methods=["POST"]),
    Route("/v1/sessions", list_sessions, methods=["GET"]),
    Route("/v1/sessions/{session_id}/state", session_state, methods=["GET"]),
    Route("/v1/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/v1/sessions/{session_id}/append", append, methods=["POST"]),
    Route("/v1/sessions/{session_id}/mark_prefix", mark_prefix, methods=["POST"]),
    Route("/v1/sessions/{session_id}/generate", generate, methods=["POST"]),
    Route("/v1/sessions/{session_id}/stream/push", push, methods=["POST"]),
    Route("/v1/sessions/{session_id}/stream/status", stream_status, methods=["GET"]),
    Route("/v1/sessions/{session_id}/stats", stats, methods=["GET"]),
    Route("/v1/sessions/{session_id}/flash", add_flash, methods=["POST"]),
    Route("/v1/sessions/{session_id}/flash", list_flash, methods=["GET"]),
    Route("/v1/sessions/{session_id}/flash/{query_id}", delete_flash, methods=["DELETE"]),
]

