"""Session events over SSE that come back by themselves: :class:`ReconnectingEvents`.

    events = (await client.surface()).reconnecting_events(session_id, on_state=print)
    async for event in events: ...        # typed events across resubscriptions

The server ends an event stream when it shuts down or the subscriber lags too far
(generation 2), or the connection breaks; a new subscription starts again with
``connected`` (and, on generation 2, the cached answers replayed), so nothing needs
remembering here. Rules, as the WebSocket's (app.api.reconnect): capped backoff with
jitter between attempts, reset after a subscription that opened; every state change to
``on_state``; 401/403/404 (key refused, session gone) end it for good (``final_error``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from app.api.backoff import Backoff
from app.api.errors import (
    AuthenticationError,
    LayerScaleError,
    NotFoundError,
    PermissionDeniedError,
)
from app.api.models import SessionEvent
from app.api.reconnect import LinkState
from app.api.streams import Stream

log = logging.getLogger("app.api.reconnect")

_TERMINAL = (AuthenticationError, PermissionDeniedError, NotFoundError)


class ReconnectingEvents:
    """``async for event in ReconnectingEvents(open_stream)``; ends only for good."""

    def __init__(self, open_stream: Callable[[], Stream[SessionEvent]], *,
                 on_state: Callable[[LinkState], Any] | None = None,
                 backoff: Backoff | None = None, max_attempts: int | None = None,
                 rng: random.Random | None = None) -> None:
        self._open = open_stream
        self._on_state = on_state
        self.backoff = backoff or Backoff(base=0.5, cap=30.0)
        self.max_attempts = max_attempts
        self._rng = rng or random.Random()
        self.state = LinkState("closed", "not started")
        self.final_error: LayerScaleError | None = None
        self.subscriptions = 0  # how many streams opened (1 + resubscriptions)

    def _set(self, state: LinkState) -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("on_state callback failed")

    def __aiter__(self) -> AsyncIterator[SessionEvent]:
        return self._run()

    async def _run(self) -> AsyncIterator[SessionEvent]:
        failures = 0
        reason: str | None = None
        while True:
            self._set(LinkState("connecting", reason, None, failures + 1))
            stream = self._open()
            try:
                async for event in stream:
                    if self.state.status != "open":
                        self.subscriptions += 1
                        failures = 0
                        self._set(LinkState("open", None, None, 1))
                    yield event
                reason = "the server ended the event stream"
                if self.state.status != "open":
                    failures += 1
            except _TERMINAL as exc:
                self.final_error = exc
                self._set(LinkState("closed", str(exc), None, failures + 1))
                return
            except LayerScaleError as exc:  # broken connection, bad frame, 5xx...
                failures += 1
                reason = str(exc)
            finally:
                await stream.aclose()
            if self.max_attempts is not None and failures >= self.max_attempts:
                self._set(LinkState("closed", f"gave up after {failures} attempts: {reason}",
                                    None, failures))
                return
            delay = self.backoff.delay(failures, self._rng)
            self._set(LinkState("reconnecting", reason, delay, failures + 1))
            await asyncio.sleep(delay)  # the backoff between attempts


__all__ = ["ReconnectingEvents"]
