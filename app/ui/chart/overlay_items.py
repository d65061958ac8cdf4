"""Overlay lines (app.core.overlays) and user-drawn price levels on the candle chart.

An overlay line paints only the visible part of its columns: one segment per visible
bar (thinned to about one per pixel when zoomed out, on strides aligned to absolute
indices so panning does not shimmer), drawn with one batch call per line.

Price levels: double-click the price pane to put a level at that price; drag it to
move it; double-click the level (within 5 px) to remove it. `PriceLevels.values()` lists them.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter

from app.core.overlays import Overlay
from app.ui.chart.batch import LineBatch
from app.ui.chart.items import ViewFillingItem
from app.ui.chart.widget import CandleChart

__all__ = ["OVERLAY_COLOURS", "OverlayItem", "PriceLevels"]

OVERLAY_COLOURS = ("#4c9aff", "#f0b429", "#b48ead", "#88c0d0", "#a3be8c")
LEVEL_COLOUR = "#d08770"


class OverlayItem(ViewFillingItem):
    """The lines of one overlay over the chart's bars (`sync` from the display timer)."""

    def __init__(self, chart: CandleChart, overlay: Overlay, colour: str) -> None:
        super().__init__()
        self.chart = chart
        self.overlay = overlay
        self.colour = colour
        names = [n for n in overlay.lines if not n.startswith("_")]
        self.names = names
        self._batches = [LineBatch() for _ in names]
        self._x_key: tuple[int, int, int, int | None] | None = None
        self._x = np.empty(0)
        # One-pixel cosmetic pens: the chart is drawn without antialiasing, where a
        # wider pen only alternates 1 and 2 px and leaves Qt's fast line path.
        self._pens = [pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine if i else
                               Qt.PenStyle.SolidLine) for i, _ in enumerate(names)]
        chart.price_plot.addItem(self, ignoreBounds=True)

    def sync(self) -> bool:
        changed = self.overlay.sync(self.chart.store)
        if changed:
            self.update()
        return changed

    def remove(self) -> None:
        self.chart.price_plot.removeItem(self)

    def value_at(self, i: int) -> dict[str, float]:
        vals = self.overlay.values()
        return {n: float(vals[n][i]) for n in self.names if 0 <= i < len(vals[n])}

    def paint(self, p: QPainter, *args: object) -> None:
        vb = self.getViewBox()
        n = len(self.overlay)
        if vb is None or n < 2:
            return
        view = vb.viewRect()
        per_px = (view.width()) / max(1.0, vb.width())
        stride = 1 << max(0, math.ceil(math.log2(per_px))) if per_px > 1 else 1
        i0 = max(0, (math.floor(view.left()) // stride) * stride)
        i1 = min(n - 1, math.ceil(view.right()) + stride)
        if i1 <= i0:
            return
        # Strided views of the lines (no gather), plus the newest bar when the stride
        # steps over it.
        tail = i1 == n - 1 and (i1 - i0) % stride != 0
        count = (i1 - i0) // stride + 1
        m = count + tail - 1  # segments
        if m < 1:
            return
        x = self._x_of(i0, stride, count, n - 1 if tail else None)
        vals = self.overlay.values()
        for k, name in enumerate(self.names):
            line = vals[name]
            lines = self._batches[k].resize(m)
            ys = line[i0: i1 + 1: stride]
            lines[: count - 1, 1] = ys[:-1]
            lines[: count - 1, 3] = ys[1:]
            if tail:
                lines[-1, 1], lines[-1, 3] = ys[-1], line[n - 1]
            lines[:, 0], lines[:, 2] = x[:-1], x[1:]
            # Lines start with NaN while their window fills: drop the segments touching it.
            if not (math.isfinite(lines[0, 1]) and math.isfinite(lines[-1, 3])) or (
                    not np.isfinite(lines[:, 1]).all()):
                ok = np.isfinite(lines[:, 1]) & np.isfinite(lines[:, 3])
                kept = lines[ok]
                if not len(kept):
                    continue
                lines = self._batches[k].resize(len(kept))
                lines[:] = kept
            p.setPen(self._pens[k])
            self._batches[k].draw(p)

    def _x_of(self, i0: int, stride: int, count: int, newest: int | None) -> np.ndarray:
        """x of the points drawn: i0, i0 + stride, ... (and the newest bar), cached."""
        key = (i0, stride, count, newest)
        if key != self._x_key:
            x = np.arange(i0, i0 + stride * count, stride, dtype=np.float64)
            self._x = np.append(x, float(newest)) if newest is not None else x
            self._x_key = key
        return self._x


class PriceLevels:
    """User-drawn horizontal price levels on a chart's price pane."""

    def __init__(self, chart: CandleChart) -> None:
        self.chart = chart
        self._lines: list[pg.InfiniteLine] = []
        chart.graphics.scene().sigMouseClicked.connect(self._clicked)

    def add(self, price: float) -> pg.InfiniteLine:
        line = pg.InfiniteLine(pos=float(price), angle=0, movable=True,
                      pen=pg.mkPen(LEVEL_COLOUR, width=1.2),
                      hoverPen=pg.mkPen(LEVEL_COLOUR, width=2.5),
                      label="{value:.2f}",
                      labelOpts={"position": 0.03, "color": LEVEL_COLOUR, "movable": True,
                                 "anchors": [(0, 1), (0, 1)]})
        self.chart.price_plot.addItem(line, ignoreBounds=True)
        self._lines.append(line)
        return line

    def remove(self, line: pg.InfiniteLine) -> None:
        if line in self._lines:
            self._lines.remove(line)
            self.chart.price_plot.removeItem(line)

    def clear(self) -> None:
        for line in list(self._lines):
            self.remove(line)

    def values(self) -> list[float]:
        return [float(line.value()) for line in self._lines]

    def _clicked(self, ev: object) -> None:
        if not ev.double():  # type: ignore[attr-defined]
            return
        pos = ev.scenePos()  # type: ignore[attr-defined]
        vb = self.chart.price_view
        if not vb.sceneBoundingRect().contains(pos):
            return
        for line in self._lines:  # a double-click on (within 5 px of) a level removes it
            y = vb.mapViewToScene(QPointF(0.0, float(line.value()))).y()
            if abs(y - pos.y()) <= 5:
                self.remove(line)
                ev.accept()  # type: ignore[attr-defined]
                return
        self.add(vb.mapSceneToView(pos).y())
        ev.accept()  # type: ignore[attr-defined]


