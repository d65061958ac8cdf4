"""The trader's tools on a session tab with a candle chart: timeframe, overlays, price
levels, a confidence pane per flash query, signal scores and alerts.

`TraderTools.install(view)` adds them to a SessionView (a row of controls above the
chart, panes inside it, a Scores / Alerts tab under it) and the view's display tick calls
`refresh()`: the timeframe's bars, the overlays and the panes follow the store
incrementally, alerts are evaluated on the bars that closed, scores are recomputed a
few times a second. Everything it decides is in app.core (timeframes, overlays,
scoring, alerts, webhook); this module only wires and draws.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QWidget,
)

from app.core.alerts import AlertEngine
from app.core.overlays import Overlay, make_overlay
from app.core.timeframes import TIMEFRAMES, TimeframeView
from app.ui.alerts_panel import AlertsPanel
from app.ui.chart.confidence_pane import ConfidencePane
from app.ui.chart.overlay_items import OVERLAY_COLOURS, OverlayItem, PriceLevels
from app.ui.chart.widget import CandleChart
from app.ui.flash_panel import display_query
from app.ui.score_panel import ScorePanel

__all__ = ["OVERLAYS", "TraderTools"]

OVERLAYS = ("SMA 20", "EMA 50", "VWAP", "BB 20 2")
DEFAULT_OVERLAYS = ("SMA 20", "EMA 50")


class TraderChart:
    """What the trader sees on one candle chart: the candles at a timeframe, overlays,
    price levels and a confidence pane per flash query (the grid's cells use it too)."""

    def __init__(self, chart: CandleChart, model: Any) -> None:
        self.chart = chart
        self.model = model
        self.timeframe = TimeframeView(model.store)
        self.levels = PriceLevels(chart)
        # One overlay per (spec, timeframe): a timeframe shown before switches back at once.
        self._overlays: dict[tuple[str, float | None], Overlay] = {}
        self.items: dict[str, OverlayItem] = {}
        self.panes: dict[int, ConfidencePane] = {}

    def set_timeframe(self, name: str | None) -> None:
        """Show bars of `name` ("1m", "5m", ... or None: as the candles come)."""
        self.timeframe.set_timeframe(TIMEFRAMES.get(name) if name else None)
        for spec, item in self.items.items():
            item.overlay = self._overlay(spec)
        self.chart.set_store(self.timeframe.store)
        self.sync_drawn()

    def show_overlay(self, spec: str, on: bool = True) -> None:
        if not on:
            item = self.items.pop(spec, None)
            if item is not None:
                item.remove()
            return
        if spec in self.items:
            return
        k = OVERLAYS.index(spec) if spec in OVERLAYS else len(self.items)
        self.items[spec] = item = OverlayItem(self.chart, self._overlay(spec),
                                              OVERLAY_COLOURS[k % len(OVERLAY_COLOURS)])
        item.sync()

    def _overlay(self, spec: str) -> Overlay:
        key = (spec, self.timeframe.seconds)
        ov = self._overlays.get(key)
        if ov is None:
            ov = self._overlays[key] = make_overlay(spec)
        return ov

    def sync_panes(self) -> None:
        board = self.model.board
        ids = list(board.queries)
        for qid in list(self.panes):
            if qid not in ids:
                self.panes.pop(qid).close()
        for qid in ids:
            if qid not in self.panes:
                self.panes[qid] = ConfidencePane(self.chart, self.model.signals, qid,
                                                 display_query(board.queries[qid].query))

    def sync_drawn(self) -> None:
        for item in self.items.values():
            item.sync()
        for pane in self.panes.values():
            pane.refresh()

    def refresh(self) -> None:
        """Display tick, after the chart's own refresh."""
        if self.timeframe.sync():
            self.chart.refresh()
        self.sync_panes()
        self.sync_drawn()


class TraderTools:
    """The tools of one session tab (see the module docstring)."""

    def __init__(self, view: QWidget, chart: CandleChart) -> None:
        self.view = view
        self.chart = chart
        model = view.model  # type: ignore[attr-defined]
        self.model = model
        self.view_chart = TraderChart(chart, model)
        self.engine = AlertEngine(self._query_text)
        # --- controls above the chart
        self.tf_box = QComboBox()
        self.tf_box.addItems(list(TIMEFRAMES))
        self.tf_box.setToolTip("Bars of this timeframe, built from the candles in memory")
        self.tf_box.currentTextChanged.connect(self.set_timeframe)
        self.overlay_boxes: dict[str, QCheckBox] = {}
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Timeframe"))
        row.addWidget(self.tf_box)
        row.addSpacing(12)
        for k, spec in enumerate(OVERLAYS):
            box = QCheckBox(spec)
            box.setStyleSheet(f"color: {OVERLAY_COLOURS[k]}")
            box.toggled.connect(lambda on, s=spec: self.view_chart.show_overlay(s, on))
            self.overlay_boxes[spec] = box
            row.addWidget(box)
        row.addSpacing(12)
        hint = QLabel("double-click the prices: a level · double-click a level: remove",
                      objectName="muted")
        row.addWidget(hint)
        row.addStretch(1)
        self.replay_btn = QPushButton("Replay && score…")
        self.replay_btn.setToolTip("Replay a CSV file at full speed into this session and "
                                   "score its flash answers as they come")
        self.replay_btn.clicked.connect(self._replay_clicked)
        row.addWidget(self.replay_btn)
        self.controls = QWidget()
        self.controls.setLayout(row)
        # Like the status strip: a narrow window cuts the row (the hint first), never grows.
        hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.controls.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # --- under the chart
        self.scores = ScorePanel(model)
        self.alerts = AlertsPanel(model, self.engine)
        self.alerts.notify.connect(view.notify)  # type: ignore[attr-defined]
        self.tabs = QTabWidget()
        self.tabs.addTab(self.scores, "Signal scores")
        self.tabs.addTab(self.alerts, "Alerts")
        for spec in DEFAULT_OVERLAYS:
            self.overlay_boxes[spec].setChecked(True)

    @classmethod
    def install(cls, view: QWidget) -> TraderTools | None:
        """Add the tools to a SessionView whose plot is a candle chart (else None)."""
        chart = getattr(view, "chart", None)
        if not isinstance(chart, CandleChart):
            return None
        tools = cls(view, chart)
        layout = view.layout()
        layout.insertWidget(2, tools.controls)  # under the status strip and note
        split = view.split  # type: ignore[attr-defined]
        # The flash answers become the first tab beside the scores and alerts: one band
        # under the chart, so the chart and its confidence panes keep their height.
        flash_box = split.widget(1)
        if flash_box is not None:
            tools.tabs.insertTab(0, flash_box, "Flash answers")
            tools.tabs.setCurrentIndex(0)
        split.insertWidget(1, tools.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([540, 320])
        # A closed tab closes its webhook client (on the loop, if it still runs).
        view.destroyed.connect(tools.close)
        return tools

    # ------------------------------------------------------------------ intents
    def set_timeframe(self, name: str | None) -> None:
        self.view_chart.set_timeframe(name)
        if name and self.tf_box.currentText() != name:
            self.tf_box.blockSignals(True)
            self.tf_box.setCurrentText(name)
            self.tf_box.blockSignals(False)

    def show_overlay(self, spec: str, on: bool = True) -> None:
        box = self.overlay_boxes.get(spec)
        if box is not None:
            box.setChecked(on)  # and the box's signal shows it
        else:
            self.view_chart.show_overlay(spec, on)

    @property
    def panes(self) -> dict[int, ConfidencePane]:
        return self.view_chart.panes

    @property
    def timeframe(self) -> TimeframeView:
        return self.view_chart.timeframe

    def _replay_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.view, "Replay a CSV file and score it", "",
                                              "CSV files (*.csv *.txt);;All files (*)")
        if path:
            self.view.start_csv(path, math.inf)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        """Display tick (after the view refreshed the chart)."""
        self.view_chart.refresh()
        # Bars close on the candles as they arrive, whatever timeframe is shown.
        self.engine.evaluate(self.model.store, self.model.signals)
        if self.scores.isVisible():
            self.scores.refresh()
        self.alerts.refresh()  # its delivery states change while hidden too (cheap if not)

    def tick_hidden(self) -> None:
        """Display tick while the tab is hidden: alerts still fire on bar closes."""
        self.engine.evaluate(self.model.store, self.model.signals)

    def _query_text(self, qid: int) -> str:
        q = self.model.board.queries.get(qid)
        return display_query(q.query) if q else f"query {qid}"

    def close(self) -> None:
        self.alerts.close_sender()
