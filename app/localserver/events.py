"""Per-session event fan-out to SSE and WebSocket subscribers.

Publishing may happen on the model worker thread; delivery always happens on the event
loop (call_soon_threadsafe), into one bounded queue per subscriber. A subscriber that
falls too far behind loses its oldest events rather than stalling the processor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from . import config

SUBSCRIBER_QUEUE = 1000
CLOSED_TYPE = "__closed__"
SESSION_GONE = 4404
GOING_AWAY = 1001


class EventHub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def publish(self, event: dict[str, Any]) -> None:
        """Thread-safe: callable from the model worker."""
        self._loop.call_soon_threadsafe(self._deliver, event)

    def close(self, code: int = SESSION_GONE, reason: str = "session deleted") -> None:
        """End every subscriber's stream; a WebSocket closes with `code`."""
        self._loop.call_soon_threadsafe(
            self._deliver, {"type": CLOSED_TYPE, "code": code, "reason": reason})

    def _deliver(self, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)


async def until_closed(queue: asyncio.Queue[dict[str, Any]]
                       ) -> AsyncIterator[dict[str, Any] | None]:
    """A subscriber's events until the hub closes its streams; None after each
    KEEPALIVE_SECONDS of silence (an SSE stream then writes its keep-alive comment)."""
    while True:
        try:
            event = await asyncio.wait_for(queue.get(), config.KEEPALIVE_SECONDS)
        except TimeoutError:
            yield None
            continue
        if event["type"] == CLOSED_TYPE:
            return
        yield event
