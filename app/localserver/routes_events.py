"""Session events over SSE and WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import ingest
from .entries import validate_entries
from .errors import APIError
from .events import CLOSED_TYPE, until_closed
from .sessions import Session
from .state import ServerState
from .web import SSE_HEADERS, loads_offloop, sse

SSE_TYPES = {"data_updated", "flash_ready"}
WS_TYPES = {"data_updated", "flash_ready", "error", "push_ack", "pong"}
WS_UNKNOWN_SESSION = 4404
WS_INTERNAL_ERROR = 1011
BINARY_FRAME = "binary frames are not supported: send JSON text frames"

log = logging.getLogger("layerscale.localserver")


def _connected(state: ServerState, session: Session) -> dict[str, Any]:
    """flash_queries is the count (the protocol's clients type it as an integer); the
    queries themselves are one GET .../flash away."""
    processor = state.processors.get(session.id)
    return {
        "session_id": session.id,
        "data_version": session.data_version,
        "streaming": processor is not None and not processor.task.done(),
        "flash_queries": len(session.flash),
    }


async def events(request: Request) -> Response:
    state: ServerState = request.app.state.server
    state.require_engine()
    session = state.sessions().get(request.path_params["session_id"])
    queue = session.hub.subscribe()

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield sse({"type": "connected"} | _connected(state, session), event="connected")
            async for event in until_closed(queue):
                if event is None:
                    yield b": keepalive\n\n"
                elif event["type"] in SSE_TYPES:
                    yield sse(event, event=event["type"])
        finally:
            session.hub.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)


def _frame(event: dict[str, Any]) -> str:
    kind = event["type"]
    data = {k: v for k, v in event.items() if k != "type"}
    return json.dumps({"type": kind, "data": data or None})


async def websocket(ws: WebSocket) -> None:
    state: ServerState = ws.app.state.server
    session = state.sessions().find(ws.path_params["session_id"]) if state.ready else None
    await ws.accept()
    if session is None:
        reason = "unknown session" if state.ready else "model still loading"
        await ws.close(WS_UNKNOWN_SESSION if state.ready else 1013, reason)
        return
    queue = session.hub.subscribe()
    # Replies (push_ack, pong, error) are sent by the reader itself, never through the hub's
    # queue: that queue drops its oldest events when a subscriber lags, and an ack must never
    # be dropped (clients match acks to pushes by order). Awaiting the send also gives a
    # client that pushes faster than we answer TCP backpressure instead of an overflow.
    send_lock = asyncio.Lock()
    writer: asyncio.Task[None] | None = None
    try:
        # "connected" goes out before the writer starts, so it is always the first frame.
        await ws.send_text(json.dumps({"type": "connected", "data": _connected(state, session)}))
        writer = asyncio.create_task(write_events(
            ws, queue, send_lock, lambda e: _frame(e) if e["type"] in WS_TYPES else None))
        async for text in received(ws):
            if text is None:
                reply = _error(400, BINARY_FRAME, "binary_frame")
            else:
                reply = await _handle(state, session, text)
            if reply is not None:
                async with send_lock:
                    await ws.send_text(_frame(reply))
    except (WebSocketDisconnect, RuntimeError):
        pass  # the peer went away (RuntimeError: a send after the close)
    except Exception:
        # A socket that must close says why: 1011 with a reason, never a bare drop.
        log.exception("websocket of %s failed", session.id)
        async with send_lock:
            with contextlib.suppress(Exception):
                await ws.close(WS_INTERNAL_ERROR, "internal server error")
    finally:
        await hang_up(session, queue, writer)


async def received(ws: WebSocket) -> AsyncIterator[str | None]:
    """A socket's frames until the peer disconnects: the text, or None for a binary frame."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        yield message.get("text")


async def hang_up(session: Session, queue: asyncio.Queue[dict[str, Any]],
                  writer: asyncio.Task[None] | None) -> None:
    """A socket's end: off the session's hub, and its writer task stopped."""
    session.hub.unsubscribe(queue)
    if writer is not None:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


def _error(status: int, message: str, code: str | None) -> dict[str, Any]:
    """An error frame: `code` is an integer (HTTP-style status: the protocol's clients
    type it so), the protocol's string code goes along as error_code."""
    return {"type": "error", "message": message, "code": status, "error_code": code}


async def read_frame(text: str) -> Any:
    """A text frame's JSON; an unreadable one is a 400 that says "frame", not "body"."""
    try:
        return await loads_offloop(text)
    except APIError as exc:
        exc.message = f"frame: {exc.message.removeprefix('request body ')}"
        raise


def unknown_type(kind: object) -> str:
    """The error message for a frame type the server does not know (a long or non-string
    type is named by its Python type, not echoed)."""
    shown = kind if isinstance(kind, str) and len(kind) <= 64 else type(kind).__name__
    return f"unknown frame type {shown!r}"


async def _handle(state: ServerState, session: Session, text: str) -> dict[str, Any] | None:
    try:
        message = await read_frame(text)
    except APIError as exc:
        return _error(exc.status, exc.message, exc.code)
    if not isinstance(message, dict):
        return _error(400, "frame must be a JSON object", "invalid_frame")
    kind = message.get("type")
    if kind == "ping":
        return {"type": "pong"}
    if kind == "push":
        try:
            entries = validate_entries(session.type, message.get("data"))
            result = ingest.push(state, session, entries)
        except APIError as exc:
            return _error(exc.status, exc.message, exc.code)
        return {"type": "push_ack", "pushed": result["pushed"], "dropped": result["dropped"],
                "queue_size": result["queue_size"]}
    return _error(400, unknown_type(kind), "unknown_type")


async def write_events(ws: WebSocket, queue: asyncio.Queue[dict[str, Any]],
                       send_lock: asyncio.Lock, frame: Callable[[dict[str, Any]], str | None],
                       *, bare_close: bool = False) -> None:
    """A socket's writer task: each hub event the generation has a frame for (`frame`
    gives None for the rest), sent under the lock the reader's replies take too. When the
    hub closes the session's streams, the socket closes with the hub's code and reason
    (gen 1) or bare (gen 2: `bare_close`)."""
    try:
        while True:
            event = await queue.get()
            async with send_lock:
                if event["type"] == CLOSED_TYPE:
                    if bare_close:
                        await ws.close()
                    else:
                        await ws.close(event["code"], event["reason"])
                    return
                text = frame(event)
                if text is not None:
                    await ws.send_text(text)
    except (WebSocketDisconnect, RuntimeError):
        return


ROUTES = [
    Route("/v1/sessions/{session_id}/events", events, methods=["GET"]),
    WebSocketRoute("/v1/sessions/{session_id}/ws", websocket),
]
