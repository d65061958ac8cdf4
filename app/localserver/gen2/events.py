"""Session events of generation 2: SSE (dialect B: the name only on the `event:` line, cached
answers replayed after `connected`, `: heartbeat` after 15 s of silence) and the WebSocket
(raw-text pushes; every push_ack goes out before any event the push causes).

Both read gen 1's per-session EventHub and translate its events into gen 2's payloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import APIError
from ..events import until_closed
from ..routes_events import (
    BINARY_FRAME,
    hang_up,
    read_frame,
    received,
    unknown_type,
    write_events,
)
from ..sessions import FlashQuery, Session
from ..web import SSE_HEADERS, sse
from .errors import openai_body, status_of
from .schemas import SESSION_ID_PATTERN
from .sessions import check_lines, push_lines
from .state import Gen2, gen2_of, session_of

log = logging.getLogger("layerscale.localserver")
HEARTBEAT = b": heartbeat\n\n"


def connected(session: Session) -> dict[str, Any]:
    return {"session_id": session.id, "data_version": session.data_version,
            "flash_queries": len(session.flash)}


def answer(fq: FlashQuery) -> dict[str, Any]:
    return {"id": fq.id, "query": fq.query, "value": fq.value,
            "data_version": fq.data_version, "confidence": fq.confidence or 0.0}


def translate(session: Session, event: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A gen-1 hub event as (gen-2 name, payload), or None if gen 2 has no such event."""
    kind = event.get("type")
    if kind == "data_updated":
        return kind, {"data_version": event["data_version"], "tokens": event["pos_next"],
                      "pending": len(session.ring)}
    if kind == "flash_ready":
        return kind, {k: event[k] for k in ("id", "query", "value", "data_version",
                                            "confidence")}
    if kind == "error":
        return kind, {"message": event.get("message") or "error",
                      "code": int(event.get("code") or 400)}
    return None


class _Watch:
    """An open stream or socket: counted, and holding off the session's expiry."""

    def __init__(self, g: Gen2, session: Session) -> None:
        self.g, self.session = g, session

    def __enter__(self) -> None:
        self.g.extra(self.session).subscribers += 1
        self.g.counters.connections += 1

    def __exit__(self, *_exc: object) -> None:
        self.g.extra(self.session).subscribers -= 1
        self.g.counters.connections -= 1
        self.session.touch()


async def events(request: Request) -> Response:
    g, session = session_of(request)
    session.touch()

    async def stream() -> AsyncIterator[bytes]:
        queue = session.hub.subscribe()
        try:
            with _Watch(g, session):
                yield sse(connected(session), event="connected")
                for fq in list(session.flash.values()):
                    if fq.has_answer:
                        yield sse(answer(fq), event="flash_ready")
                async for event in until_closed(queue):
                    if event is None:
                        yield HEARTBEAT
                        continue
                    found = translate(session, event)
                    if found is not None and found[0] != "error":
                        yield sse(found[1], event=found[0])
        finally:
            session.hub.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)


def _frame(kind: str, data: Any) -> str:
    return json.dumps({"type": kind, "data": data})


def _error(exc: APIError) -> str:
    return _frame("error", {"message": exc.message, "code": status_of(exc.status)})


async def _refuse(ws: WebSocket, status: int, message: str, code: str) -> None:
    """A refused upgrade: plain HTTP with the OpenAI envelope, never a handshake."""
    await ws.send_denial_response(JSONResponse(openai_body(status, message, code),
                                               status_code=status))


async def websocket(ws: WebSocket) -> None:
    g = gen2_of(ws)
    sid = ws.path_params["session_id"]
    if not re.fullmatch(SESSION_ID_PATTERN, sid):
        await _refuse(ws, 400, "malformed session id in the path", "invalid_path")
        return
    if not g.server.ready:
        await _refuse(ws, 503, "the model is still loading", "model_loading")
        return
    session = g.server.sessions().find(sid)
    if session is None:
        await _refuse(ws, 404, f"session {sid} not found", "session_not_found")
        return
    await ws.accept()
    session.touch()
    queue = session.hub.subscribe()
    send_lock = asyncio.Lock()
    writer: asyncio.Task[None] | None = None
    try:
        with _Watch(g, session):
            await ws.send_text(_frame("connected", connected(session)))
            writer = asyncio.create_task(write_events(
                ws, queue, send_lock, lambda e: _event_frame(session, e), bare_close=True))
            async for text in received(ws):
                if text is None:
                    async with send_lock:
                        await ws.send_text(_error(APIError(400, BINARY_FRAME)))
                    continue
                if await _handle(ws, g, session, text, send_lock) == "close":
                    async with send_lock:
                        await ws.close()
                    break
    except (WebSocketDisconnect, RuntimeError):
        pass  # the peer went away (RuntimeError: a send after the close)
    except Exception:
        log.exception("websocket of %s failed", session.id)
        with contextlib.suppress(Exception):
            await ws.close(1011)
    finally:
        await hang_up(session, queue, writer)


async def _handle(ws: WebSocket, g: Gen2, session: Session, text: str,
                  send_lock: asyncio.Lock) -> str | None:
    try:
        message = await read_frame(text)
    except APIError as exc:
        async with send_lock:
            await ws.send_text(_error(exc))
        return None
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "close":
        return "close"
    async with send_lock:
        # Under the lock: the writer cannot send an event this push causes before its ack.
        if kind == "ping":
            await ws.send_text(_frame("pong", None))
        elif kind == "push":
            data = message.get("data")
            lines = [data] if isinstance(data, str) else data
            try:
                if not isinstance(lines, list) or not lines or not all(
                        isinstance(x, str) for x in lines):
                    raise APIError(400, "push data must be a string or a non-empty array of "
                                   "strings", code="invalid_value", param="data")
                session.touch()
                await check_lines(g, session, lines)
                ack = push_lines(g, session, lines)
            except APIError as exc:
                await ws.send_text(_error(exc))
            else:
                ack.pop("pending_bytes")
                await ws.send_text(_frame("push_ack", ack))
        else:
            await ws.send_text(_error(APIError(400, unknown_type(kind))))
    return None


def _event_frame(session: Session, event: dict[str, Any]) -> str | None:
    found = translate(session, event)
    return None if found is None else _frame(*found)


ROUTES = [
    Route("/v1/sessions/{session_id}/events", events, methods=["GET"]),
    WebSocketRoute("/v1/sessions/{session_id}/ws", websocket),
]
