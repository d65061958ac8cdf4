"""Generation 2 session routes: lifecycle with explicit ids, raw-text push (drop-oldest
overflow), warm, generate (prompt only, SSE dialect A) and flash queries (at most 20)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import config, flash, ingest, prompts
from ..entries import RAW_TEXT
from ..errors import APIError, ContextFullError, not_found
from ..generation import TokenStream, run_for_client, submit
from ..in_use import InUse
from ..routes_sessions import _discard
from ..sessions import WINDOW_MIN_HEADROOM, FlashQuery, QueryResult, Session
from ..web import SSE_HEADERS, sse
from .chat import has_images, render_chat
from .errors import unsupported
from .jobs import parse
from .schemas import ChatRequest, CreateSession, Flash, GenerateRequest, Push, stop_list
from .state import Extra, Gen2, gen2_of, pending_bytes, session_of, session_view
from .turns import overflow
from .turns import warm as warm_turn

# A sliding session's window counts tokens; the entry count never limits it.
UNLIMITED_ENTRIES = 1 << 30


async def create(request: Request) -> Response:
    g = gen2_of(request)
    state = g.server
    state.require_engine()
    body = await parse(request, CreateSession)
    registry = state.sessions()
    if body.id is not None and registry.find(body.id) is not None:
        raise APIError(409, f"session {body.id} already exists", code="session_exists",
                       param="id")
    # The window is the data the session keeps; room for questions comes on top of it.
    context = min(state.config.ctx_size, body.window + WINDOW_MIN_HEADROOM) \
        if body.window else None
    assert state.loop is not None
    try:
        session = registry.create(RAW_TEXT, context, UNLIMITED_ENTRIES if body.window else 0,
                                  state.loop)
    except APIError as exc:
        if exc.status == 429:  # the pool is full
            raise APIError(409, exc.message, code="session_limit") from None
        raise
    if body.id is not None:
        registry.rename(session, body.id)
    g.extras[session.id] = Extra(pre_decode=body.pre_decode, window=body.window)
    state.processors[session.id] = ingest.IngestProcessor(state, session)
    return JSONResponse(session_view(session, g.extra(session)))


async def list_sessions(request: Request) -> Response:
    g = gen2_of(request)
    g.server.require_engine()
    items = sorted(g.server.sessions().all(), key=lambda s: (s.created_at, s.id))
    return JSONResponse({"object": "list",
                         "data": [session_view(s, g.extra(s)) for s in items]})


async def get(request: Request) -> Response:
    g, session = session_of(request)
    before = session.last_used_at
    session.touch()
    return JSONResponse(session_view(session, g.extra(session), last_used=before))


async def delete(request: Request) -> Response:
    g, session = session_of(request)
    if session.in_use:
        raise APIError(409, f"session {session.id} is busy: a request is running on it; "
                       "retry once it ends", code="session_busy")
    _discard(g.server, session)
    g.forget(session)
    return JSONResponse({"id": session.id, "object": "session.deleted", "deleted": True})


# -- push ----------------------------------------------------------------------------------


async def check_lines(g: Gen2, session: Session, lines: list[str]) -> None:
    """Refuse, before accepting any, a line that could never fit one entry of the session."""
    engine = g.server.require_engine()
    capacity = session.entry_capacity()
    limit = prompts.char_limit(g.server.config.ctx_size)
    for i, line in enumerate(lines):
        param = "data" if len(lines) == 1 else f"data[{i}]"
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            raise APIError(400, f"{param} contains an unpaired UTF-16 surrogate",
                           code="invalid_value", param=param) from None
        if not line.strip():
            raise APIError(400, f"{param} is empty", code="invalid_value", param=param)
        n = len(await prompts.tokenize(engine, line, limit=limit, param=param))
        if n > capacity:
            raise APIError(400, f"{param} is {n} tokens; one entry of this session holds at "
                           f"most {max(capacity, 0)}: split it", code="entry_too_long",
                           param=param)


def push_lines(g: Gen2, session: Session, lines: list[str]) -> dict[str, Any]:
    """Queue lines for ingest; a full queue drops its oldest entries. Never waits."""
    session.check_alive()
    if session.ingest_error and not session.window_size:
        raise ContextFullError(session.ingest_error)
    extra = g.extra(session)
    session.ring.extend({"text": line} for line in lines)
    dropped = 0
    while len(session.ring) > session.ring_capacity:
        session.ring.popleft()
        dropped += 1
    c = session.counters
    c.total_enqueued += len(lines)
    c.total_dropped += dropped
    extra.push_dropped += dropped
    session.touch()
    processor = g.server.processors.get(session.id)
    if processor is not None:
        processor.wake()
    return {"pushed": len(lines), "dropped": dropped, "pending": len(session.ring),
            "pending_bytes": pending_bytes(session), "total_pushed": c.total_enqueued,
            "total_dropped": c.total_dropped, "data_version": session.data_version}


async def push(request: Request) -> Response:
    g, session = session_of(request)
    body = await parse(request, Push)
    lines = [body.data] if isinstance(body.data, str) else body.data
    await check_lines(g, session, lines)
    return JSONResponse(push_lines(g, session, lines))


# -- warm ----------------------------------------------------------------------------------


async def warm(request: Request) -> Response:
    g, session = session_of(request)
    body = await parse(request, ChatRequest)
    if has_images(body.messages):
        raise APIError(400, "images cannot be sent on a session turn", code="invalid_value",
                       param="messages")
    tools = [t.model_dump(exclude_none=True) for t in body.tools] if body.tools else None
    rendered = render_chat(request, body.messages, tools)
    tokens = await prompts.tokenize(g.server.require_engine(), rendered,
                                    limit=prompts.char_limit(g.server.config.ctx_size),
                                    param="messages")
    session.check_alive()
    if session.in_use:
        raise APIError(409, f"session {session.id} is busy: a turn is running on it",
                       code="session_busy")
    session.touch()
    with g.request():
        finish, prompt_tokens, cached = await g.server.worker.call(
            g.tracked(warm_turn), g.server.require_engine(), session, tokens)
    c = g.counters
    c.session_warm_turns += 1
    if finish == "warmed":
        c.session_warmed_tokens += prompt_tokens - cached
    session.touch()
    return JSONResponse({"id": f"warm_{uuid.uuid4().hex[:24]}", "object": "session.warm",
                         "session_id": session.id, "finish_reason": finish,
                         "prompt_tokens": prompt_tokens, "cached_tokens": cached,
                         "prefix_cached_tokens": 0, "data_version": session.data_version})


# -- generate --------------------------------------------------------------------------------


def _flash_hit(session: Session, body: GenerateRequest) -> FlashQuery | None:
    if body.stop or body.reasoning_effort or body.chat_template_kwargs:
        return None
    wanted = body.max_tokens or body.max_completion_tokens
    for fq in session.flash.values():
        if fq.query == body.prompt and fresh(session, fq) and (
                wanted is None or wanted == fq.max_tokens):
            return fq
    return None


def _candidate(text: str, candidates: list[str]) -> str | None:
    said = text.strip().lower()
    for candidate in candidates:
        c = candidate.strip().lower()
        if said and c and (c.startswith(said) or said.startswith(c)):
            return candidate
    return None


async def generate(request: Request) -> Response:
    g, session = session_of(request)
    engine = g.server.require_engine()
    body = await parse(request, GenerateRequest)
    if body.ignore_eos:
        raise unsupported("ignore_eos")
    stop = stop_list(body.stop)
    session.check_alive()
    session.touch()
    ident = f"gen_{uuid.uuid4().hex[:24]}"
    head = {"id": ident, "object": "session.generation", "session_id": session.id}
    hit = _flash_hit(session, body)
    if hit is not None:
        g.counters.session_flash_hits += 1
        out = head | {"text": hit.value, "finish_reason": hit.finish_reason,
                      "data_version": hit.data_version,
                      "usage": {"prompt_tokens": 0, "completion_tokens": 0},
                      "flash": True, "flash_id": hit.id, "confidence": hit.confidence or 0.0}
        return _generation(out, body.stream)
    tokens = await prompts.tokenize(engine, body.prompt,
                                    limit=prompts.char_limit(g.server.config.ctx_size),
                                    param="prompt")
    session.check_alive()
    if session.n_tokens + len(tokens) >= session.context:
        raise overflow(session.n_tokens + len(tokens), session.context, "prompt")
    max_tokens = body.max_tokens or body.max_completion_tokens or session.context
    sure_gap = body.gap_threshold if body.fast_answer else None
    held = session.n_tokens

    def finish(result: QueryResult) -> dict[str, Any]:
        gen = result.generation
        n = len(gen.tokens)
        out = head | {"text": gen.text, "finish_reason": "length"
                      if gen.finish_reason == "length" else "stop",
                      "data_version": session.data_version,
                      "usage": {"prompt_tokens": held + len(tokens), "completion_tokens": n,
                                "total_tokens": held + len(tokens) + n,
                                "prompt_tokens_details": {"cached_tokens": held}}}
        c = g.counters
        c.prompt_tokens += held + len(tokens)
        c.generated_tokens += n
        if gen.speculative:
            c.session_ready_exits += 1
            out["text"] = _candidate(gen.text, body.fast_answer) or gen.text
            out["speculative"] = True
            out["logit_gap"] = gen.first_gap
        return out

    if not body.stream:
        with g.request(), InUse(session):
            result = await run_for_client(request, g.server, g.tracked(session.query), engine,
                                          tokens, max_tokens, stop=stop, sure_gap=sure_gap)
        return JSONResponse(finish(result))

    assert g.server.loop is not None
    stream = TokenStream(g.server.loop)

    async def frames() -> AsyncIterator[bytes]:
        try:
            with g.request(), InUse(session):
                future = submit(g.server, g.tracked(session.query), engine, tokens,
                                max_tokens, stop=stop,
                                on_token=stream.on_token, sure_gap=sure_gap)
                async for kind, item in stream.run(future):
                    if kind == "token":
                        if item[1]:
                            yield sse({"text": item[1]})
                        continue
                    done = finish(item)
                    done.pop("text")
                    yield sse({"done": True} | done)
        except APIError as exc:
            yield sse({"error": {"message": exc.message, "type": "invalid_request_error",
                                 "code": exc.code}})
        yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


def _generation(out: dict[str, Any], stream: bool) -> Response:
    if not stream:
        return JSONResponse(out)
    text = out.pop("text")

    async def frames() -> AsyncIterator[bytes]:
        if text:
            yield sse({"text": text})
        yield sse({"done": True} | out)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


# -- flash -----------------------------------------------------------------------------------


def fresh(session: Session, fq: FlashQuery) -> bool:
    """Answered at the session's current data_version (what gen 2 calls fresh)."""
    return fq.has_answer and fq.data_version == session.data_version


def flash_view(session: Session, fq: FlashQuery) -> dict[str, Any]:
    out: dict[str, Any] = {"id": fq.id, "object": "flash_query", "query": fq.query,
                           "max_tokens": fq.max_tokens, "tokens": len(fq.tokens),
                           "fresh": fresh(session, fq)}
    if fq.has_answer:
        out |= {"value": fq.value, "data_version": fq.data_version,
                "confidence": fq.confidence or 0.0, "evaluated_at": int(fq.evaluated_at or 0)}
    return out


async def add_flash(request: Request) -> Response:
    g, session = session_of(request)
    body = await parse(request, Flash)
    if len(session.flash) >= config.GEN2_MAX_FLASH_QUERIES:
        raise APIError(400, f"a session holds at most {config.GEN2_MAX_FLASH_QUERIES} flash "
                       "queries; delete one first", code="flash_query_limit", param="query")
    if any(fq.query == body.query for fq in session.flash.values()):
        raise APIError(409, "this flash query is already registered on the session",
                       code="flash_query_exists", param="query")
    tokens = await prompts.tokenize(g.server.require_engine(), body.query,
                                    limit=prompts.char_limit(g.server.config.ctx_size),
                                    param="query")
    session.check_alive()
    fq = flash.register(session, body.query, tokens, body.max_tokens)
    session.touch()
    processor = g.server.processors.get(session.id)
    if processor is not None and session.data_count:
        processor.wake()  # answer it now rather than after the next push
    return JSONResponse(flash_view(session, fq))


async def list_flash(request: Request) -> Response:
    _, session = session_of(request)
    return JSONResponse({"object": "list",
                         "data": [flash_view(session, fq) for fq in session.flash.values()],
                         "data_version": session.data_version})


async def delete_flash(request: Request) -> Response:
    _, session = session_of(request)
    raw = request.path_params["flash_id"]
    fq = session.flash.pop(int(raw), None) if raw.isdigit() else None
    if fq is None:
        raise not_found("flash query", raw)
    session.touch()
    return JSONResponse({"id": fq.id, "object": "flash_query.deleted", "deleted": True,
                         "remaining": len(session.flash)})


ROUTES = [
    Route("/v1/sessions", create, methods=["POST"]),
    Route("/v1/sessions", list_sessions, methods=["GET"]),
    Route("/v1/sessions/{session_id}", get, methods=["GET"]),
    Route("/v1/sessions/{session_id}", delete, methods=["DELETE"]),
    Route("/v1/sessions/{session_id}/push", push, methods=["POST"]),
    Route("/v1/sessions/{session_id}/warm", warm, methods=["POST"]),
    Route("/v1/sessions/{session_id}/generate", generate, methods=["POST"]),
    Route("/v1/sessions/{session_id}/flash", add_flash, methods=["POST"]),
    Route("/v1/sessions/{session_id}/flash", list_flash, methods=["GET"]),
    Route("/v1/sessions/{session_id}/flash/{flash_id}", delete_flash, methods=["DELETE"]),
]
