"""A server's figure over hours or days from Prometheus, with the live figures beside it.

The long-range curve is what Prometheus kept (app.core.prometheus_history); the short
bright one is what the dashboard measured itself since it started (the fleet row's live
samples). Without a Prometheus URL only the live curve is drawn and the graph says so.
"""

from __future__ import annotations

import math
import time

import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.core.fleet import FleetServer
from app.core.prometheus_history import FIGURES, HistoryError, PrometheusHistory, Series
from app.ui import theme
from app.ui.tasks import spawn

RANGES = (("last hour", 3600.0), ("last 6 hours", 6 * 3600.0), ("last 24 hours", 86400.0),
          ("last 7 days", 7 * 86400.0), ("last 5 minutes", 300.0))
# Which live sample of a fleet row matches a Prometheus figure (drawn beside it).
LIVE_OF = {"tokens_per_s": "tokens_rate", "entries_per_s": "ingest_rate", "queue": "queue",
           "sessions": "sessions"}
RELOAD_SECONDS = 30.0


class HistoryGraph(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source: PrometheusHistory | None = None
        self.row: FleetServer | None = None
        self.series: Series | None = None  # what Prometheus answered last
        self._loading = False
        self._loaded_at = 0.0
        self._seen: tuple[object, ...] = ()
        self.figure = QComboBox()
        for key, (title, _unit, _rec, _raw) in FIGURES.items():
            self.figure.addItem(title, key)
        self.range = QComboBox()
        for title, seconds in RANGES:
            self.range.addItem(title, seconds)
        self.figure.currentIndexChanged.connect(self.reload)
        self.range.currentIndexChanged.connect(self.reload)
        self.title = QLabel("History")
        self.title.setObjectName("muted")
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
        self.plot.setBackground(theme.PANEL)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.addLegend(offset=(8, 8))
        self.curve = self.plot.plot([], [], name="Prometheus",
                                    pen=pg.mkPen(theme.ACCENT, width=1.5),
                                    symbol="o", symbolSize=3, symbolBrush=theme.ACCENT,
                                    symbolPen=None)
        self.live = self.plot.plot([], [], name="live (this dashboard)",
                                   pen=pg.mkPen(theme.WARN, width=2))
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.figure)
        top.addWidget(self.range)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addWidget(self.plot, 1)

    def figure_key(self) -> str:
        return str(self.figure.currentData())

    def seconds(self) -> float:
        return float(self.range.currentData())

    def select_figure(self, key: str) -> None:
        self.figure.setCurrentIndex(self.figure.findData(key))

    def select_range(self, seconds: float) -> None:
        self.range.setCurrentIndex(self.range.findData(seconds))

    def show_server(self, row: FleetServer | None, source: PrometheusHistory | None) -> None:
        changed = row is not self.row or source is not self.source
        self.row, self.source = row, source
        if changed:
            self.series = None
            self.curve.setData([], [])
            self.reload()

    def reload(self) -> None:
        """Ask Prometheus again (on the loop; the GUI never waits for it)."""
        self._loaded_at = time.monotonic()
        row, source = self.row, self.source
        if row is None:
            self.title.setText("History: select a server")
            return
        title, unit, _rec, _raw = FIGURES[self.figure_key()]
        self.title.setText(f"{row.label}: {title} ({unit})")
        if source is None:
            self.note.setText("No Prometheus URL set: showing the live figures this dashboard "
                              "measured since it started.")
            self.note.show()
            return
        if self._loading:
            return
        self._loading = True
        key, seconds = self.figure_key(), self.seconds()

        async def load() -> None:
            try:
                series = await source.figure(row.url, key, seconds)
            except HistoryError as exc:
                self._show_error(str(exc))
                return
            finally:
                self._loading = False
            if row is self.row and source is self.source and key == self.figure_key():
                self.show_series(series)

        spawn(load(), on_error=self._show_error)

    def _show_error(self, message: str) -> None:
        self.note.setText(message)
        self.note.show()

    def show_series(self, series: Series) -> None:
        self.series = series
        self.curve.setData(series.times, series.values)
        if series.times:
            self.note.hide()
        else:
            self.note.setText("Prometheus has no samples of this server in this range yet "
                              "(is it scraping it? see resources/monitoring/prometheus.yml).")
            self.note.show()

    def refresh(self) -> None:
        """Display-rate tick: the live curve when the row changed; reload now and then."""
        row = self.row
        if row is None:
            return
        key = LIVE_OF.get(self.figure_key())
        seen = (id(row), row.version, key)
        if seen != self._seen:
            self._seen = seen
            if key is None:
                self.live.setData([], [])
            else:
                pairs = [(t, v) for t, v in zip(row.spark_times, row.spark[key], strict=False)
                         if not math.isnan(v)]
                self.live.setData([t for t, _ in pairs], [v for _, v in pairs])
        if self.source is not None and time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            self.reload()

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        hint.setHeight(max(hint.height(), 220))
        return hint
