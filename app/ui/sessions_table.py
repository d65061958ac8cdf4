"""The sessions table: a model over core's SessionsStore, a cache-use bar, a filter box.

The model applies core's row diffs with begin/endInsertRows, begin/endRemoveRows
and dataChanged, never a reset, so the proxy keeps sort and the view keeps its
selection and scroll position across polls.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.sessions import SessionRow, SessionsStore
from app.ui import theme
from app.ui.durations import ago

HEADERS = ("Session", "Type", "Tokens / context", "In use", "Last used", "Flash")
COL_ID, COL_TYPE, COL_TOKENS, COL_IN_USE, COL_LAST, COL_FLASH = range(6)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2
USAGE_ROLE = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex
PANEL_WIDTH = 560


class SessionsModel(QAbstractTableModel):
    def __init__(self, store: SessionsStore, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self.open_ids: set[str] = set()
        self._shadow = list(store.order)

    def set_store(self, store: SessionsStore) -> None:
        self.beginResetModel()  # only when switching servers
        self.store = store
        self._shadow = list(store.order)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._shadow)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._shadow):
            return None
        row = self.store.rows.get(self._shadow[index.row()])
        if row is None:  # removed by a poll whose diff is not applied yet
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, col)
        if role == SORT_ROLE:
            return self._sort_key(row, col)
        if role == ID_ROLE:
            return row.session_id
        if role == USAGE_ROLE:
            return row.cache_usage
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.tooltip()  # per API generation (app.core.sessions)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == COL_IN_USE and row.in_use:
                return QColor(theme.WARN)
            if col == COL_ID and row.session_id in self.open_ids:
                return QColor(theme.ACCENT)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_FLASH, COL_IN_USE):
            return int(Qt.AlignmentFlag.AlignCenter)
        return None

    @staticmethod
    def _text(row: SessionRow, col: int) -> str:
        if col == COL_ID:
            return row.session_id
        if col == COL_TYPE:
            return row.type or "…"
        if col == COL_TOKENS:
            return row.tokens_text()
        if col == COL_IN_USE:
            return row.in_use_text()
        if col == COL_LAST:
            return ago(row.last_used_at)
        return "…" if row.flash_count is None else str(row.flash_count)

    @staticmethod
    def _sort_key(row: SessionRow, col: int) -> Any:
        return (row.session_id, row.type or "", row.cache_usage, int(row.in_use),
                row.last_used_at, row.flash_count or 0)[col]

    def apply_pending(self) -> None:
        """Apply core's queued diffs as fine-grained row signals."""
        for diff in self.store.take_pending():
            # Removals first, from the bottom so earlier indexes stay valid.
            for sid in sorted(diff.removed, key=self._old_index, reverse=True):
                i = self._old_index(sid)
                if i is None:
                    continue
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._shadow[i]
                self.endRemoveRows()
            for sid in diff.added:
                if sid in self._shadow or sid not in self.store.rows:
                    continue
                i = len(self._shadow)
                self.beginInsertRows(QModelIndex(), i, i)
                self._shadow.append(sid)
                self.endInsertRows()
            for sid in diff.changed:
                if sid in self._shadow:
                    i = self._shadow.index(sid)
                    self.dataChanged.emit(self.index(i, 0), self.index(i, len(HEADERS) - 1))
        if self._shadow != self.store.order:  # should not happen; recover without crashing
            self.beginResetModel()
            self._shadow = list(self.store.order)
            self.endResetModel()

    # The rows Qt currently believes in; core's `order` already moved on when we apply.
    _shadow: list[str]

    def _old_index(self, sid: str) -> int | None:
        try:
            return self._shadow.index(sid)
        except ValueError:
            return None

    def tick_ages(self) -> None:
        if self._shadow:
            last = len(self._shadow) - 1
            self.dataChanged.emit(self.index(0, COL_LAST), self.index(last, COL_LAST),
                                  [Qt.ItemDataRole.DisplayRole])


class CacheBarDelegate(QStyledItemDelegate):
    """Tokens / context as text over a bar filled to the cache usage."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        usage = float(index.data(USAGE_ROLE) or 0.0)
        rect = QRect(option.rect).adjusted(4, 5, -4, -5)  # type: ignore[attr-defined]
        painter.save()
        painter.fillRect(rect, QColor(theme.RAISED))
        colour = theme.OK if usage < 0.7 else theme.WARN if usage < 0.9 else theme.ERROR
        fill = QRect(rect)
        fill.setWidth(int(rect.width() * max(0.0, min(1.0, usage))))
        c = QColor(colour)
        c.setAlpha(90)  # light enough that the text over it stays readable
        painter.fillRect(fill, c)
        painter.setPen(QColor(theme.TEXT))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), f"{index.data()}  ({usage:.0%})")
        painter.restore()


class SessionsProxy(QSortFilterProxyModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setDynamicSortFilter(True)


class SessionsPanel(QWidget):
    """Filter box, table and actions. Emits what the user asked for; the window acts."""

    open_requested = Signal(str)
    delete_requested = Signal(str)
    create_requested = Signal()

    def __init__(self, store: SessionsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = SessionsModel(store, self)
        self.proxy = SessionsProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter = QLineEdit(placeholderText="Filter sessions (id, type, …)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.filter.textChanged.connect(lambda _t: self.count.setText(self.count_text()))
        self.count = QLabel(objectName="muted")
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_LAST, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setShowGrid(False)
        # Ids keep their start, as the session tabs show them ("sess_59a7b32…").
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setMinimumWidth(320)
        self.table.setItemDelegateForColumn(COL_TOKENS, CacheBarDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_ID, QHeaderView.ResizeMode.Stretch)
        for col, width in ((COL_TYPE, 52), (COL_TOKENS, 150), (COL_IN_USE, 58), (COL_LAST, 88),
                           (COL_FLASH, 50)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(col, width)
        self.table.doubleClicked.connect(lambda _i: self._emit_open())
        self.new_btn = QPushButton("New session…", objectName="primary")
        self.open_btn = QPushButton("Open")
        self.delete_btn = QPushButton("Delete…")
        self.new_btn.clicked.connect(self.create_requested)
        self.open_btn.clicked.connect(self._emit_open)
        self.delete_btn.clicked.connect(self._emit_delete)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.count)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_btn)
        buttons.addWidget(self.open_btn)
        buttons.addWidget(self.delete_btn)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._last_tick = 0.0

    def sizeHint(self) -> QSize:
        # What the dock opens at: room for every column with ids readable up to their hash.
        return QSize(PANEL_WIDTH, 400)

    def set_store(self, store: SessionsStore) -> None:
        self.model.set_store(store)

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(ID_ROLE) if rows else None

    def select(self, session_id: str) -> None:
        for r in range(self.proxy.rowCount()):
            idx = self.proxy.index(r, 0)
            if idx.data(ID_ROLE) == session_id:
                self.table.selectRow(r)
                return

    def _emit_open(self) -> None:
        sid = self.selected_id()
        if sid:
            self.open_requested.emit(sid)

    def _emit_delete(self) -> None:
        sid = self.selected_id()
        if sid:
            self.delete_requested.emit(sid)

    def count_text(self) -> str:
        """How many sessions the table shows: "3 of 10 sessions" while a filter hides some."""
        store = self.model.store
        n = len(store)
        shown = self.proxy.rowCount()
        cap = f" · max {store.max_sessions}" if store.max_sessions else ""
        noun = f"session{'' if n == 1 else 's'}"
        return (f"{shown} of {n} {noun}" if shown != n else f"{n} {noun}") + cap

    def refresh(self, open_ids: set[str]) -> None:
        """Called on the display timer: applies diffs, ticks ages once a second."""
        if open_ids != self.model.open_ids:
            self.model.open_ids = set(open_ids)
            if self.model.rowCount():
                self.model.dataChanged.emit(self.model.index(0, 0),
                                            self.model.index(self.model.rowCount() - 1, 0))
        self.model.apply_pending()
        now = time.monotonic()
        if now - self._last_tick >= 1.0:
            self._last_tick = now
            self.model.tick_ages()
            self.count.setText(self.count_text())
        has = self.selected_id() is not None
        self.open_btn.setEnabled(has)
        self.delete_btn.setEnabled(has)
