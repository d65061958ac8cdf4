"""A faded band over the entries a server has acknowledged but its model has not read yet
(app.core.progress): what is drawn solid is what the flash answers can know about."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

PENDING_ALPHA = 120  # of the background colour laid over the unread entries
PENDING_EDGE = "#8a93a6"
PENDING_Z = 50  # above the data, below crosshair and markers
LABEL = "queued · not read by the model yet"


class PendingShade:
    """One band per plot, over x0..x1 (candle indices or timestamps: the plot's own x);
    a dashed edge where the model's reading stops, and a label in the first plot."""

    def __init__(self, plots: list[pg.PlotItem], background: str) -> None:
        colour = QColor(background)
        colour.setAlpha(PENDING_ALPHA)
        edge = pg.mkPen(PENDING_EDGE, width=1, style=Qt.PenStyle.DashLine)
        self.regions: list[pg.LinearRegionItem] = []
        self._plots = plots
        for _plot in plots:
            region = pg.LinearRegionItem(movable=False, brush=colour, pen=edge)
            region.setZValue(PENDING_Z)
            region.setToolTip("Acknowledged by the server, not yet read by the model")
            region.lines[1].setPen(pg.mkPen(None))  # only where reading stops is marked
            self.regions.append(region)
        self.label = pg.InfLineLabel(self.regions[0].lines[0], LABEL, position=0.96,
                                     rotateAxis=(1, 0), anchor=(0, 0),
                                     color=PENDING_EDGE) if self.regions else None
        self.span: tuple[float, float] | None = None

    # The bands are in their plots only while shown: a hidden pyqtgraph region still
    # recomputes its lines' bounds on every range change, i.e. every frame of a live chart.
    def show(self, x0: float, x1: float) -> None:
        if self.span == (x0, x1):
            return
        if self.span is None:
            for plot, region in zip(self._plots, self.regions, strict=True):
                plot.addItem(region, ignoreBounds=True)
        self.span = (x0, x1)
        for region in self.regions:
            region.setRegion((x0, x1))

    def hide(self) -> None:
        if self.span is None:
            return
        self.span = None
        for plot, region in zip(self._plots, self.regions, strict=True):
            plot.removeItem(region)
