"""How good a flash signal has been (app.core.scoring), for one query at a time.

The user picks the query, what "yes" means (up or down) and over how many candles;
the panel shows hit rate, signal count and the follow-the-signal return against buy
and hold, a calibration table by confidence bucket and a reliability plot (hit rate
against mean p per bucket, with the diagonal a calibrated model would sit on).
Scores are recomputed at most SCORE_HZ times a second, from the session's store at
the candles' own timeframe.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.scoring import Direction, Score, ScoreSpec, score
from app.core.session import SessionModel
from app.ui import theme
from app.ui.flash_panel import display_query

__all__ = ["ScorePanel"]

SCORE_HZ = 4.0
HEADERS = ("p bucket", "signals", "hits", "hit rate", "mean p")


def pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x * 100:+.1f} %" if signed else f"{x * 100:.0f} %"


class ScorePanel(QWidget):
    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.query = QComboBox()
        self.query.setMinimumWidth(220)
        self.yes_means = QComboBox()
        self.yes_means.addItems(["up", "down"])
        self.horizon = QSpinBox(minimum=1, maximum=500, value=5)
        self.horizon.setSuffix(" candles")
        for w in (self.query, self.yes_means, self.horizon):
            (w.currentIndexChanged if isinstance(w, QComboBox) else w.valueChanged).connect(
                self._changed)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Score"))
        controls.addWidget(self.query, 1)
        controls.addWidget(QLabel("“yes” means the close is"))
        controls.addWidget(self.yes_means)
        controls.addWidget(QLabel("after"))
        controls.addWidget(self.horizon)
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(21)  # all six rows in view
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumWidth(320)
        self.plot = pg.PlotWidget(background=theme.BG)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(False, False)
        self.plot.setXRange(0.5, 1.0, padding=0.02)
        self.plot.setYRange(0.0, 1.0, padding=0.02)
        self.plot.setLabel("bottom", "mean p")
        self.plot.setLabel("left", "hit rate")
        self.plot.setMinimumWidth(180)
        diagonal = pg.mkPen(theme.MUTED, style=Qt.PenStyle.DashLine)
        self.plot.plot([0.5, 1.0], [0.5, 1.0], pen=diagonal)
        self.points = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(theme.ACCENT), pen=None)
        self.curve = self.plot.plot([], [], pen=pg.mkPen(theme.ACCENT, width=1.5))
        self.plot.addItem(self.points)
        body = QHBoxLayout()
        body.addWidget(self.table, 3)
        body.addWidget(self.plot, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.addLayout(controls)
        lay.addWidget(self.summary)
        lay.addLayout(body, 1)
        self.result: Score | None = None
        self._key: tuple[object, ...] | None = None
        self._last = 0.0
        self._queries: list[int] = []
        self.refresh()

    def spec(self) -> ScoreSpec:
        return ScoreSpec(Direction(self.yes_means.currentText()), self.horizon.value())

    def query_id(self) -> int | None:
        i = self.query.currentIndex()
        return self._queries[i] if 0 <= i < len(self._queries) else None

    def select(self, query_id: int, yes_means: str = "up", horizon: int = 5) -> None:
        self._sync_queries()
        if query_id in self._queries:
            self.query.setCurrentIndex(self._queries.index(query_id))
        self.yes_means.setCurrentText(yes_means)
        self.horizon.setValue(horizon)
        self.refresh(force=True)

    def _changed(self, *args: object) -> None:
        self.refresh(force=True)

    def _sync_queries(self) -> None:
        board = self.model.board
        ids = list(board.queries)
        for qid in self.model.signals.query_ids():
            if qid not in ids:
                ids.append(qid)
        if ids == self._queries:
            return
        keep = self.query_id()
        self.query.blockSignals(True)
        self.query.clear()
        for qid in ids:
            q = board.queries.get(qid)
            self.query.addItem(display_query(q.query) if q else f"query {qid} (removed)")
        self._queries = ids
        if keep in ids:
            self.query.setCurrentIndex(ids.index(keep))
        self.query.blockSignals(False)

    def refresh(self, force: bool = False) -> bool:
        m = self.model
        now = time.monotonic()
        if not force and now - self._last < 1.0 / SCORE_HZ:
            return False
        self._sync_queries()
        qid = self.query_id()
        key = (qid, self.spec(), m.signals.version, m.store.version, m.store.epoch)
        if key == self._key:
            return False
        self._key, self._last = key, now
        if qid is None:
            self.result = None
            self.summary.setText(f"<span style='color:{theme.MUTED}'>No flash query to score "
                                 "yet.</span>")
            self.table.setRowCount(0)
            return True
        self.result = s = score(m.signals.for_query(qid), m.store.t, m.store.c, self.spec())
        self._show(s)
        return True

    def _show(self, s: Score) -> None:
        rate = pct(s.hit_rate)
        colour = theme.MUTED if s.hit_rate is None else theme.OK if s.hit_rate > 0.5 else \
            theme.ERROR
        beat = s.strategy_return - s.hold_return
        self.summary.setText(
            f"hit rate <b style='color:{colour}'>{rate}</b> of <b>{s.signals}</b> signals "
            f"({s.hits} hits) · {s.pending} waiting for their outcome · {s.other} neither "
            f"yes nor no · follow the signal <b>{pct(s.strategy_return, True)}</b> vs buy & "
            f"hold {pct(s.hold_return, True)} (<span style='color:"
            f"{theme.OK if beat >= 0 else theme.ERROR}'>{pct(beat, True)}</span>, "
            f"{s.trades} position changes)")
        self.table.setRowCount(len(s.buckets) + 1)
        rows = [(f"{b.lo:.1f}–{b.hi:.1f}", b.signals, b.hits, b.hit_rate, b.mean_p)
                for b in s.buckets]
        rows.append(("all", s.signals, s.hits, s.hit_rate, None))
        for r, (name, n, hits, rate_, mean_p) in enumerate(rows):
            cells = (name, str(n), str(hits), pct(rate_), "–" if mean_p is None else
                     f"{mean_p:.2f}")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if c == 3 and rate_ is not None:
                    item.setForeground(QColor(theme.OK if rate_ > 0.5 else theme.ERROR))
                self.table.setItem(r, c, item)
        pts = [(b.mean_p, b.hit_rate) for b in s.buckets if b.signals and b.mean_p is not None]
        xs = np.array([p[0] for p in pts]) if pts else np.empty(0)
        ys = np.array([p[1] for p in pts]) if pts else np.empty(0)
        sizes = [6 + min(14, b.signals ** 0.5 * 2) for b in s.buckets if b.signals]
        self.points.setData(xs, ys, size=sizes)
        self.curve.setData(xs, ys)

    def table_text(self) -> list[list[str]]:
        """The calibration table as shown (for tests)."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]
