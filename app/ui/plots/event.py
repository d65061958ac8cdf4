"""EventPlot: a timeline of events coloured by severity, one lane per source (or per
category, switchable); zoomed out, counts per time bin instead of single events."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.streams.event import CRITICAL_SEVERITY, MAX_SEVERITY_SHOWN, Event
from app.ui.chart.style import ChartStyle
from app.ui.plots.frame import TimePlots

__all__ = ["EventPlot"]

# Severity 0..5: quiet grey-blue up to red; critical (>= 4) in the warm colours.
SEVERITY_COLOURS = ("#5c6b7f", "#4c9aff", "#26a69a", "#f0b429", "#f57c00", "#ef5350")
_BIN_PX = 4  # width of a count bin when zoomed out
_EVENT_PX = 3  # width of one event's mark


class TimelineItem(pg.GraphicsObject):
    """Reads the store's columns directly: time, lane code (src or cat), sev, cnt."""

    def __init__(self, store: Any) -> None:
        super().__init__()
        self.store = store
        self.lane_field = "src"
        self._brushes = [pg.mkBrush(c) for c in SEVERITY_COLOURS]
        self._pen = pg.mkPen(None)
        self.mode = "events"  # or "bins"
        self.drawn = 0  # events or bins of the last paint

    @property
    def lanes(self) -> list[str]:
        return self.store.labels(self.lane_field)

    def changed(self) -> None:
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:
        n = len(self.store)
        if not n:
            return QRectF()
        t = self.store.t
        return QRectF(float(t[0]), -0.5, float(t[-1] - t[0]) or 1.0, max(1, len(self.lanes)))

    def dataBounds(self, ax: int, frac: float = 1.0,
                   orthoRange: tuple[float, float] | None = None) -> tuple[float, float] | None:
        if not len(self.store):
            return None
        if ax == 0:
            return float(self.store.t[0]), float(self.store.t[-1])
        return -0.6, len(self.lanes) - 0.4

    def paint(self, p: QPainter, *args: object) -> None:
        vb = self.getViewBox()
        if vb is None or not len(self.store):
            return
        (x0, x1), _ = vb.viewRange()
        px = max(1.0, vb.width())
        t = self.store.t
        i0 = int(np.searchsorted(t, x0, side="left"))
        i1 = int(np.searchsorted(t, x1, side="right"))
        per_px = (x1 - x0) / px
        lane = self.store.column(self.lane_field)[i0:i1].astype(np.int64)
        sev = np.clip(self.store.column("sev")[i0:i1], 0, MAX_SEVERITY_SHOWN).astype(np.int64)
        p.setPen(self._pen)
        if i1 - i0 <= px / (2 * _EVENT_PX):
            self.mode = "events"
            self.drawn = i1 - i0
            w = _EVENT_PX * per_px
            for s in np.unique(sev):
                p.setBrush(self._brushes[s])
                for x, y in zip(t[i0:i1][sev == s], lane[sev == s], strict=True):
                    p.drawRect(QRectF(float(x) - w / 2, float(y) - 0.32, w, 0.64))
            return
        # Zoomed out: per lane and bin, the sum of cnt (bar height, log scale) and the
        # highest severity (colour). Bins are aligned to absolute time: panning keeps them.
        self.mode = "bins"
        width = _BIN_PX * per_px
        first = math.floor(x0 / width)
        bins = (np.floor(t[i0:i1] / width) - first).astype(np.int64)
        nb = int(bins.max()) + 1 if len(bins) else 0
        key = lane * nb + bins
        total = np.bincount(key, weights=self.store.column("cnt")[i0:i1],
                            minlength=len(self.lanes) * nb)
        top = np.zeros_like(total, dtype=np.int64)
        for s in range(1, MAX_SEVERITY_SHOWN + 1):
            top[np.bincount(key[sev >= s], minlength=len(total)) > 0] = s
        shown = np.flatnonzero(total > 0)
        self.drawn = len(shown)
        scale = math.log1p(float(total.max())) if len(shown) else 1.0
        for s in np.unique(top[shown]):
            p.setBrush(self._brushes[s])
            for k in shown[top[shown] == s]:
                h = 0.2 + 0.6 * math.log1p(float(total[k])) / scale
                p.drawRect(QRectF((first + k % nb) * width, k // nb - h / 2, width * 0.9, h))


class EventPlot(TimePlots):
    def __init__(self, store: Any, parent: QWidget | None = None, *,
                 style: ChartStyle | None = None) -> None:
        super().__init__(Event, store, [("", 1)], parent, style=style)
        self.plot = self.plots[0]
        self.timeline = TimelineItem(store)
        self.plot.addItem(self.timeline)
        self.plot.showGrid(x=False, y=False)
        self._lanes_seen = 0
        self.lane_box = QComboBox()
        self.lane_box.addItems(["source", "category"])
        self.lane_box.currentIndexChanged.connect(
            lambda i: self.set_lanes("src" if i == 0 else "cat"))
        legend = "  ".join(f"<span style='color:{c}'>■</span> {s}" for s, c in
                           enumerate(SEVERITY_COLOURS))
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 2, 8, 0)
        bar.addWidget(QLabel("Lanes"))
        bar.addWidget(self.lane_box)
        bar.addSpacing(16)
        bar.addWidget(QLabel(f"severity {legend} (critical ≥ {CRITICAL_SEVERITY})"))
        bar.addStretch(1)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertLayout(0, bar)
        self.refresh()

    def set_lanes(self, field: str) -> None:
        """One lane per source ("src") or per category ("cat")."""
        self.timeline.lane_field = field
        self._lanes_seen = -1
        self._update_lanes()
        self.timeline.changed()

    def _ingest(self, i0: int, i1: int) -> None:
        self._update_lanes()
        self.timeline.changed()

    def _update_lanes(self) -> None:
        lanes = self.timeline.lanes
        if len(lanes) != self._lanes_seen:
            self._lanes_seen = len(lanes)
            self.plot.getAxis("right").setTicks([[(i, name) for i, name in enumerate(lanes)]])
            self.plot.getViewBox().setYRange(-0.6, len(lanes) - 0.4, padding=0)

    def counts(self) -> dict[str, int]:
        return {"events": len(self.store), "lanes": len(self.timeline.lanes),
                "drawn": self.timeline.drawn, "bins": int(self.timeline.mode == "bins")}
