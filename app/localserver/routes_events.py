"""Session events over SSE and WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import config, ingest
from .entries import validate_entries
from .errors import APIError
from .events import CLOSED_TYPE
from .sessions import Session
from .state import ServerState
from .web import SSE_HEADERS, sse

SSE_TYPES = {"data_updated", "flash_ready"}
WS_TYPES = {"data_updated", "flash_ready", "error", "push_ack", "pong"}
WS_UNKNOWN_SESSION = 4404


def _connected(state: ServerState, session: Session) -> dict[str, Any]:
    processor = state.processors.get(session.id)
    return {
        "session_id": session.id,
        "data_version": session.data_version,
        "streaming": processor is not None and not processor.task.done(),
        "flash_queries": [fq.public() for fq in session.flash.values()],
    }


async def events(request: Request) -> Response:
    state: ServerState = request.app.state.server
    state.require_engine()
    session = state.sessions().get(request.path_params["session_id"])
    queue = session.hub.subscribe()

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield sse({"type": "connected"} | _connected(state, session), event="connected")
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), config.KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if event["type"] == CLOSED_TYPE:
                    return
                if event["type"] in SSE_TYPES:
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
        writer = asyncio.create_task(_write(ws, queue, send_lock))
        while True:
            text = await ws.receive_text()
            reply = _handle(state, session, text)
            if reply is not None:
                async with send_lock:
                    await ws.send_text(_frame(reply))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        session.hub.unsubscribe(queue)
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer


def _handle(state: ServerState, session: Session, text: str) -> dict[str, Any] | None:
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return {"type": "error", "message": "frame is not valid JSON", "code": "invalid_json"}
    if not isinstance(message, dict):
        return {"type": "error", "message": "frame must be a JSON object",
                "code": "invalid_frame"}
    kind = message.get("type")
    if kind == "ping":
        return {"type": "pong"}
    if kind == "push":
        try:
            entries = validate_entries(session.type, message.get("data"))
            result = ingest.push(state, session, entries)
        except APIError as exc:
            return {"type": "error", "message": exc.message, "code": exc.code}
        return {"type": "push_ack", "pushed": result["pushed"], "dropped": result["dropped"],
                "queue_size": result["queue_size"]}
    return {"type": "error", "message": f"unknown frame type {kind!r}",
            "code": "unknown_type"}


async def _write(ws: WebSocket, queue: asyncio.Queue[dict[str, Any]],
                 send_lock: asyncio.Lock) -> None:
    try:
        while True:
            event = await queue.get()
            async with send_lock:
                if event["type"] == CLOSED_TYPE:
                    await ws.close(event["code"], event["reason"])
                    return
                if event["type"] in WS_TYPES:
                    await ws.send_text(_frame(event))
    except (WebSocketDisconnect, RuntimeError):
        return


ROUTES = [
    Route("/v1/sessions/{session_id}/events", events, methods=["GET"]),
    WebSocketRoute("/v1/sessions/{session_id}/ws", websocket),
]
