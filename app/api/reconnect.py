"""A session WebSocket that survives drops: :class:`ReconnectingSessionStream`.

    stream = client.sessions.reconnecting_stream(session_id, on_state=callback)
    async with stream:                    # runs the connect/reconnect loop in a task
        async for event in stream: ...    # typed events across reconnects
        await stream.push(entries)        # APIConnectionError when not open

Rules it keeps:
- capped exponential backoff + jitter between attempts (reset after a connection
  that opened);
- a dead peer is found by WebSocket ping timeout;
- nothing is ever re-sent: a push either goes out on the open socket or raises;
- every state change goes to ``on_state(LinkState)`` with reason and ``retry_in``;
- server ``error`` frames are yielded as :class:`ErrorEvent`; a frame that cannot be
  parsed is yielded as ``ErrorEvent(code="protocol_error")`` instead of killing the link;
- close 4401/4403/4404 or upgrade 401/403/404 stop it for good (``final_error``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from app.api.backoff import Backoff
from app.api.errors import (
    APIConnectionError,
    AuthenticationError,
    LayerScaleError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
)
from app.api.models import ErrorEvent, SessionEvent
from app.api.ws import TERMINAL_CLOSE_CODES, TERMINAL_UPGRADE_STATUSES, SessionSocket, SocketOptions

log = logging.getLogger("app.api.reconnect")

LinkStatus = Literal["connecting", "open", "reconnecting", "closed"]


@dataclass(frozen=True, slots=True)
class LinkState:
    """One state of the link.

    ``attempt`` counts connection attempts since the last successful open (1 = first);
    ``retry_in`` is set while ``reconnecting``: seconds until the next attempt.
    """

    status: LinkStatus
    reason: str | None = None
    retry_in: float | None = None
    attempt: int = 0


_END = object()


class ReconnectingSessionStream:
    """Long-lived session socket with automatic, observable reconnection."""

    def __init__(
        self,
        socket_factory: Callable[[], SessionSocket],
        *,
        on_state: Callable[[LinkState], Any] | None = None,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """
        Args:
            socket_factory: builds a fresh, unconnected :class:`SessionSocket`.
            on_state: called (synchronously, on the event loop) on every state change;
                exceptions it raises are logged and ignored.
            backoff: delays between attempts (default 0.5 s doubling, capped at 30 s).
            max_attempts: give up (status ``closed``) after this many consecutive failed
                attempts; ``None`` retries forever.
        """
        self._factory = socket_factory
        self._on_state = on_state
        self.backoff = backoff or Backoff(base=0.5, cap=30.0)
        self.max_attempts = max_attempts
        self._rng = rng or random.Random()
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._socket: SessionSocket | None = None
        self._task: asyncio.Task[None] | None = None
        self._state = LinkState("closed", "not started")
        self._opened = asyncio.Event()
        self._done = False
        self.final_error: LayerScaleError | None = None

    def __repr__(self) -> str:
        s = self._state
        return f"ReconnectingSessionStream(status={s.status!r}, reason={s.reason!r})"

    # -- public ----------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def is_open(self) -> bool:
        return self._state.status == "open" and self._socket is not None and self._socket.is_open

    def start(self) -> None:
        """Start the connect loop (``async with`` does this)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="layerscale-reconnecting-stream"
            )

    async def wait_open(self, timeout: float | None = None) -> None:
        """Wait until the link is open (raises ``final_error`` if it closed for good)."""
        async with asyncio.timeout(timeout):
            while not self.is_open:
                if self._done:
                    raise self.final_error or APIConnectionError("stream closed")
                self._opened.clear()
                waiter = asyncio.ensure_future(self._opened.wait())
                try:
                    await waiter
                finally:
                    waiter.cancel()

    async def push(self, entries: Iterable[Any]) -> None:
        """Send entries on the open socket; raises APIConnectionError when not open.

        Never queued, never re-sent: if the link drops mid-send the caller decides.
        """
        socket = self._socket
        if socket is None or not self.is_open:
            raise APIConnectionError(f"session stream is {self._state.status}, not open")
        await socket.push(entries)

    async def ping(self) -> None:
        socket = self._socket
        if socket is None or not self.is_open:
            raise APIConnectionError(f"session stream is {self._state.status}, not open")
        await socket.ping()

    async def close(self) -> None:
        """Stop for good (idempotent); iteration ends after the events already received."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) and current.cancelling():
                    raise
        if not self._done:
            await self._finish("closed by client", None)

    async def __aenter__(self) -> ReconnectingSessionStream:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> ReconnectingSessionStream:
        return self

    async def __anext__(self) -> SessionEvent:
        if self._task is None and not self._done and self._events.empty():
            self.start()
        item = await self._events.get()
        if item is _END:
            self._events.put_nowait(_END)  # later readers end too
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    # -- the loop --------------------------------------------------------------------

    def _set_state(self, state: LinkState) -> None:
        if state == self._state:
            return
        self._state = state
        log.debug("link state %s (%s)", state.status, state.reason)
        if state.status in ("open", "closed"):
            self._opened.set()
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("on_state callback failed")

    async def _run(self) -> None:
        failures = 0  # consecutive failed attempts since the last open
        reason: str | None = None
        try:
            while True:
                self._set_state(LinkState("connecting", reason, None, failures + 1))
                socket = self._factory()
                try:
                    await socket.connect()
                except LayerScaleError as exc:
                    if _is_terminal(exc):
                        await self._finish(_terminal_reason(exc), exc)
                        return
                    failures += 1
                    reason = f"connect failed: {exc}"
                else:
                    self._socket = socket
                    failures = 0
                    self._set_state(LinkState("open", None, None, 1))
                    stop = await self._pump(socket)
                    self._socket = None
                    if stop is not None:
                        await self._finish(_terminal_reason(stop), stop)
                        return
                    reason = _drop_reason(socket)
                if self.max_attempts is not None and failures >= self.max_attempts:
                    await self._finish(f"gave up after {failures} attempts: {reason}", None)
                    return
                delay = self.backoff.delay(failures, self._rng)
                self._set_state(LinkState("reconnecting", reason, delay, failures + 1))
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            socket, self._socket = self._socket, None
            if socket is not None:
                await asyncio.shield(socket.close())
            raise
        except Exception as exc:  # a bug or bad configuration: end visibly, never hang readers
            log.exception("session stream loop failed")
            await self._finish(
                f"stopped: {type(exc).__name__}: {exc}",
                LayerScaleError(f"session stream failed: {type(exc).__name__}: {exc}"),
            )

    async def _pump(self, socket: SessionSocket) -> LayerScaleError | None:
        """Forward events until the socket ends; return an error if it ended for good."""
        while True:
            try:
                event = await socket.recv()
            except StopAsyncIteration:
                return None
            except ProtocolError as exc:
                self._events.put_nowait(ErrorEvent(message=str(exc), code="protocol_error"))
                continue
            except LayerScaleError as exc:
                return exc if _is_terminal(exc) else None
            self._events.put_nowait(event)

    async def _finish(self, reason: str, error: LayerScaleError | None) -> None:
        if self._done:
            return
        self._done = True
        self.final_error = error
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close()
        self._set_state(LinkState("closed", reason, None, self._state.attempt))
        self._events.put_nowait(_END)


def _is_terminal(exc: LayerScaleError) -> bool:
    if exc.status in TERMINAL_CLOSE_CODES or exc.status in TERMINAL_UPGRADE_STATUSES:
        return isinstance(exc, AuthenticationError | PermissionDeniedError | NotFoundError)
    return False


def _terminal_reason(exc: LayerScaleError) -> str:
    kind = {
        AuthenticationError: "authentication failed",
        PermissionDeniedError: "permission denied",
        NotFoundError: "session not found",
    }.get(type(exc), "stopped")
    return f"{kind}: {exc}"


def _drop_reason(socket: SessionSocket) -> str:
    code, why = socket.close_code, socket.close_reason
    return f"connection closed ({code}{': ' + why if why else ''})"


__all__ = ["LinkState", "LinkStatus", "ReconnectingSessionStream", "SocketOptions"]
