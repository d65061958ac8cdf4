"""A seeded random-walk OHLCV feed for demos, tests and benchmarks."""

from __future__ import annotations

import math
import time

import numpy as np

from app.core.candles import Candle
from app.feeds.base import PacedFeed

__all__ = ["SyntheticFeed", "random_walk"]


def random_walk(
    n: int,
    *,
    seed: int | tuple[int, ...] = 0,
    start: float = 1_700_000_000.0,
    interval: float = 60.0,
    price: float = 100.0,
    volatility: float = 0.002,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`n` candles as (t, o, h, l, c, v) columns.

    Log-returns with slowly drifting volatility (calm and busy stretches, as
    in real markets); each bar opens at the previous close, wicks reach past
    the body by a random fraction of the bar's volatility, and volume grows
    with the size of the move.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n!r}")
    if n == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), empty.copy(), empty.copy(), empty.copy(), empty.copy()
    rng = np.random.default_rng(list(seed) if isinstance(seed, tuple) else seed)
    # Volatility regime: a smoothed random walk of the log-vol, clipped.  The
    # window never exceeds n: mode="same" returns max(n, window) samples.
    regime = np.cumsum(rng.normal(0.0, 0.05, n))
    window = min(64, n)
    regime -= np.convolve(regime, np.ones(window) / window, mode="same")
    sigma = volatility * np.exp(np.clip(regime, -1.0, 1.5))
    returns = rng.normal(0.0, 1.0, n) * sigma
    close = price * np.exp(np.cumsum(returns))
    open_ = np.empty(n)
    open_[0] = price
    open_[1:] = close[:-1]
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(rng.normal(0.0, 0.6, n)) * sigma)
    low = bottom * np.exp(-np.abs(rng.normal(0.0, 0.6, n)) * sigma)
    move = np.abs(returns) / np.maximum(sigma, 1e-12)
    volume = np.round(1000.0 * (0.5 + move) * rng.lognormal(0.0, 0.4, n), 2)
    t = start + interval * np.arange(n, dtype=np.float64)
    return t, open_, high, low, close, volume


class SyntheticFeed(PacedFeed):
    """Endless (or `count`-long) random-walk candles, `interval` seconds apart.

    Timestamps start at `start` (default: now, aligned down to the interval)
    and step by `interval` per candle; `speed` paces delivery (one candle per
    second at speed 1, see app.feeds.base).  Same seed, same candles.
    """

    _BLOCK = 4096

    def __init__(
        self,
        *,
        seed: int = 0,
        interval: float = 60.0,
        speed: float = 1.0,
        start: float | None = None,
        price: float = 100.0,
        volatility: float = 0.002,
        count: int | None = None,
    ) -> None:
        super().__init__(speed)
        if not interval > 0:
            raise ValueError(f"interval must be > 0, got {interval!r}")
        self.interval = float(interval)
        self.seed = seed
        if start is None:
            start = math.floor(time.time() / interval) * interval
        self._next_t = float(start)
        self._price = float(price)
        self._volatility = float(volatility)
        self._count = count
        self._block_no = 0
        self._block: list[Candle] = []
        self._pos = 0

    def _next_candle(self) -> Candle | None:
        if self._count is not None and self._emitted >= self._count:
            return None
        if self._pos >= len(self._block):
            self._refill()
        candle = self._block[self._pos]
        self._pos += 1
        return candle

    def _refill(self) -> None:
        # Generated in blocks so a fast consumer costs numpy, not Python, per candle;
        # each block's seed derives from (seed, block number) so runs repeat exactly.
        cols = random_walk(
            self._BLOCK,
            seed=(self.seed, self._block_no),
            start=self._next_t,
            interval=self.interval,
            price=self._price,
            volatility=self._volatility,
        )
        self._block_no += 1
        self._block = [Candle(*row) for row in np.column_stack(cols).tolist()]
        self._pos = 0
        self._price = float(cols[4][-1])
        self._next_t = float(cols[0][-1]) + self.interval
