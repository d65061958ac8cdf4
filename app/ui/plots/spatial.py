"""SpatialPlot: the x/y path seen from above with the current position and heading, and
the speed over time below (linked to nothing: the map has no time axis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QWidget

from app.streams.spatial import Spatial
from app.ui.chart.style import ChartStyle
from app.ui.plots.frame import PALETTE, TimePlots
from app.ui.plots.items import LineItem
from app.ui.plots.series import Series, _Column

__all__ = ["SpatialPlot"]

_MAX_PATH_POINTS = 20_000  # beyond this the path is drawn from every k-th position


class PathItem(pg.GraphicsObject):
    """The track as one path; long tracks are thinned by a stride (x/y is not ordered,
    so min/max bins do not apply), the newest position always included."""

    def __init__(self, colour: str) -> None:
        super().__init__()
        self._pen = pg.mkPen(colour, width=1.6)
        self._pen.setCosmetic(True)
        self.x, self.y = _Column(), _Column()
        self._bounds = QRectF()
        self.drawn_points = 0

    def __len__(self) -> int:
        return self.x.n

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x.extend(x)
        self.y.extend(y)
        xs, ys = self.x.values, self.y.values
        self.prepareGeometryChange()
        self._bounds = QRectF(float(xs.min()), float(ys.min()), float(np.ptp(xs)) or 1.0,
                              float(np.ptp(ys)) or 1.0)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, p: QPainter, *args: object) -> None:
        n = len(self)
        if n < 2:
            return
        step = max(1, math.ceil(n / _MAX_PATH_POINTS))
        xs, ys = self.x.values[::step], self.y.values[::step]
        if (n - 1) % step:
            xs = np.append(xs, self.x.values[-1])
            ys = np.append(ys, self.y.values[-1])
        self.drawn_points = len(xs)
        p.setPen(self._pen)
        p.drawPath(pg.arrayToQPath(xs, ys))


class SpatialPlot(TimePlots):
    def __init__(self, store: Any, parent: QWidget | None = None, *,
                 style: ChartStyle | None = None) -> None:
        super().__init__(Spatial, store, [("speed m/s", 1)], parent, style=style, top_rows=1)
        st = self.style_
        self.map = self.graphics.addPlot(row=0, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.map.hideButtons()
        self.map.setMenuEnabled(False)
        self.map.setAspectLocked(True)
        self.map.showGrid(x=True, y=True, alpha=0.12)
        for name in ("left", "bottom"):
            self.map.getAxis(name).setTextPen(st.text)
            self.map.getAxis(name).setPen(st.axis)
        self.map.setLabel("bottom", "x (m)")
        self.map.setLabel("left", "y (m)")
        self.path = PathItem(PALETTE[0])
        self.map.addItem(self.path)
        self.heading = pg.PlotDataItem(pen=pg.mkPen(st.marker, width=2.5))
        self.position = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(st.marker),
                                           pen=pg.mkPen(st.background, width=1.5))
        self.map.addItem(self.heading)
        self.map.addItem(self.position)
        self.speed = Series()
        self.speed_line = LineItem(self.speed, PALETTE[2])
        self.plots[0].addItem(self.speed_line)
        self.refresh()

    def _ingest(self, i0: int, i1: int) -> None:
        s = self.store
        x, y = s.column("x")[i0:i1], s.column("y")[i0:i1]
        self.path.extend(x, y)
        self.speed.extend(s.t[i0:i1], s.column("spd")[i0:i1])
        self.speed_line.sync()
        # The current position, and its heading (0 = +y, 90 = +x) as a stroke whose
        # length is a fraction of the track's size, so it reads at any zoom.
        cx, cy = float(x[-1]), float(y[-1])
        hdg = math.radians(float(s.column("hdg")[i1 - 1]))
        rect = self.path.boundingRect()
        length = 0.08 * max(rect.width(), rect.height(), 10.0)
        self.position.setData([cx], [cy])
        self.heading.setData([cx, cx + length * math.sin(hdg)], [cy, cy + length * math.cos(hdg)])

    def _reset(self) -> None:
        self.path.x, self.path.y = _Column(), _Column()
        self.speed = self.speed_line.series = Series()
        self.speed_line.sync()

    def counts(self) -> dict[str, int]:
        return {"path_points": len(self.path), "drawn_path_points": self.path.drawn_points,
                "speed_points": len(self.speed), "drawn_speed_points": self.speed_line.drawn_points}
