"""The generation-2 session WebSocket: raw-text pushes, ordered acks, a polite close.

Differences from generation 1 (app.api.ws), each kept here:
- a push carries text: ``{"type": "push", "data": "text" | ["line", ...]}``;
- every accepted push is answered by exactly one ``push_ack``, always before any event
  it causes, so acks match pushes by order; one that matches no push is a ProtocolError;
- the server drops the socket, unread and without an ``error`` event, for an inbound
  frame over 16 MiB, so a push that would encode larger is refused here, before sending
  (PayloadTooLargeError; nothing is sent and the socket stays up);
- a graceful close sends ``{"type": "close"}`` just before the close frame;
- the server ends with a bare close frame (no code, seen as 1005): a normal end.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import Any, ClassVar, Final

from websockets.exceptions import ConnectionClosed

from app.api.errors import PayloadTooLargeError, ProtocolError
from app.api.frames import parse_ws_frame
from app.api.models import PushAckEvent, SessionEvent
from app.api.ws import SessionSocket

MAX_FRAME_BYTES: Final = 16 * 1024 * 1024
_NORMAL_CLOSE: Final = frozenset({1000, 1001, 1005})


def push_frame(data: str | Iterable[str]) -> str:
    """The JSON text of one push; a list must be non-empty strings."""
    if isinstance(data, str):
        payload: str | list[str] = data
    else:
        payload = list(data)
        if not payload:
            raise ValueError("a push needs at least one line")
        if not all(isinstance(line, str) for line in payload):
            raise TypeError("generation-2 pushes are text: every item must be a str")
    return json.dumps({"type": "push", "data": payload}, separators=(",", ":"),
                      ensure_ascii=False)


def split_lines(lines: list[str], limit: int = MAX_FRAME_BYTES) -> list[list[str]]:
    """Split lines into pushes whose frames each fit ``limit`` bytes, order kept.

    A single line too large for a frame on its own raises PayloadTooLargeError.
    """
    batches: list[list[str]] = []
    current: list[str] = []
    size = len(push_frame(["x"]).encode()) - 3  # the envelope without its one item
    used = size
    for line in lines:
        cost = len(json.dumps(line, ensure_ascii=False).encode()) + 1
        if size + cost > limit:
            raise PayloadTooLargeError(
                f"one line of {cost} bytes cannot fit a {limit}-byte WebSocket frame")
        if current and used + cost > limit:
            batches.append(current)
            current, used = [], size
        current.append(line)
        used += cost
    if current:
        batches.append(current)
    return batches


class Gen2SessionSocket(SessionSocket):
    """``async with client.v2.sessions.stream(id) as ws``: push text, iterate typed events.

    Yields the same event models as generation 1 (ConnectedEvent, PushAckEvent, ...).
    ``awaiting_acks`` counts pushes sent whose ``push_ack`` has not arrived.
    """

    normal_close_codes: ClassVar[frozenset[int]] = _NORMAL_CLOSE

    def __init__(self, *args: Any, max_frame: int = MAX_FRAME_BYTES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_frame = max_frame
        self.awaiting_acks = 0

    async def push(self, entries: str | Iterable[str]) -> None:  # type: ignore[override]
        """Send one push of text; PayloadTooLargeError (nothing sent) above 16 MiB."""
        frame = push_frame(entries)
        size = len(frame.encode())
        if size > self.max_frame:
            raise PayloadTooLargeError(
                f"push of {size} bytes exceeds the server's {self.max_frame}-byte frame "
                "limit (it would drop the socket): split it (app.api.gen2_ws.split_lines)")
        ws = self._require()
        try:
            await ws.send(frame)
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from None
        self.awaiting_acks += 1

    async def recv(self) -> SessionEvent:
        event = parse_ws_frame(await self._recv_frame())
        if isinstance(event, PushAckEvent):
            if self.awaiting_acks == 0:
                raise ProtocolError("push_ack for no push sent on this socket", body=event)
            self.awaiting_acks -= 1
        return event

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Graceful close: ``{"type": "close"}`` first, then the close frame (idempotent)."""
        if self._ws is not None and self.is_open:
            # Already going: the close below just records it.
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(json.dumps({"type": "close"}))
        await super().close(code, reason)


__all__ = ["MAX_FRAME_BYTES", "Gen2SessionSocket", "push_frame", "split_lines"]
