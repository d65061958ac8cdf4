"""Several instruments side by side: a grid of candle charts, one session each, with one
crosshair and one time range.

Charts are indexed by candle, and instruments need not share candles (gaps, different
starts), so the grid links them by *time*: the crosshair on one chart puts the others'
on their candle at that time, and a zoom or pan of one shows the same time span on
the others. Each cell is a `TraderChart` (timeframe, overlays, confidence panes); one
timeframe box drives them all. The grid repaints on its own display-rate timer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.core.timeframes import TIMEFRAMES
from app.ui.chart import CandleChart
from app.ui.trader import TraderChart

__all__ = ["InstrumentGrid"]

FRAME_MS = 16


def _time_at(t: np.ndarray, x: float) -> float:
    """The time at fractional candle index `x` (extrapolated past either end)."""
    n = len(t)
    if n == 0:
        return math.nan
    step = float(np.median(np.diff(t[-64:]))) if n > 1 else 60.0
    i = int(min(max(math.floor(x), 0), n - 1))
    return float(t[i]) + (x - i) * step


def _index_at(t: np.ndarray, ts: float) -> float:
    """The fractional candle index at time `ts` (inverse of `_time_at`)."""
    n = len(t)
    if n == 0:
        return 0.0
    step = float(np.median(np.diff(t[-64:]))) if n > 1 else 60.0
    if ts <= t[0]:
        return (ts - float(t[0])) / step
    i = int(np.searchsorted(t, ts, side="right")) - 1
    return i + (ts - float(t[i])) / step if i >= n - 1 else \
        i + (ts - float(t[i])) / max(float(t[i + 1] - t[i]), 1e-9)


class InstrumentGrid(QWidget):
    def __init__(self, models: list[Any], titles: list[str] | None = None,
                 parent: QWidget | None = None, *, timer: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle("Instruments")
        self.models = list(models)
        self.charts: list[CandleChart] = []
        self.cells: list[TraderChart] = []
        self._linking = False
        grid = QGridLayout()
        cols = max(1, math.ceil(math.sqrt(len(self.models))))
        for k, model in enumerate(self.models):
            chart = CandleChart(model.store)
            cell = TraderChart(chart, model)
            cell.show_overlay("SMA 20")
            box = QVBoxLayout()
            title = titles[k] if titles and k < len(titles) else model.title()
            box.addWidget(QLabel(f"<b>{title}</b>"))
            box.addWidget(chart, 1)
            holder = QWidget()
            holder.setLayout(box)
            grid.addWidget(holder, k // cols, k % cols)
            chart.hovered.connect(lambda i, src=chart: self._crosshair(src, i))
            chart.price_view.sigXRangeChanged.connect(
                lambda *_, src=chart: self._time_range(src))
            self.charts.append(chart)
            self.cells.append(cell)
        self.timeframe = QComboBox()
        self.timeframe.addItems(list(TIMEFRAMES))
        self.timeframe.currentTextChanged.connect(self.set_timeframe)
        top = QHBoxLayout()
        top.addWidget(QLabel("Timeframe"))
        top.addWidget(self.timeframe)
        top.addWidget(QLabel("· one crosshair and time range for all", objectName="muted"))
        top.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(grid, 1)
        self._timer: QTimer | None = None
        if timer:
            self._timer = QTimer(self, interval=FRAME_MS)
            self._timer.timeout.connect(self.refresh)
            self._timer.start()
        self.refresh()

    def set_timeframe(self, name: str) -> None:
        for cell in self.cells:
            cell.set_timeframe(name)

    def refresh(self) -> None:
        for chart, cell in zip(self.charts, self.cells, strict=True):
            chart.refresh()
            cell.refresh()

    def _crosshair(self, src: CandleChart, i: object) -> None:
        if self._linking:
            return
        self._linking = True
        try:
            ts = None if i is None or not len(src.store) else float(src.store.t[int(i)])
            for chart in self.charts:
                if chart is src:
                    continue
                j = None if ts is None else chart.store.index_at(ts)
                if j is None:
                    chart.hide_crosshair()
                else:
                    chart.show_crosshair(j)
        finally:
            self._linking = False

    def _time_range(self, src: CandleChart) -> None:
        if self._linking or not len(src.store):
            return
        self._linking = True
        try:
            x0, x1 = src.x_range()
            t0, t1 = _time_at(src.store.t, x0), _time_at(src.store.t, x1)
            for chart in self.charts:
                if chart is not src and len(chart.store):
                    t = chart.store.t
                    chart.set_x_range(_index_at(t, t0), _index_at(t, t1))
        finally:
            self._linking = False

    def time_range(self, chart: CandleChart) -> tuple[float, float]:
        """The time span `chart` shows (for tests)."""
        x0, x1 = chart.x_range()
        return _time_at(chart.store.t, x0), _time_at(chart.store.t, x1)


_open: list[InstrumentGrid] = []  # grids stay alive while shown (top-level windows)


def open_grid(window: Any) -> InstrumentGrid | None:
    """A grid of the window's open candle sessions (View ▸ Instrument grid)."""
    views = [v for v in window.views if getattr(v, "trader", None) is not None]
    if not views:
        window.statusBar().showMessage("Open a session with candles first: the grid shows "
                                       "the open candle sessions side by side.", 8000)
        return None
    grid = InstrumentGrid([v.model for v in views], [v.model.title() for v in views])
    grid.resize(1400, 800)
    grid.show()
    _open[:] = [g for g in _open if g.isVisible()] + [grid]
    return grid
