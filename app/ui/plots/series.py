"""A growing (x, y) series with a min/max pyramid for level of detail (numpy only, no Qt).

x is time and never decreases, so the visible part of a series is an index range found
with `searchsorted`. When it holds more points than the plot has pixels, the line is drawn
from min/max bins instead: level L merges 2**L consecutive points, bins are aligned to
absolute indices (panning does not change which points share a bin, so nothing flickers),
and each level is built from the one below. An append extends every level by its new
complete bins only, so keeping the pyramid current costs about one extra pass over the
data in total; the pyramid takes 16 bytes per point on top of the 16 of the points.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Series"]

_GROWTH = 1.5
_MIN_CAPACITY = 1024


class _Column:
    """An append-only float64 array with spare capacity (grown outside any paint)."""

    __slots__ = ("_buf", "n")

    def __init__(self) -> None:
        self._buf = np.empty(_MIN_CAPACITY)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        k = len(values)
        if self.n + k > len(self._buf):
            new = np.empty(max(self.n + k, int(len(self._buf) * _GROWTH)))
            new[: self.n] = self._buf[: self.n]
            self._buf = new
        self._buf[self.n : self.n + k] = values
        self.n += k

    @property
    def values(self) -> np.ndarray:
        return self._buf[: self.n]


class Series:
    """Points of one line (one sensor, one vital sign) and their min/max pyramid."""

    def __init__(self) -> None:
        self._x = _Column()
        self._y = _Column()
        self._mins: list[_Column] = []  # level L (1-based) at index L - 1
        self._maxs: list[_Column] = []
        self.version = 0
        self.y_min = math.inf
        self.y_max = -math.inf

    def __len__(self) -> int:
        return self._x.n

    @property
    def x(self) -> np.ndarray:
        return self._x.values

    @property
    def y(self) -> np.ndarray:
        return self._y.values

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        if not len(x):
            return
        self._x.extend(np.asarray(x, dtype=np.float64))
        self._y.extend(np.asarray(y, dtype=np.float64))
        finite = y[np.isfinite(y)]
        if len(finite):
            self.y_min = min(self.y_min, float(finite.min()))
            self.y_max = max(self.y_max, float(finite.max()))
        self._extend_levels()
        self.version += 1

    def _extend_levels(self) -> None:
        lo_src, hi_src = self.y, self.y
        level = 1
        while len(lo_src) >= 2:
            if len(self._mins) < level:
                self._mins.append(_Column())
                self._maxs.append(_Column())
            mins, maxs = self._mins[level - 1], self._maxs[level - 1]
            have, complete = mins.n, len(lo_src) // 2
            if complete > have:
                a, b = 2 * have, 2 * complete
                mins.extend(np.fmin(lo_src[a:b:2], lo_src[a + 1 : b : 2]))
                maxs.extend(np.fmax(hi_src[a:b:2], hi_src[a + 1 : b : 2]))
            lo_src, hi_src = mins.values, maxs.values
            level += 1

    def visible(self, x0: float, x1: float) -> tuple[int, int]:
        """Index range [i0, i1) covering [x0, x1] plus one point either side (lines reach
        the edges of the view)."""
        x = self.x
        i0 = max(0, int(np.searchsorted(x, x0, side="left")) - 1)
        i1 = min(len(x), int(np.searchsorted(x, x1, side="right")) + 1)
        return i0, max(i0, i1)

    def line(self, x0: float, x1: float, max_points: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Polyline points for [x0, x1] with at most about `max_points` points, and the
        level used (0 = every point; L: a min and a max per 2**L points)."""
        i0, i1 = self.visible(x0, x1)
        n = i1 - i0
        if n <= max_points:
            return self.x[i0:i1], self.y[i0:i1], 0
        level = min(len(self._mins), max(1, math.ceil(math.log2(2 * n / max_points))))
        step = 1 << level
        b0, b1 = i0 >> level, min(i1 >> level, self._mins[level - 1].n)
        xs = self.x[b0 * step : b1 * step : step]
        lows = self._mins[level - 1].values[b0:b1]
        highs = self._maxs[level - 1].values[b0:b1]
        tail = b1 * step  # points after the last complete bin are drawn as they are
        k = len(xs)
        out_x = np.empty(2 * k + (i1 - tail))
        out_y = np.empty_like(out_x)
        out_x[: 2 * k : 2] = xs
        out_x[1 : 2 * k : 2] = xs
        out_y[: 2 * k : 2] = lows
        out_y[1 : 2 * k : 2] = highs
        out_x[2 * k :] = self.x[tail:i1]
        out_y[2 * k :] = self.y[tail:i1]
        return out_x, out_y, level

    def y_range(self, x0: float, x1: float) -> tuple[float, float] | None:
        """Lowest and highest value shown for [x0, x1] (from the pyramid: cheap)."""
        _, ys, _ = self.line(x0, x1, 4096)
        ys = ys[np.isfinite(ys)]
        return (float(ys.min()), float(ys.max())) if len(ys) else None

    @property
    def nbytes(self) -> int:
        return int(sum(c._buf.nbytes for c in (self._x, self._y, *self._mins, *self._maxs)))
