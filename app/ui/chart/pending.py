"""A faded band over the entries a server has acknowledged but its model has not read yet
(app.core.progress): what is drawn solid is what the flash answers can know about."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor

PENDING_ALPHA = 150  # of the background colour laid over the unread entries
PENDING_Z = 50  # above the data, below crosshair and markers


class PendingShade:
    """One band per plot, over x0..x1 (candle indices or timestamps: the plot's own x)."""

    def __init__(self, plots: list[pg.PlotItem], background: str) -> None:
        colour = QColor(background)
        colour.setAlpha(PENDING_ALPHA)
        self.regions: list[pg.LinearRegionItem] = []
        for plot in plots:
            region = pg.LinearRegionItem(movable=False, brush=colour, pen=pg.mkPen(None))
            region.setZValue(PENDING_Z)
            region.setToolTip("Acknowledged by the server, not yet read by the model")
            region.hide()
            plot.addItem(region, ignoreBounds=True)
            self.regions.append(region)
        self.span: tuple[float, float] | None = None

    def show(self, x0: float, x1: float) -> None:
        if self.span == (x0, x1):
            return
        self.span = (x0, x1)
        for region in self.regions:
            region.setRegion((x0, x1))
            region.show()

    def hide(self) -> None:
        if self.span is None:
            return
        self.span = None
        for region in self.regions:
            region.hide()
