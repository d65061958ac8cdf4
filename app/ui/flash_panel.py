"""The flash panel: each query's latest answer, confidence, version, freshness and history."""

from __future__ import annotations

import re
import time
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.confidence import describe, level
from app.core.flash import Answer, FlashQueryState
from app.core.progress import Freshness, Verdict
from app.core.session import SessionModel
from app.ui import theme
from app.ui.durations import duration

HEADERS = ("Query", "Answer", "Confidence", "Version", "State", "Age")
C_QUERY, C_ANSWER, C_CONF, C_VERSION, C_STATE, C_AGE = range(6)
GAP_ROLE = Qt.ItemDataRole.UserRole + 1
QID_ROLE = Qt.ItemDataRole.UserRole + 2
BAR_FULL_GAP = 6.0  # a gap this large fills the bar (p ~ 0.998)
ROW_HEIGHT = 24


_CHATML = re.compile(r"<\|im_(start|end)\|>(system|user|assistant)?")


def display_query(query: str) -> str:
    """The question as a person reads it, without prompt scaffolding (ChatML tags,
    "Question:" / "Answer:" frames) some queries carry for the model's sake."""
    text = " ".join(_CHATML.sub(" ", query).split())
    text = re.sub(r"^(question|q)\s*:\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s*(answer|a)\s*:\s*$", "", text, flags=re.IGNORECASE)
    return text or query.strip()


class ConfidenceDelegate(QStyledItemDelegate):
    """A bar coloured by level on the left, the gap and odds as text on the right."""

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(hint.width(), max(hint.height(), ROW_HEIGHT))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        gap = index.data(GAP_ROLE)
        if gap is None:
            super().paint(painter, option, index)
            return
        gap = float(gap)
        cell = QRect(option.rect)  # type: ignore[attr-defined]
        bar_w = max(24, int(cell.width() * 0.35))
        track = QRect(cell.left() + 4, cell.center().y() - 4, bar_w, 8)
        painter.save()
        painter.fillRect(track, QColor(theme.RAISED))
        fill = QRect(track)
        fill.setWidth(max(2, int(track.width() * min(1.0, gap / BAR_FULL_GAP))))
        painter.fillRect(fill, QColor(theme.LEVEL_COLOURS[level(gap).value]))
        text_rect = QRect(track.right() + 8, cell.top(), cell.right() - track.right() - 10,
                          cell.height())
        painter.setPen(QColor(theme.TEXT))
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                         describe(gap))
        painter.restore()


class FlashPanel(QWidget):
    add_requested = Signal(str)
    remove_requested = Signal(int)
    flipped = Signal(str, str, str)  # query, before, after (for tray notifications)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.tree = QTreeWidget()
        theme.opaque_viewport(self.tree)
        self.tree.setHeaderLabels(list(HEADERS))
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setItemDelegateForColumn(C_CONF, ConfidenceDelegate(self.tree))
        self.tree.setWordWrap(False)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(C_QUERY, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(C_ANSWER, QHeaderView.ResizeMode.Stretch)
        for col, width in ((C_CONF, 190), (C_VERSION, 70), (C_STATE, 230), (C_AGE, 64)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.tree.setColumnWidth(col, width)
        self.new_query = QLineEdit(placeholderText="Add a flash query, e.g. Is the trend bullish?")
        self.add_btn = QPushButton("Add")
        self.remove_btn = QPushButton("Remove")
        self.notify = QCheckBox("Notify on flip")
        self.notify.setToolTip("Show a tray notification when a query's answer changes")
        self.add_btn.clicked.connect(self._add)
        self.new_query.returnPressed.connect(self._add)
        self.remove_btn.clicked.connect(self._remove)
        row = QHBoxLayout()
        row.addWidget(self.new_query, 1)
        row.addWidget(self.add_btn)
        row.addWidget(self.remove_btn)
        row.addWidget(self.notify)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addLayout(row)
        self._items: dict[int, QTreeWidgetItem] = {}
        self._seen_version = -1
        self._flips_seen = model.board.flip_seq  # flips before the view opened are not news
        self._seen_data_version = -1
        self._seen_truth: tuple[object, ...] = ()
        self._stale_shown = False  # some row says how many seconds it is behind
        self._last_tick = 0.0
        self.set_writable(True)

    def set_writable(self, writable: bool) -> None:
        for w in (self.new_query, self.add_btn, self.remove_btn):
            w.setEnabled(writable)

    def _add(self) -> None:
        text = self.new_query.text().strip()
        if text:
            self.add_requested.emit(text)
            self.new_query.clear()

    def _remove(self) -> None:
        item = self.tree.currentItem()
        while item is not None and item.parent() is not None:
            item = item.parent()
        if item is not None:
            self.remove_requested.emit(int(item.data(0, QID_ROLE)))

    def refresh(self) -> None:
        m = self.model
        board = m.board
        for flip in board.flips_since(self._flips_seen):
            self.flipped.emit(flip.query, flip.before, flip.after)
        self._flips_seen = board.flip_seq
        now_mono = time.monotonic()
        p = m.progress
        # Freshness moves with what the model has read, not only with the answers.
        truth = (p.ingested, p.stored, p.latest_version, bool(p.context_full), p.gone)
        changed = (board.version != self._seen_version
                   or m.data_version != self._seen_data_version or truth != self._seen_truth)
        if not changed and now_mono - self._last_tick < 1.0:
            return
        self._last_tick = now_mono
        now = time.time()
        # A stale answer's "S s behind" counts on: refilled once a second like the ages.
        if changed or self._stale_shown:
            self._seen_version, self._seen_data_version = board.version, m.data_version
            self._seen_truth = truth
            self._stale_shown = False
            for qid in list(self._items):
                if qid not in board.queries:
                    item = self._items.pop(qid)
                    self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(item))
            for qid, q in board.queries.items():
                item = self._items.get(qid)
                if item is None:
                    item = self._items[qid] = QTreeWidgetItem(self.tree)
                    item.setData(0, QID_ROLE, qid)
                self._fill(item, q, now)
        else:
            for qid, q in board.queries.items():
                item = self._items.get(qid)
                if item is not None:
                    item.setText(C_AGE, duration(q.age(now)))
                    for i, past in enumerate(q.history):
                        if i < item.childCount():
                            item.child(i).setText(C_AGE, duration(now - past.received_at))

    def _fill(self, item: QTreeWidgetItem, q: FlashQueryState, now: float) -> None:
        item.setText(C_QUERY, display_query(q.query))
        item.setToolTip(C_QUERY, q.query)
        self._answer_cells(item, q.latest, now, current=True)
        if q.flips:
            item.setToolTip(C_ANSWER, f"{q.flips} flip(s); last: {q.last_flip[0]!r} → "
                            f"{q.last_flip[1]!r}" if q.last_flip else "")
        m = self.model
        verdict = m.verdict(None if q.latest is None else q.latest.data_version)
        item.setText(C_STATE, verdict.describe(m.stream.unit))
        item.setForeground(C_STATE, QBrush(QColor(state_colour(verdict.state))))
        self._stale_shown |= verdict.behind_entries > 0
        item.setToolTip(C_STATE, state_tip(verdict, q, m))
        history = list(q.history)
        while item.childCount() > len(history):
            item.removeChild(item.child(item.childCount() - 1))
        for i, past in enumerate(history):
            child = item.child(i) if i < item.childCount() else QTreeWidgetItem(item)
            child.setText(C_QUERY, "earlier")
            child.setForeground(C_QUERY, QBrush(QColor(theme.MUTED)))
            self._answer_cells(child, past, now, current=False)

    @staticmethod
    def _answer_cells(item: QTreeWidgetItem, a: Answer | None, now: float, current: bool) -> None:
        if a is None:
            for col in (C_ANSWER, C_VERSION, C_AGE):
                item.setText(col, "–")
            item.setData(C_CONF, GAP_ROLE, None)
            item.setText(C_CONF, "–")
            return
        text = " ".join(a.value.split()) or "(empty)"
        item.setText(C_ANSWER, text)
        item.setToolTip(C_ANSWER, a.value)
        colour = theme.LEVEL_COLOURS[a.level.value] if current else theme.MUTED
        item.setForeground(C_ANSWER, QBrush(QColor(colour)))
        item.setData(C_CONF, GAP_ROLE, a.confidence)
        item.setText(C_CONF, "" if a.confidence is not None else "–")
        item.setText(C_VERSION, f"v{a.data_version}")
        item.setText(C_AGE, duration(max(0.0, now - a.received_at)))

    def state_text(self, qid: int) -> str | None:
        item = self._items.get(qid)
        return item.text(C_STATE) if item else None

    def query_count(self) -> int:
        return self.tree.topLevelItemCount()

    def answer_text(self, qid: int) -> Any:
        item = self._items.get(qid)
        return item.text(C_ANSWER) if item else None


def state_colour(state: Freshness) -> str:
    """Read from the theme at paint time (a theme switch changes its colours)."""
    return {Freshness.FRESH: theme.OK, Freshness.STALE: theme.WARN,
            Freshness.FULL: theme.ERROR}.get(state, theme.MUTED)


def state_tip(verdict: Verdict, q: FlashQueryState, m: SessionModel) -> str:
    """What the freshness word means for this answer, for the tooltip."""
    match verdict.state:
        case Freshness.WAITING:
            return "no answer yet"
        case Freshness.FRESH:
            return (f"computed at data v{q.latest.data_version if q.latest else '?'}, over "
                    f"everything drawn as read; nothing newer waits at the server")
        case Freshness.STALE:
            return (f"computed at data v{q.latest.data_version if q.latest else '?'} (now "
                    f"v{m.data_version}); {m.progress.queued:,} {m.stream.unit} drawn are not "
                    "read by the model yet")
        case Freshness.FULL:
            return f"the session's context is full: {m.progress.context_full}"
        case _:
            return "the session no longer exists on the server; this answer is its last"
