"""Candles shown at a coarser timeframe than they arrive in (1m -> 5m / 15m / 1h / 1d).

Bars are aligned to the epoch (a 15m bar opens at :00, :15, :30, :45 UTC; a 1d bar at
00:00 UTC) and take open of the first candle, close of the last, high / low the
extremes and volume the sum of the candles inside. A bar is stamped with its bucket's
start, so the same bar has the same time whichever candle made it.

`TimeframeView` keeps the bars of one timeframe over a live `CandleStore` and follows
it incrementally: a new or replaced candle re-aggregates only the bar it falls in
(at most timeframe / base interval candles, never the whole history). Switching the
timeframe rebuilds from the store already in memory (nothing is fetched again) with
one vectorised pass.
"""

from __future__ import annotations

import numpy as np

from app.streams.candles import Candle, CandleStore

__all__ = ["TIMEFRAMES", "TimeframeView", "aggregate", "base_interval", "label"]

TIMEFRAMES: dict[str, float] = {"1m": 60.0, "5m": 300.0, "15m": 900.0, "1h": 3600.0,
                                "1d": 86400.0}


def label(seconds: float) -> str:
    for name, s in TIMEFRAMES.items():
        if s == seconds:
            return name
    return f"{seconds:g}s"


def base_interval(t: np.ndarray) -> float | None:
    """The candles' own interval: the median step of the first few hundred."""
    if len(t) < 2:
        return None
    return float(np.median(np.diff(t[:512])))


def aggregate(t: np.ndarray, o: np.ndarray, h: np.ndarray, l: np.ndarray,  # noqa: E741
              c: np.ndarray, v: np.ndarray, seconds: float) -> tuple[np.ndarray, ...]:
    """(t, o, h, l, c, v) of `seconds` bars over time-ordered candles."""
    t = np.asarray(t, dtype=np.float64)
    n = len(t)
    if not n:
        return tuple(np.empty(0) for _ in range(6))
    bucket = np.floor(t / seconds)
    change = np.flatnonzero(bucket[1:] != bucket[:-1])
    starts = np.empty(len(change) + 1, dtype=np.intp)
    starts[0] = 0
    np.add(change, 1, out=starts[1:])
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = n
    lengths = ends - starts
    ends -= 1
    h, l, v = np.asarray(h), np.asarray(l), np.asarray(v)  # noqa: E741
    return (bucket[starts] * seconds, np.asarray(o)[starts],
            _per_bar(np.maximum, h, starts, lengths), _per_bar(np.minimum, l, starts, lengths),
            np.asarray(c)[ends], _per_bar(np.add, v, starts, lengths))


def _per_bar(op: np.ufunc, x: np.ndarray, starts: np.ndarray,
             lengths: np.ndarray) -> np.ndarray:
    """op (maximum, minimum, add) reduced over each bar's candles x[start:start + length].

    op.reduceat goes bar by bar, which for bars of a few candles (1m into 5m) costs
    more than a few passes over all bars at once: without gaps every bar but the first
    and the last holds the same k candles, and for k up to 8 that is k - 1 passes over
    strided views. Otherwise reduceat.
    """
    count = len(starts)
    if count > 2:
        inner = lengths[1:-1]
        k = int(inner[0])
        if k <= 8 and int(inner.min()) == k == int(inner.max()):
            out = np.empty(count, dtype=np.result_type(x))
            out[0] = op.reduce(x[: starts[1]])
            out[-1] = op.reduce(x[starts[-1]:])
            mid = x[starts[1]: starts[-1]]
            body = out[1:-1]
            body[:] = mid[::k]
            for j in range(1, k):
                op(body, mid[j::k], out=body)
            return out
    return op.reduceat(x, starts)


class _Bars:
    """The bars of one timeframe and how far into the source they are built."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.store = CandleStore()
        self.src_epoch = -1
        self.src_version = -1
        self.last_start = 0  # source index where the newest bar begins

    def rebuild(self, src: CandleStore, finer: CandleStore | None = None) -> None:
        """All bars from the source's candles, or from `finer` bars of a timeframe that
        divides this one (the same bars, from far fewer rows)."""
        self.src_epoch, self.src_version = src.epoch, src.version
        self.store.clear()
        self.last_start = 0
        if not len(src):
            return
        bars = aggregate(*(finer if finer is not None else src).columns(), self.seconds)
        self.store.reserve(len(bars[0]) + 1024)
        self.store.extend_arrays(*bars)
        self.last_start = int(np.searchsorted(src.t, bars[0][-1], side="left"))

    def sync(self, src: CandleStore) -> bool:
        if src.epoch != self.src_epoch:
            self.rebuild(src)
            return True
        if src.version == self.src_version:
            return False
        self.src_version = src.version
        s = self.last_start
        t, o, h, l, c, v = (col[s:] for col in src.columns())  # noqa: E741
        if not len(t):
            return False
        bars = aggregate(t, o, h, l, c, v, self.seconds)
        out = self.store
        # The first of these bars is the store's newest bar (same time): it is replaced.
        first = bool(len(out)) and float(bars[0][0]) == out.last_timestamp
        if first:
            out.append(Candle(*(float(col[0]) for col in bars)))
        rest = tuple(col[1:] for col in bars) if first else bars
        if len(rest[0]):
            out.extend_arrays(*rest)
        self.last_start = s + int(np.searchsorted(t, bars[0][-1], side="left"))
        return True


class TimeframeView:
    """The bars of one timeframe over `source`; `store` is what a chart draws.

    Bars of a timeframe shown once are kept (and caught up incrementally when shown
    again), so switching back and forth costs no rebuild.
    """

    def __init__(self, source: CandleStore, seconds: float | None = None) -> None:
        self.source = source
        self.seconds: float | None = None  # None: the candles as they are
        self._cache: dict[float, _Bars] = {}
        self.set_timeframe(seconds)

    @property
    def store(self) -> CandleStore:
        """The source itself at its own timeframe (no copy), else the aggregated bars."""
        return self.source if self.seconds is None else self._cache[self.seconds].store

    @property
    def version(self) -> int:
        return self.store.version

    def set_timeframe(self, seconds: float | None) -> None:
        """Show `seconds` bars (None, or no coarser than the candles: as they are)."""
        base = base_interval(self.source.t)
        if seconds is not None and base is not None and seconds <= base:
            seconds = None
        self.seconds = None if seconds is None else float(seconds)
        if self.seconds is not None:
            bars = self._cache.get(self.seconds)
            if bars is None:
                bars = self._cache[self.seconds] = _Bars(self.seconds)
                bars.rebuild(self.source, self._finer(self.seconds))
            else:
                bars.sync(self.source)

    def _finer(self, seconds: float) -> CandleStore | None:
        """Kept bars, up to date, of the coarsest timeframe that divides `seconds`."""
        src = self.source
        best: _Bars | None = None
        for s, bars in self._cache.items():
            if s < seconds and seconds % s == 0 and bars.src_epoch == src.epoch:
                bars.sync(src)
                if best is None or s > best.seconds:
                    best = bars
        return None if best is None else best.store

    def sync(self) -> bool:
        """Follow the source; returns True when the bars shown changed."""
        if self.seconds is None:
            return False
        return self._cache[self.seconds].sync(self.source)

    def bar_of(self, i: int) -> int:
        """Index in `store` of the bar holding the source's candle `i` (`len(store)` for
        an index past the candles)."""
        if self.seconds is None:
            return i
        if i >= len(self.source):
            return len(self.store)
        bars = self.store.t
        return max(0, int(np.searchsorted(bars, float(self.source.t[i]), side="right")) - 1)
