"""Level-of-detail bins for the candle chart (numpy only, no Qt).

Level L merges 2**L consecutive candles into one OHLCV bin, with bins aligned
to absolute candle indices (bin b of level L covers [b * 2**L, (b + 1) * 2**L)).
Alignment to absolute indices means panning never changes which candles
share a bin, so a zoomed-out chart does not flicker while it scrolls.

Complete bins are cached per level and extended incrementally: an append
touches at most one bin per level, and level L is built from level L-1, so
keeping every level current costs about one extra pass over the data in
total.  The last, incomplete bin is computed on demand from the raw columns
(fewer than 2**L candles).

The store only ever appends, replaces its last candle, or is cleared, so on
every version change the bins that contain the previously last candle are
dropped and rebuilt; that is exactly the set a replacement can touch.
"""

from __future__ import annotations

import numpy as np

from app.streams.candles import CandleStore

__all__ = ["Bins", "CandleLod", "level_for"]

_MAX_LEVEL = 40
# Levels below this are merged per frame from the visible candles; caching
# levels 1 and 2 would cost 30 of the pyramid's 40 bytes per candle.
_FIRST_CACHED = 3


def level_for(candles_per_px: float, min_px_per_bar: float = 3.0) -> int:
    """Smallest level whose bins are at least `min_px_per_bar` pixels wide."""
    need = candles_per_px * min_px_per_bar
    if need <= 1.0:
        return 0
    return min(_MAX_LEVEL, int(np.ceil(np.log2(need) - 1e-9)))


class Bins:
    """Visible bars of one level: centre x (candle-index units), width, o/h/l/c/v."""

    __slots__ = ("c", "h", "l", "level", "o", "v", "width", "x")

    def __init__(
        self,
        level: int,
        x: np.ndarray,
        o: np.ndarray,
        h: np.ndarray,
        l: np.ndarray,  # noqa: E741 - the protocol's field name
        c: np.ndarray,
        v: np.ndarray,
    ) -> None:
        self.level = level
        self.width = float(1 << level)
        self.x, self.o, self.h, self.l, self.c, self.v = x, o, h, l, c, v

    def __len__(self) -> int:
        return int(self.x.shape[0])


class _Level:
    __slots__ = ("buf", "count")

    def __init__(self) -> None:
        self.buf = np.empty((5, 0), dtype=np.float64)  # o, h, l, c, v
        self.count = 0


class CandleLod:
    """OHLCV pyramid over a CandleStore; call `sync()` when the store's version changes."""

    def __init__(self, store: CandleStore) -> None:
        self.store = store
        self._levels: list[_Level] = [_Level()]  # index 0 unused: level 0 is the store
        self._n = 0
        self._epoch = store.epoch
        self._version = -1

    @property
    def version(self) -> int:
        """The store version the pyramid last synced to."""
        return self._version

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached levels."""
        return sum(lv.buf.nbytes for lv in self._levels)

    def sync(self) -> None:
        store = self.store
        if store.version == self._version:
            return
        n = len(store)
        if store.epoch != self._epoch or n < self._n:
            for lv in self._levels:
                lv.count = 0
        elif self._n:
            last = self._n - 1
            for lvl in range(1, len(self._levels)):
                lv = self._levels[lvl]
                lv.count = min(lv.count, last >> lvl)
        self._n = n
        self._epoch = store.epoch
        self._version = store.version

    def _ensure(self, level: int) -> _Level:
        """Bring cached levels _FIRST_CACHED..level up to date (complete bins only)."""
        while len(self._levels) <= level:
            self._levels.append(_Level())
        n = self._n
        cols = self.store.columns()
        for lvl in range(_FIRST_CACHED, level + 1):
            lv = self._levels[lvl]
            if lvl == _FIRST_CACHED:
                # Straight from the raw columns, 2**_FIRST_CACHED candles per bin.
                src, src_count, factor = cols[1:], n, 1 << _FIRST_CACHED
            else:
                below = self._levels[lvl - 1]
                src = tuple(below.buf[k, : below.count] for k in range(5))
                src_count, factor = below.count, 2
            want = src_count // factor
            if want > lv.count:
                if want > lv.buf.shape[1]:
                    # Sized from the store's capacity so the pyramid grows when
                    # the store grew, not on every append.
                    cap = max(want, (self.store.capacity >> lvl) + 2)
                    new = np.empty((5, cap), dtype=np.float64)
                    new[:, : lv.count] = lv.buf[:, : lv.count]
                    lv.buf = new
                m0 = lv.count
                _merge(src, m0 * factor, want * factor, factor, lv.buf[:, m0:want])
                lv.count = want
        return self._levels[level]

    def bins(self, level: int, i0: int, i1: int) -> Bins:
        """Bars of `level` covering candle indices [i0, i1) (clamped to the data)."""
        n = self._n
        i0 = max(0, i0)
        i1 = min(n, i1)
        t_cols = self.store.columns()
        if i1 <= i0:
            empty = np.empty(0)
            return Bins(level, empty, empty, empty, empty, empty, empty)
        if level == 0:
            x = np.arange(i0, i1, dtype=np.float64)
            return Bins(0, x, *(col[i0:i1] for col in t_cols[1:]))
        k = 1 << level
        b0 = i0 >> level
        b1 = (i1 - 1 >> level) + 1
        if level < _FIRST_CACHED:
            # At most a few thousand candles are visible at these levels:
            # merging them per frame is cheaper than caching them for all n.
            s, e = b0 << level, min(n, b1 << level)
            out = np.empty((5, b1 - b0))
            _merge(t_cols[1:], s, e, k, out)
            parts = list(out)
        else:
            lv = self._ensure(level)
            full_end = min(b1, lv.count)
            parts = [lv.buf[r, b0:full_end] for r in range(5)]
            if b1 > lv.count:
                # The incomplete last bin, straight from the raw columns.
                s = lv.count << level
                o, h, lo, c, v = t_cols[1:]
                tail = np.array(
                    [[o[s]], [h[s:n].max()], [lo[s:n].min()], [c[n - 1]], [v[s:n].sum()]]
                )
                parts = [np.concatenate((p, tail[r])) for r, p in enumerate(parts)]
        x = np.arange(b0, b0 + len(parts[0]), dtype=np.float64) * k + (k - 1) / 2
        return Bins(level, x, *parts)


def _merge(src: tuple[np.ndarray, ...], s: int, e: int, factor: int, out: np.ndarray) -> None:
    """OHLCV of src[s:e] in bins of `factor` rows (the last may be short) into out[5, bins]."""
    o, h, lo, c, v = src
    starts = np.arange(0, e - s, factor)
    ends = np.minimum(starts + factor, e - s) - 1
    out[0] = o[s:e:factor]
    np.maximum.reduceat(h[s:e], starts, out=out[1])
    np.minimum.reduceat(lo[s:e], starts, out=out[2])
    out[3] = c[s + ends]
    np.add.reduceat(v[s:e], starts, out=out[4])
