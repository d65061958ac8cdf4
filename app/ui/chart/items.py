"""Graphics items of the candle chart: candles, volume bars, flash-answer markers.

Candles and volume paint only the visible bars (from `VisibleBars`), and
draw them with four (candles) or two (volume) batch calls: wicks with one
`drawLines`, bodies with one `drawRects` per colour, straight from numpy
buffers (app.ui.chart.batch; no QPicture, no per-bar Python calls).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen, QPolygonF

from app.streams.candles import CandleStore
from app.ui.chart.batch import LineBatch, RectBatch, Rules
from app.ui.chart.lod import Bins, CandleLod, level_for
from app.ui.chart.style import ChartStyle

__all__ = [
    "CandleItem",
    "ChartItem",
    "LevelLine",
    "Marker",
    "MarkerItem",
    "ViewFillingItem",
    "VisibleBars",
    "VolumeItem",
]

_BODY_FRACTION = 0.75


class VisibleBars:
    """The bars the panes show for the current x range and pane width, cached.

    Shared by the candle and volume items and by the y-range fit, so one
    frame computes them once.
    """

    def __init__(self, lod: CandleLod) -> None:
        self.lod = lod
        self._key: tuple[int, int, int, int] | None = None
        self._bins: Bins | None = None

    def get(self, x0: float, x1: float, width_px: float) -> Bins:
        per_px = (x1 - x0) / max(1.0, width_px)
        level = level_for(per_px)
        k = 1 << level
        # Widen to whole bins so the edge bars do not change while panning.
        i0 = (max(0, math.floor(x0)) >> level) << level
        i1 = ((math.ceil(x1) + 1 + k - 1) >> level) << level
        key = (self.lod.version, level, i0, i1)
        if key != self._key or self._bins is None:
            self._bins = self.lod.bins(level, i0, i1)
            self._key = key
        return self._bins


class ChartItem(pg.GraphicsObject):
    """A chart item that reads its view box when it paints and needs no notice of the
    box's range or transform changes.

    pyqtgraph connects every item in a view box to the box's sigRangeChanged and
    sigTransformChanged; a following chart moves its range every frame, and each
    connection costs a Python call through Qt's signal machinery, two per item per
    change. These items drop both connections once made. The scene has no index and
    the view repaints whole (CandleChart), so a bounding rect read at paint time is
    all Qt needs.
    """

    _quiet: weakref.ref[pg.ViewBox] | None = None

    def _signals(self, vb: pg.ViewBox) -> tuple[tuple[object, object], ...]:
        return ((vb.sigRangeChanged, self.viewRangeChanged),
                (vb.sigTransformChanged, self.viewTransformChanged))

    def _updateView(self) -> None:
        # pyqtgraph disconnects from the old box itself when the item moves or leaves:
        # it gets its connections back first, so that never fails.
        old = self._quiet() if self._quiet is not None else None
        if old is not None:
            for signal, slot in self._signals(old):
                signal.connect(slot)  # type: ignore[attr-defined]
        self._quiet = None
        super()._updateView()
        vb = self.getViewBox()
        if isinstance(vb, pg.ViewBox):  # not a bare scene or widget: connected just now
            for signal, slot in self._signals(vb):
                signal.disconnect(slot)  # type: ignore[attr-defined]
            self._quiet = weakref.ref(vb)


class _BarsItem(ChartItem):
    """Common parts: bounds, view lookup, the shared VisibleBars."""

    def __init__(self, bars: VisibleBars, style: ChartStyle) -> None:
        super().__init__()
        self._bars = bars
        self._style = style
        self._bounds = QRectF()

    def set_bounds(self, rect: QRectF) -> None:
        if rect != self._bounds:
            self.prepareGeometryChange()
            self._bounds = QRectF(rect)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def visible(self) -> Bins | None:
        vb = self.getViewBox()
        if vb is None:
            return None
        (x0, x1), _ = vb.viewRange()
        return self._bars.get(x0, x1, vb.width())


class CandleItem(_BarsItem):
    def __init__(self, bars: VisibleBars, style: ChartStyle) -> None:
        super().__init__(bars, style)
        self._wicks = (LineBatch(), LineBatch())
        self._bodies = (RectBatch(), RectBatch())
        self._pens = (pg.mkPen(style.up), pg.mkPen(style.down))
        self._brushes = (pg.mkBrush(style.up_body), pg.mkBrush(style.down_body))
        self._filled: tuple[Bins, float] | None = None

    def _fill(self, bins: Bins, min_h: float) -> None:
        w = bins.width * _BODY_FRACTION
        rising = bins.c >= bins.o
        for side, mask in enumerate((rising, ~rising)):
            x, o, h, lo, c = bins.x[mask], bins.o[mask], bins.h[mask], bins.l[mask], bins.c[mask]
            m = int(x.shape[0])
            lines = self._wicks[side].resize(m)
            lines[:, 0] = x
            lines[:, 1] = lo
            lines[:, 2] = x
            lines[:, 3] = h
            rects = self._bodies[side].resize(m)
            rects[:, 0] = x - w / 2
            np.minimum(o, c, out=rects[:, 1])
            rects[:, 2] = w
            np.abs(c - o, out=rects[:, 3])
            np.maximum(rects[:, 3], min_h, out=rects[:, 3])

    def paint(self, p: QPainter, *args: object) -> None:
        bins = self.visible()
        if bins is None or len(bins) == 0:
            return
        # Bodies are filled without an outline (half the raster work); a doji
        # still shows as a one-pixel bar thanks to this minimum height.
        scale_y = abs(p.transform().m22())
        min_h = 1.0 / scale_y if scale_y > 0 else 0.0
        filled = self._filled
        # A repaint of an unchanged view reuses the buffers filled last time.
        if filled is None or filled[0] is not bins or filled[1] != min_h:
            self._fill(bins, min_h)
            self._filled = (bins, min_h)
        for side in (0, 1):
            p.setPen(self._pens[side])
            self._wicks[side].draw(p)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self._brushes[side])
            self._bodies[side].draw(p)


class VolumeItem(_BarsItem):
    def __init__(self, bars: VisibleBars, style: ChartStyle) -> None:
        super().__init__(bars, style)
        self._rects = (RectBatch(), RectBatch())
        self._brushes = (pg.mkBrush(style.up_volume), pg.mkBrush(style.down_volume))
        self._separator = Rules(style.axis)
        self._filled: Bins | None = None

    def boundingRect(self) -> QRectF:
        # Also covers the pane's top edge, where the separator line goes.
        vb = self.getViewBox()
        return self._bounds.united(vb.viewRect()) if vb is not None else self._bounds

    def _fill(self, bins: Bins) -> None:
        w = bins.width * _BODY_FRACTION
        rising = bins.c >= bins.o
        for side, mask in enumerate((rising, ~rising)):
            x, v = bins.x[mask], bins.v[mask]
            rects = self._rects[side].resize(int(x.shape[0]))
            rects[:, 0] = x - w / 2
            rects[:, 1] = 0.0
            rects[:, 2] = w
            rects[:, 3] = v

    def paint(self, p: QPainter, *args: object) -> None:
        vb = self.getViewBox()
        if vb is not None:
            # A hairline between the price and volume panes, half a pixel inside the
            # pane (on its edge, the view's clip would cut it).
            view = vb.viewRect()
            y = view.bottom() - 0.5 * view.height() / max(1.0, vb.height())
            self._separator.draw(p, [y], [], view)
        bins = self.visible()
        if bins is None or len(bins) == 0:
            return
        if self._filled is not bins:
            self._fill(bins)
            self._filled = bins
        p.setPen(Qt.PenStyle.NoPen)
        for side in (0, 1):
            p.setBrush(self._brushes[side])
            self._rects[side].draw(p)


@dataclass(frozen=True, slots=True)
class Marker:
    timestamp: float
    label: str
    color: QColor


class ViewFillingItem(ChartItem):
    """An item that covers whatever its view box shows (grid, markers)."""

    def boundingRect(self) -> QRectF:
        vb = self.getViewBox()
        return vb.viewRect() if vb is not None else QRectF()


class LevelLine(ViewFillingItem):
    """A line across the view at `value()`: horizontal (the last price, the crosshair's
    price) or, with `angle=90`, vertical (the crosshair's candle).

    pg.InfiniteLine recomputes its bounds and end points in Python on every range
    change, hidden or not, which a following chart makes each frame; this one draws
    one line when painted.
    """

    def __init__(self, pen: QPen, angle: int = 0) -> None:
        super().__init__()
        self._pen = pen
        self._vertical = angle == 90
        self._at = 0.0

    def value(self) -> float:
        return self._at

    def setPos(self, at: float) -> None:
        if at != self._at:
            self._at = float(at)
            self.update()

    def setPen(self, pen: QPen) -> None:
        self._pen = pen
        self.update()

    def paint(self, p: QPainter, *args: object) -> None:
        vb = self.getViewBox()
        if vb is None:
            return
        view = vb.viewRect()
        p.setPen(self._pen)
        if self._vertical:
            p.drawLine(QLineF(self._at, view.top(), self._at, view.bottom()))
        else:
            p.drawLine(QLineF(view.left(), self._at, view.right(), self._at))


class MarkerItem(ViewFillingItem):
    """Flash-answer markers: a dashed line over the price pane (`line` mode) or
    a flag on the time axis at the bottom of the volume pane (`flag` mode).

    Drawn in device pixels so flags keep their size at any zoom.
    """

    def __init__(
        self, store: CandleStore, markers: list[Marker], style: ChartStyle, mode: str
    ) -> None:
        super().__init__()
        self._store = store
        self._markers = markers
        self._style = style
        self._mode = mode
        self._font = QFont()
        self._font.setPointSizeF(7.5)

    def positions(self) -> list[tuple[float, Marker]]:
        """(x, marker) for markers on or after the first candle."""
        t = self._store.t
        if not self._markers or t.shape[0] == 0:
            return []
        stamps = np.fromiter((m.timestamp for m in self._markers), dtype=np.float64)
        idx = np.searchsorted(t, stamps, side="right") - 1
        return [(float(i), m) for i, m in zip(idx.tolist(), self._markers, strict=True) if i >= 0]

    def paint(self, p: QPainter, *args: object) -> None:
        vb = self.getViewBox()
        if vb is None:
            return
        view = vb.viewRect()
        tr = p.transform()
        p.save()
        p.resetTransform()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setFont(self._font)
        top = tr.map(QPointF(view.left(), view.bottom())).y()
        bottom = tr.map(QPointF(view.left(), view.top())).y()
        y_top, y_bottom = min(top, bottom), max(top, bottom)
        label_end = -math.inf
        right_px = max(tr.map(QPointF(view.left(), 0)).x(), tr.map(QPointF(view.right(), 0)).x())
        for x, marker in sorted(self.positions(), key=lambda xm: xm[0]):
            if not view.left() <= x <= view.right():
                continue
            px = tr.map(QPointF(x, view.top())).x()
            color = QColor(marker.color)
            if self._mode == "line":
                faint = QColor(color)
                faint.setAlpha(110)
                pen = QPen(faint, 1, Qt.PenStyle.DashLine)
                pen.setCosmetic(True)
                p.setPen(pen)
                p.drawLine(QPointF(px, y_top), QPointF(px, y_bottom))
                width = p.fontMetrics().horizontalAdvance(marker.label)
                # Near the right edge the label goes left of its line.
                left = px + 4 if px + 4 + width <= right_px else px - 4 - width
                if marker.label and left > label_end:
                    # Labels that would overlap the previous one are left to the readout.
                    p.setPen(color)
                    p.drawText(QPointF(left, y_top + 12), marker.label)
                    label_end = left + width + 4
            else:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(QBrush(color))
                flag = QPolygonF(
                    [
                        QPointF(px - 5, y_bottom),
                        QPointF(px + 5, y_bottom),
                        QPointF(px, y_bottom - 8),
                    ]
                )
                p.drawPolygon(flag)
        p.restore()
