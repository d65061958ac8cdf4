"""Graphics items the stream plots share: a level-of-detail line, spans, point marks.

Each paints only what its view box shows, from numpy arrays, with one path per call:
a line of a million points costs what the plot's pixel width costs (see series.py).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QBrush, QColor, QPainter, QPen

from app.ui.plots.series import Series, _Column

__all__ = ["LineItem", "MarksItem", "SpansItem"]


def _view(item: pg.GraphicsObject) -> tuple[float, float, float, float, float] | None:
    """(x0, x1, y0, y1, width_px) of the item's view box, or None outside one."""
    vb = item.getViewBox()
    if vb is None:
        return None
    (x0, x1), (y0, y1) = vb.viewRange()
    return x0, x1, y0, y1, max(1.0, vb.width())


class LineItem(pg.GraphicsObject):
    """One series as a line; at most two points per pixel column are drawn."""

    def __init__(self, series: Series, colour: str, width: float = 1.0) -> None:
        super().__init__()
        self.series = series
        self._pen = pg.mkPen(colour, width=width)
        self._pen.setCosmetic(True)
        self._thin = pg.mkPen(colour, width=1)
        self._thin.setCosmetic(True)
        self._bounds = QRectF()
        self._seen = -1
        self.drawn_points = 0  # points of the last paint (tests and benchmarks read it)
        self.level = 0

    def sync(self) -> None:
        """Call after the series grew: bounds follow, a repaint is scheduled."""
        s = self.series
        if s.version == self._seen:
            return
        self._seen = s.version
        if len(s) and math.isfinite(s.y_min):
            x = s.x
            rect = QRectF(float(x[0]), s.y_min, float(x[-1] - x[0]), s.y_max - s.y_min)
            if rect != self._bounds:
                self.prepareGeometryChange()
                self._bounds = rect
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def dataBounds(self, ax: int, frac: float = 1.0,
                   orthoRange: tuple[float, float] | None = None) -> tuple[float, float] | None:
        # pyqtgraph's auto-range asks this: y over the visible x only (the pyramid answers).
        s = self.series
        if not len(s):
            return None
        if ax == 0:
            return float(s.x[0]), float(s.x[-1])
        if orthoRange is None:
            return s.y_min, s.y_max
        return s.y_range(*orthoRange)

    def paint(self, p: QPainter, *args: object) -> None:
        view = _view(self)
        if view is None or not len(self.series):
            return
        x0, x1, _, _, px = view
        xs, ys, self.level = self.series.line(x0, x1, int(2 * px))
        self.drawn_points = len(xs)
        if len(xs) < 2:
            return
        # No antialiasing, and a one-pixel pen for min/max bins: Qt strokes a wide or
        # antialiased zigzag of a few thousand points in tens of milliseconds, a thin
        # aliased one in well under one (measured by bench.stream_plots). Wider pens (a
        # caller's choice) cost about 2 ms per line even for a few hundred points.
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setPen(self._pen if self.level == 0 else self._thin)
        p.drawPath(pg.arrayToQPath(xs, ys, connect="finite"))


class SpansItem(pg.GraphicsObject):
    """Rectangles in data units: [x0, x1] by [y0, y1]; NaN y fills the view's height
    (an episode), finite y a band (a sensor's lo/hi). Appended in time order.

    Zoomed out, spans less than a pixel apart are drawn as one, so a noisy signal that
    crosses its threshold thousands of times costs what the plot's width costs.
    """

    def __init__(self, colour: str, alpha: int = 40, edge: str | None = None) -> None:
        super().__init__()
        fill = QColor(colour)
        fill.setAlpha(alpha)
        self._brush = QBrush(fill)
        self._pen = QPen(QColor(edge)) if edge else QPen(pg.mkPen(None))
        self._pen.setCosmetic(True)
        self._cols = [_Column() for _ in range(4)]  # x0, x1, y0, y1
        self._bounds = QRectF()
        self._y = (math.inf, -math.inf)
        self.drawn = 0

    def __len__(self) -> int:
        return self._cols[0].n

    def add(self, x0: float, x1: float, y0: float = math.nan, y1: float = math.nan) -> None:
        for col, v in zip(self._cols, (x0, x1, y0, y1), strict=True):
            col.extend(np.array([v]))
        if math.isfinite(y0) and math.isfinite(y1):
            self._y = (min(self._y[0], y0, y1), max(self._y[1], y0, y1))
        self._moved()

    def extend_last(self, x1: float) -> None:
        """The newest span goes on (the band holds, the episode continues)."""
        self._cols[1].values[-1] = x1
        self._moved()

    def _moved(self) -> None:
        x0, x1 = self._cols[0].values, self._cols[1].values
        lo, hi = self._y if math.isfinite(self._y[0]) else (0.0, 0.0)
        self.prepareGeometryChange()
        self._bounds = QRectF(float(x0[0]), lo, float(x1[-1] - x0[0]), hi - lo)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def dataBounds(self, ax: int, frac: float = 1.0,
                   orthoRange: tuple[float, float] | None = None) -> tuple[float, float] | None:
        return None  # bands and episodes never widen the auto-range: the data does

    def paint(self, p: QPainter, *args: object) -> None:
        view = _view(self)
        if view is None or not len(self):
            return
        vx0, vx1, vy0, vy1, px = view
        x0, x1, y0, y1 = (c.values for c in self._cols)
        # Spans are in time order and do not overlap: the visible ones are one slice.
        i0 = int(np.searchsorted(x1, vx0, side="left"))
        i1 = int(np.searchsorted(x0, vx1, side="right"))
        x0, x1, y0, y1 = x0[i0:i1], x1[i0:i1], y0[i0:i1], y1[i0:i1]
        if len(x0) > px / 2:
            # Merge neighbours closer than a pixel (with the same band): one rectangle.
            per_px = (vx1 - vx0) / px
            same = (y0[1:] == y0[:-1]) | (np.isnan(y0[1:]) & np.isnan(y0[:-1]))
            split = np.flatnonzero(((x0[1:] - x1[:-1]) > per_px) | ~same) + 1
            starts = np.concatenate(([0], split))
            ends = np.concatenate((split, [len(x0)])) - 1
            x0, x1, y0, y1 = x0[starts], x1[ends], y0[starts], y1[starts]
        self.drawn = len(x0)
        top = np.where(np.isfinite(y0), y0, vy0)
        bottom = np.where(np.isfinite(y1), y1, vy1)
        p.setPen(self._pen)
        p.setBrush(self._brush)
        p.drawRects([QRectF(a, t, b - a, u - t) for a, b, t, u in
                     zip(x0.tolist(), x1.tolist(), top.tolist(), bottom.tolist(), strict=True)])


class MarksItem(pg.GraphicsObject):
    """Point marks (breaches, episode starts) as small crosses, thinned to about two per
    pixel column when zoomed out."""

    def __init__(self, colour: str, size_px: float = 4.0) -> None:
        super().__init__()
        self._pen = pg.mkPen(colour, width=1)  # thin and aliased: Qt's fast path
        self._pen.setCosmetic(True)
        self._x, self._y = _Column(), _Column()
        self._size = size_px
        self._lo, self._hi = math.inf, -math.inf
        self._bounds = QRectF()
        self.drawn = 0

    def __len__(self) -> int:
        return self._x.n

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        if len(x):
            self._x.extend(np.asarray(x, dtype=np.float64))
            self._y.extend(np.asarray(y, dtype=np.float64))
            self._lo = min(self._lo, float(np.min(y)))
            self._hi = max(self._hi, float(np.max(y)))
            xs = self._x.values
            self.prepareGeometryChange()
            self._bounds = QRectF(float(xs[0]), self._lo, float(xs[-1] - xs[0]),
                                  self._hi - self._lo)
            self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def dataBounds(self, ax: int, frac: float = 1.0,
                   orthoRange: tuple[float, float] | None = None) -> tuple[float, float] | None:
        return None

    def paint(self, p: QPainter, *args: object) -> None:
        view = _view(self)
        if view is None or not len(self):
            return
        vx0, vx1, vy0, vy1, px = view
        x, y = self._x.values, self._y.values
        i0 = int(np.searchsorted(x, vx0, side="left"))
        i1 = int(np.searchsorted(x, vx1, side="right"))
        per_px = (vx1 - vx0) / px
        step = 1
        if i1 - i0 > 2 * px:
            # Every k-th mark, k a power of two and the picks aligned to absolute indices:
            # bounded work per frame, and panning keeps the same marks on screen.
            step = 1 << math.ceil(math.log2((i1 - i0) / (2 * px)))
            i0 = (i0 // step) * step
        xs, ys = x[i0:i1:step], y[i0:i1:step]
        self.drawn = len(xs)
        if not len(xs):
            return
        vb = self.getViewBox()
        dy = self._size * (vy1 - vy0) / max(1.0, vb.height())
        dx = self._size * per_px
        # Two short strokes per mark, all in one path: an x-shaped cross.
        seg_x = np.empty(4 * len(xs))
        seg_y = np.empty_like(seg_x)
        seg_x[0::4], seg_x[1::4], seg_x[2::4], seg_x[3::4] = xs - dx, xs + dx, xs - dx, xs + dx
        seg_y[0::4], seg_y[1::4], seg_y[2::4], seg_y[3::4] = ys - dy, ys + dy, ys + dy, ys - dy
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setPen(self._pen)
        p.drawPath(pg.arrayToQPath(seg_x, seg_y, connect="pairs"))
