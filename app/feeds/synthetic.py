"""Seeded synthetic entries of any stream type, paced: for demos, tests and benchmarks.

What the data looks like is the type's own business (its generator in app.streams):
a random walk for candles, a sensor drifting out of its band, a patient whose heart rate
climbs, a vehicle turning, bursts of events.
"""

from __future__ import annotations

import math
import time
from typing import Any

from app.feeds.base import PacedFeed
from app.streams import registry
from app.streams.ohlcv import random_walk

__all__ = ["SyntheticFeed", "random_walk"]


class SyntheticFeed(PacedFeed):
    """Endless (or `count`-long) entries of `stream` type, `interval` seconds apart.

    Timestamps start at `start` (default: now, aligned down to the interval); `speed`
    paces delivery (one entry per second at speed 1, see app.feeds.base). Same seed, same
    entries. Extra keyword arguments go to the type's generator (`price`, `volatility`
    for candles).
    """

    kind = "synthetic"
    # A generator call per entry would cost Python per entry; blocks amortise it.
    _BLOCK = 256

    def __init__(
        self,
        *,
        stream: str = registry.DEFAULT,
        seed: int = 0,
        interval: float = 60.0,
        speed: float = 1.0,
        start: float | None = None,
        count: int | None = None,
        **params: Any,
    ) -> None:
        super().__init__(speed)
        if not interval > 0:
            raise ValueError(f"interval must be > 0, got {interval!r}")
        self.stream = registry.get(stream)
        self.interval = float(interval)
        self.seed = seed
        if start is None:
            start = math.floor(time.time() / interval) * interval
        self.start = float(start)
        self.params = dict(params)
        self._gen = self.stream.generator(seed=seed, start=float(start), interval=self.interval,
                                          **params)
        self._count = count
        self.total = count
        self._block: list[Any] = []
        self._pos = 0

    def backlog(self, n: int) -> list[Any]:
        """The next `n` entries at once, unpaced (history to start a plot with); the feed
        then continues after them (`count` counts only what it plays afterwards)."""
        return self.skip(n)

    def recipe(self) -> dict[str, Any]:
        return {"kind": self.kind, "stream": self.stream.name, "seed": self.seed,
                "interval": self.interval, "start": self.start, "count": self._count,
                "params": self.params}

    def _next_entry(self) -> Any | None:
        if self._count is not None and self._emitted >= self._count:
            return None
        if self._pos >= len(self._block):
            self._block, self._pos = self._gen.take(self._BLOCK), 0
        entry = self._block[self._pos]
        self._pos += 1
        return entry
