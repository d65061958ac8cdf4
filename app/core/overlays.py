"""Price overlays (SMA, EMA, VWAP, Bollinger bands) that follow a live CandleStore.

Each overlay keeps its output lines in preallocated columns beside the store. A new
candle costs a constant amount of work (the window of an SMA / band, one step of an
EMA, one running sum for VWAP), never a pass over the history: `sync()` recomputes
only from the store's previously newest candle (it may have been replaced by the
forming bar's update) to its end. A new epoch of the store (cleared, or a timeframe
switch showing other bars) refills the lines with one vectorised pass.

Definitions (those a trader's charting tool uses):

* SMA(n): mean of the last n closes; EMA(n): alpha = 2 / (n + 1), seeded with the
  first close (pandas' ``ewm(span=n, adjust=False)``);
* VWAP: sum of typical price (h + l + c) / 3 times volume over the sum of volume,
  anchored at each UTC day's first candle;
* Bollinger(n, k): SMA(n) +- k population standard deviations of the same closes.

Lines are NaN until their window is full.
"""

from __future__ import annotations

import math

import numpy as np

from app.streams.candles import CandleStore

__all__ = ["EMA", "SMA", "VWAP", "Bollinger", "Overlay", "make_overlay"]

_DAY = 86400.0
_EMA_BLOCK = 64
_EMA_GROWTH = 1e8  # the largest r^-k a block's cumulative sum may carry


class Overlay:
    """Lines computed from a store's candles, kept up to date incrementally."""

    kind = ""
    lines: tuple[str, ...] = ("value",)

    def __init__(self) -> None:
        self._buf = np.empty((len(self.lines), 1024), dtype=np.float64)
        self._n = 0
        self._store: CandleStore | None = None
        self._epoch = -1
        self._version = -1
        self.version = 0

    @property
    def name(self) -> str:
        return self.kind

    def __len__(self) -> int:
        return self._n

    def line(self, name: str) -> np.ndarray:
        return self._buf[self.lines.index(name), : self._n]

    def values(self) -> dict[str, np.ndarray]:
        return {name: self._buf[i, : self._n] for i, name in enumerate(self.lines)}

    def sync(self, store: CandleStore) -> bool:
        """Follow `store`; returns True when a line changed."""
        if store is not self._store or store.epoch != self._epoch or len(store) < self._n:
            self._store, self._epoch, self._version = store, store.epoch, store.version
            n = len(store)
            self._reserve(n + n // 4 + 1024)  # room to follow live candles without a copy
            if n:
                out = self._bulk(*store.columns())
                for i, col in enumerate(out):
                    self._buf[i, :n] = col
            self._n = n
            self.version += 1
            return True
        if store.version == self._version:
            return False
        self._version = store.version
        n = len(store)
        start = max(0, self._n - 1)  # the previously newest candle may have been replaced
        self._reserve(n)
        cols = store.columns()
        for i in range(start, n):
            self._step(cols, i)
        self._n = n
        self.version += 1
        return True

    def _reserve(self, n: int) -> None:
        cap = self._buf.shape[1]
        if n > cap:
            new = np.empty((len(self.lines), max(n, int(cap * 1.25) + 1)), dtype=np.float64)
            new[:, : self._n] = self._buf[:, : self._n]
            self._buf = new

    # Subclasses: one candle at index i from earlier outputs and candles <= i; all candles.
    def _step(self, cols: tuple[np.ndarray, ...], i: int) -> None:
        raise NotImplementedError

    def _bulk(self, t: np.ndarray, o: np.ndarray, h: np.ndarray, l: np.ndarray,  # noqa: E741
              c: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError


def _rolling_mean_std(c: np.ndarray, n: int, want_std: bool) -> tuple[np.ndarray, np.ndarray]:
    """Trailing n-window mean (and population std) by running sums of centred closes."""
    m = len(c)
    mean = np.full(m, np.nan)
    std = np.full(m, np.nan)
    if m < n:
        return mean, std
    x = c - c[0]  # centred: smaller sums, less cancellation
    s = np.cumsum(np.r_[0.0, x])
    win = (s[n:] - s[:-n]) / n
    mean[n - 1:] = win + c[0]
    if want_std:
        q = np.cumsum(np.r_[0.0, x * x])
        var = (q[n:] - q[:-n]) / n - win * win
        std[n - 1:] = np.sqrt(np.maximum(var, 0.0))
    return mean, std


class SMA(Overlay):
    kind = "SMA"

    def __init__(self, period: int = 20) -> None:
        if period < 1:
            raise ValueError(f"SMA period must be at least 1, got {period}")
        self.period = int(period)
        super().__init__()

    @property
    def name(self) -> str:
        return f"SMA {self.period}"

    def _step(self, cols: tuple[np.ndarray, ...], i: int) -> None:
        n = self.period
        self._buf[0, i] = cols[4][i - n + 1 : i + 1].mean() if i >= n - 1 else math.nan

    def _bulk(self, t, o, h, l, c, v):  # type: ignore[no-untyped-def]  # noqa: E741
        return (_rolling_mean_std(c, self.period, False)[0],)


class EMA(Overlay):
    kind = "EMA"

    def __init__(self, period: int = 50) -> None:
        if period < 1:
            raise ValueError(f"EMA period must be at least 1, got {period}")
        self.period = int(period)
        self.alpha = 2.0 / (period + 1.0)
        super().__init__()

    @property
    def name(self) -> str:
        return f"EMA {self.period}"

    def _step(self, cols: tuple[np.ndarray, ...], i: int) -> None:
        c = cols[4]
        a = self.alpha
        self._buf[0, i] = c[0] if i == 0 else a * c[i] + (1.0 - a) * self._buf[0, i - 1]

    def _bulk(self, t, o, h, l, c, v):  # type: ignore[no-untyped-def]  # noqa: E741
        return (ema(c, self.alpha),)


def ema(c: np.ndarray, alpha: float) -> np.ndarray:
    """y[0] = c[0], y[i] = alpha c[i] + (1 - alpha) y[i-1], vectorised in blocks.

    Within a block of B closes, y[s+j] = r^(j+1) y[s-1] + alpha sum_k r^(j-k) c[s+k]
    (r = 1 - alpha): one cumulative sum per block, all blocks at once; only the
    carry from block to block is a Python loop (n / B steps).
    """
    c = np.asarray(c, dtype=np.float64)
    m = len(c)
    if not m:
        return np.empty(0)
    r = 1.0 - alpha
    if r == 0.0:
        return c.copy()
    # Blocks as long as r^-(b-1) stays below _EMA_GROWTH (precision is lost in
    # proportion): fewer carries, each a Python step; 64 at least (the closes of a
    # short period decay fast, their carries are few anyway).
    b = max(_EMA_BLOCK, min(1024, int(math.log(_EMA_GROWTH) / -math.log(r)) + 1))
    rows = -(-m // b)
    x = np.zeros(rows * b)
    x[:m] = c
    x = x.reshape(rows, b)
    j = np.arange(b)
    up = r ** -j  # r^-k, at most r^-63: fine for any period above 1
    local = alpha * np.cumsum(x * up, axis=1) * (r ** j)  # block's own part, zero carry in
    decay = r ** (j + 1)
    y = np.empty_like(x)
    carry = c[0]  # y[-1] chosen so that y[0] = alpha c0 + r c0 = c0
    for row in range(rows):
        y[row] = local[row] + decay * carry
        carry = y[row, -1]
    return y.reshape(-1)[:m]


class VWAP(Overlay):
    kind = "VWAP"
    lines = ("value", "_pv", "_v")  # running sums since the day's first candle

    def _step(self, cols: tuple[np.ndarray, ...], i: int) -> None:
        t, _, h, l, c, v = cols  # noqa: E741
        tp = (h[i] + l[i] + c[i]) / 3.0
        same_day = i > 0 and math.floor(t[i] / _DAY) == math.floor(t[i - 1] / _DAY)
        pv = tp * v[i] + (self._buf[1, i - 1] if same_day else 0.0)
        vol = v[i] + (self._buf[2, i - 1] if same_day else 0.0)
        self._buf[1, i], self._buf[2, i] = pv, vol
        self._buf[0, i] = pv / vol if vol > 0 else tp

    def _bulk(self, t, o, h, l, c, v):  # type: ignore[no-untyped-def]  # noqa: E741
        tp = (h + l + c) / 3.0
        day = np.floor(t / _DAY)
        starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(t)]))
        out = []
        for x in (tp * v, v):
            cum = np.cumsum(x)
            before = np.r_[0.0, cum][starts]  # sum before each day's first candle
            out.append(cum - before[group])
        pv, vol = out
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(vol > 0, pv / np.where(vol > 0, vol, 1.0), tp)
        return value, pv, vol


class Bollinger(Overlay):
    kind = "Bollinger"
    lines = ("mid", "upper", "lower")

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        if period < 2:
            raise ValueError(f"Bollinger period must be at least 2, got {period}")
        self.period = int(period)
        self.k = float(k)
        super().__init__()

    @property
    def name(self) -> str:
        return f"BB {self.period} {self.k:g}"

    def _step(self, cols: tuple[np.ndarray, ...], i: int) -> None:
        n = self.period
        if i < n - 1:
            self._buf[:, i] = math.nan
            return
        win = cols[4][i - n + 1 : i + 1]
        mid = win.mean()
        sd = win.std()
        self._buf[:, i] = (mid, mid + self.k * sd, mid - self.k * sd)

    def _bulk(self, t, o, h, l, c, v):  # type: ignore[no-untyped-def]  # noqa: E741
        mid, sd = _rolling_mean_std(c, self.period, True)
        return mid, mid + self.k * sd, mid - self.k * sd


def make_overlay(spec: str) -> Overlay:
    """'SMA 20', 'EMA 50', 'VWAP', 'BB 20 2' -> the overlay (clear error otherwise)."""
    parts = spec.split()
    if not parts:
        raise ValueError("empty overlay name")
    kind, args = parts[0].upper(), parts[1:]
    try:
        nums = [float(a) for a in args]
    except ValueError:
        raise ValueError(f"overlay {spec!r}: parameters must be numbers") from None
    if kind == "SMA":
        return SMA(int(nums[0]) if nums else 20)
    if kind == "EMA":
        return EMA(int(nums[0]) if nums else 50)
    if kind == "VWAP":
        return VWAP()
    if kind in ("BB", "BOLLINGER"):
        return Bollinger(int(nums[0]) if nums else 20, nums[1] if len(nums) > 1 else 2.0)
    raise ValueError(f"unknown overlay {parts[0]!r} (SMA n, EMA n, VWAP, BB n k)")
