"""The Feed protocol and the pacing every feed shares (asyncio, no Qt).

A feed yields entries of one stream type (candles, sensor readings, ...): whatever that
type's store and `to_wire` take (app.streams). Pacing rule: a feed emits one entry every
`base_period / speed` seconds of wall time (base_period is 1 s unless a feed says
otherwise), so `speed=1` is one entry per second and `speed=10` ten per second, whatever
the interval in the data.  `speed=math.inf` emits as fast as the consumer reads.
The first entry comes at once; a change of speed or a pause takes effect
immediately, also in the middle of a wait.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

from app.streams.base import StreamType

__all__ = ["Feed", "PacedFeed"]


@runtime_checkable
class Feed(Protocol):
    """An async iterator of entries of one stream type, paced by `speed`, that can be paused."""

    speed: float
    stream: type[StreamType]
    kind: str  # "synthetic", "csv": what a view names the source
    total: int | None  # entries it will play, when known
    problems: list[Any]  # rows it skipped, each with `line` and `message`

    @property
    def paused(self) -> bool: ...

    @property
    def done(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self) -> None: ...

    def __aiter__(self) -> Feed: ...

    async def __anext__(self) -> Any: ...


class PacedFeed(ABC):
    """Base class: pacing, pause/resume and stop around `_next_entry()`."""

    kind = "feed"
    stream: type[StreamType]
    total: int | None = None
    problems: list[Any] = []  # noqa: RUF012 - never mutated; a feed that skips rows sets its own

    def __init__(self, speed: float = 1.0, *, base_period: float = 1.0) -> None:
        if not base_period > 0:
            raise ValueError(f"base_period must be > 0, got {base_period!r}")
        self._base_period = float(base_period)
        self._speed = 1.0
        self.speed = speed
        self._paused = False
        self._done = False
        self._next_due: float | None = None
        # Set on pause/resume/speed change/stop so a pending wait re-plans at once.
        self._wake = asyncio.Event()
        self._emitted = 0
        self._skipped = 0
        self._waiting = False

    # ------------------------------------------------------------------ control
    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        value = float(value)
        if not value > 0 or math.isnan(value):
            raise ValueError(f"speed must be > 0 (math.inf for unpaced), got {value!r}")
        old = getattr(self, "_speed", value)
        self._speed = value
        due = getattr(self, "_next_due", None)
        if due is not None and old != value and math.isfinite(old):
            # Re-plan the pending wait from now at the new pace.
            now = _now()
            remaining = max(0.0, due - now)
            self._next_due = now + remaining * (old / value if math.isfinite(value) else 0.0)
        wake = getattr(self, "_wake", None)
        if wake is not None:
            wake.set()

    @property
    def period(self) -> float:
        """Wall seconds between two entries at the current speed."""
        return self._base_period / self._speed if math.isfinite(self._speed) else 0.0

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def done(self) -> bool:
        return self._done

    @property
    def waiting(self) -> bool:
        """True while a consumer is waiting for the next entry's turn (or a resume)."""
        return self._waiting

    @property
    def emitted(self) -> int:
        """Entries handed out so far."""
        return self._emitted

    def pause(self) -> None:
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            # After a pause the next entry comes at once, not in a catch-up burst.
            self._next_due = None
            self._wake.set()

    def stop(self) -> None:
        """End the feed: the iteration finishes at its next step."""
        self._done = True
        self._wake.set()

    # ---------------------------------------------------------------- iteration
    def __aiter__(self) -> PacedFeed:
        return self

    async def __anext__(self) -> Any:
        self._waiting = True
        try:
            await self._wait_turn()
        finally:
            self._waiting = False
        if self._done:
            raise StopAsyncIteration
        entry = self._next_entry()
        if entry is None:
            self._done = True
            raise StopAsyncIteration
        self._emitted += 1
        now = _now()
        period = self.period
        due = self._next_due if self._next_due is not None else now
        # A consumer that fell behind by more than a period restarts the
        # schedule from now rather than receiving a burst of entries.
        self._next_due = due + period if now - due <= period else now + period
        return entry

    async def _wait_turn(self) -> None:
        while not self._done:
            if self._paused:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = 0.0 if self._next_due is None else self._next_due - _now()
            if delay <= 0:
                # Unpaced feeds still yield so they never starve the loop.
                await asyncio.sleep(0)
                if self._paused:
                    continue
                return
            # A timer sets the same event a pause/resume/speed change sets.  Not
            # asyncio.wait_for: cancelling a task inside wait_for waits for the
            # inner future's own cancellation, which hung shutdown under qasync;
            # cancelling a plain Event.wait() ends at once.
            self._wake.clear()
            timer = asyncio.get_running_loop().call_later(delay, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    def skip(self, n: int) -> list[Any]:
        """Take the next `n` entries at once, unpaced (history to start with, or what a
        resumed feed already delivered); the feed then continues after them."""
        out = []
        while len(out) < n:
            entry = self._next_entry()
            if entry is None:
                break
            out.append(entry)
        self._skipped += len(out)
        return out

    @property
    def taken(self) -> int:
        """Entries taken from the source so far, paced or skipped."""
        return self._emitted + self._skipped

    def recipe(self) -> dict[str, Any] | None:
        """How to build this feed again from its start (app.feeds.resume), or None."""
        return None

    @abstractmethod
    def _next_entry(self) -> Any | None:
        """The next entry, or None when the feed has no more."""


def _now() -> float:
    return time.monotonic()
