"""VitalsPlot: heart rate, blood pressure, SpO2 and temperature as linked stacked plots,
the clinical thresholds the statistics use drawn as bands, episodes shaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.streams.vitals import FEVER_C, FEVER_F, THRESHOLDS, Vitals
from app.ui.chart.style import ChartStyle
from app.ui.plots.frame import PALETTE, TimePlots
from app.ui.plots.items import LineItem, SpansItem
from app.ui.plots.series import Series

__all__ = ["VitalsPlot"]

# (row title, fields drawn in it, row height)
_ROWS = (("heart rate /min", ("hr",), 3), ("blood pressure mmHg (sys / dia)", ("bp_s", "bp_d"), 3),
         ("SpO2 %", ("spo2",), 2), ("temperature °C", ("temp",), 2))
_ALERT_COLOUR = "#ef5350"


def _condition(alert: str, threshold: float, side: str) -> Callable[[np.ndarray], np.ndarray]:
    if alert == "fever":  # Celsius or Fahrenheit, as the statistics decide
        return lambda v: np.where(v > 50, v >= FEVER_F, v >= FEVER_C)
    return (lambda v: v > threshold) if side == "above" else (lambda v: v < threshold)


class ThresholdItem(pg.GraphicsObject):
    """A clinical threshold: the band beyond it shaded, a dotted line, the alert's name.

    One light item instead of a region, a line and a label: those three recompute their
    bounds on every view change, which cost a following vitals plot about 2 ms a frame.
    """

    def __init__(self, name: str, level: float, side: str) -> None:
        super().__init__()
        self.name, self.level, self.side = name, level, side
        fill = QColor(_ALERT_COLOUR)
        fill.setAlpha(24)
        self._brush = QBrush(fill)
        self._pen = QPen(QColor(_ALERT_COLOUR), 0, Qt.PenStyle.DotLine)
        self._text = QColor(_ALERT_COLOUR)
        self.setZValue(0)

    def boundingRect(self) -> QRectF:
        vb = self.getViewBox()
        return vb.viewRect() if vb is not None else QRectF()

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()
        self.update()

    def dataBounds(self, ax: int, frac: float = 1.0,
                   orthoRange: tuple[float, float] | None = None) -> tuple[float, float] | None:
        return None

    def paint(self, p: QPainter, *args: object) -> None:
        view = self.getViewBox()
        if view is None:
            return
        rect = view.viewRect()
        top, bottom = rect.top(), rect.bottom()  # y grows upwards in data units
        lo, hi = (self.level, max(bottom, top)) if self.side == "above" else (
            min(bottom, top), self.level)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self._brush)
        p.drawRect(QRectF(rect.left(), lo, rect.width(), hi - lo))
        p.setPen(self._pen)
        p.drawLine(QPointF(rect.left(), self.level), QPointF(rect.right(), self.level))
        # The name in device pixels (text in data units would be scaled), right-aligned
        # just inside the band.
        anchor = p.transform().map(QPointF(rect.right(), self.level))
        p.save()
        p.resetTransform()
        p.setPen(self._text)
        metrics = p.fontMetrics()
        width = metrics.horizontalAdvance(self.name)
        y = anchor.y() - 3 if self.side == "above" else anchor.y() + metrics.ascent() + 2
        p.drawText(QPointF(anchor.x() - width - 6, y), self.name)
        p.restore()


class LevelGuide(pg.GraphicsObject):
    """Draws nothing; makes the row's auto-range always include a threshold and a little
    of the band beyond it, in sight before the patient crosses it (as on a bedside
    monitor)."""

    def __init__(self, *levels: float) -> None:
        super().__init__()
        self.lo, self.hi = min(levels), max(levels)

    def boundingRect(self) -> QRectF:
        return QRectF()

    def dataBounds(self, ax: int, frac: float = 1.0,
                   orthoRange: tuple[float, float] | None = None) -> tuple[float, float] | None:
        return (self.lo, self.hi) if ax == 1 else None

    def paint(self, *args: object) -> None:
        pass


@dataclass
class _Alert:
    name: str
    field: str
    condition: Callable[[np.ndarray], np.ndarray]
    spans: SpansItem
    active: bool = False  # the newest reading is in an episode


class VitalsPlot(TimePlots):
    def __init__(self, store: Any, parent: QWidget | None = None, *,
                 style: ChartStyle | None = None) -> None:
        super().__init__(Vitals, store, [(title, h) for title, _, h in _ROWS], parent,
                         style=style)
        self._series: dict[str, Series] = {}
        self._lines: dict[str, LineItem] = {}
        row_of = {f: self.plots[i] for i, (_, fields, _) in enumerate(_ROWS) for f in fields}
        for plot in self.plots:
            plot.getViewBox().setDefaultPadding(0.15)  # the row's title sits above its line
        colours = iter(PALETTE)
        for _, fields, _ in _ROWS:
            for name in fields:
                series = self._series[name] = Series()
                line = self._lines[name] = LineItem(series, next(colours))
                line.setZValue(2)
                row_of[name].addItem(line)
        self._alerts: list[_Alert] = []
        for alert, name, threshold, side in THRESHOLDS:
            plot = row_of[name]
            plot.addItem(ThresholdItem(alert, threshold, side))
            # A little of the band beyond the line stays in sight, with the alert's name.
            plot.addItem(LevelGuide(threshold, threshold * (1.06 if side == "above" else 0.96)))
            spans = SpansItem(_ALERT_COLOUR, alpha=45)
            spans.setZValue(1)
            plot.addItem(spans)
            self._alerts.append(_Alert(alert, name, _condition(alert, threshold, side), spans))
        self.refresh()

    def _ingest(self, i0: int, i1: int) -> None:
        t = self.store.t[i0:i1]
        for name, series in self._series.items():
            series.extend(t, self.store.column(name)[i0:i1])
            self._lines[name].sync()
        for alert in self._alerts:
            self._extend_episodes(alert, t, alert.condition(self.store.column(alert.field)[i0:i1]))

    @staticmethod
    def _extend_episodes(alert: _Alert, t: np.ndarray, flags: np.ndarray) -> None:
        # An episode is a run of consecutive readings meeting the condition (as the
        # statistics count them); a run that goes on across batches stays one span.
        ext = np.concatenate(([alert.active], flags))
        starts = np.flatnonzero(~ext[:-1] & ext[1:])
        ends = np.flatnonzero(ext[:-1] & ~ext[1:])  # first reading after the run
        if alert.active:
            close = ends[0] if len(ends) else len(t)
            if close > 0:
                alert.spans.extend_last(float(t[close - 1]))
            ends = ends[1:] if len(ends) else ends
        for k, start in enumerate(starts):
            stop = ends[k] if k < len(ends) else len(t)
            alert.spans.add(float(t[start]), float(t[stop - 1]))
        alert.active = bool(flags[-1]) if len(flags) else alert.active

    def _reset(self) -> None:
        for name in self._series:
            self._series[name] = Series()
            self._lines[name].series = self._series[name]
            self._lines[name].sync()

    def episodes(self) -> dict[str, int]:
        return {a.name: len(a.spans) for a in self._alerts}

    def counts(self) -> dict[str, int]:
        return {
            "points": sum(len(s) for s in self._series.values()),
            "drawn_points": sum(line.drawn_points for line in self._lines.values()),
            "series": len(self._series),
            "episodes": sum(len(a.spans) for a in self._alerts),
        }
