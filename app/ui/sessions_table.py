"""The sessions table: a model over core's SessionsStore, a cache-use bar, a filter box.

The model applies core's row diffs with begin/endInsertRows, begin/endRemoveRows
and dataChanged, never a reset, so the proxy keeps sort and the view keeps its
selection and scroll position across polls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
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
from app.ui.frame import frame
from app.ui.live_label import LiveLabel

HEADERS = ("Session", "Type", "Tokens / context", "In use", "Last used", "Flash")
COL_ID, COL_TYPE, COL_TOKENS, COL_IN_USE, COL_LAST, COL_FLASH = range(6)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2
USAGE_ROLE = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex
PANEL_WIDTH = 560


DISPLAY = int(Qt.ItemDataRole.DisplayRole)
TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
# The roles data() answers; Qt asks a dozen more per cell painted (font, size hint,
# decoration, check state, ...), each a call into Python: those return at once.
SERVED_ROLES = frozenset({DISPLAY, int(SORT_ROLE), int(ID_ROLE), int(USAGE_ROLE), TOOLTIP,
                          FOREGROUND, ALIGNMENT})
CENTRED = int(Qt.AlignmentFlag.AlignCenter)
_COLOURS: dict[str, QColor] = {}


def _colour(name: str | None) -> QColor | None:
    """The theme's colour `name` ("ACCENT", ...), read when asked: the theme can switch."""
    if name is None:
        return None
    value = getattr(theme, name)
    colour = _COLOURS.get(value)
    if colour is None:
        colour = _COLOURS[value] = QColor(value)
    return colour


class _Cells:
    """One row as the table shows it, computed when the row changes, not per paint."""

    __slots__ = ("fg", "keys", "texts", "usage")

    def __init__(self, row: SessionRow, open_ids: set[str]) -> None:
        self.texts = [row.session_id, row.type or "…", row.tokens_text(), row.in_use_text(),
                      ago(row.last_used_at),
                      "…" if row.flash_count is None else str(row.flash_count)]
        self.keys = (row.session_id, row.type or "", row.cache_usage, int(row.in_use),
                     row.last_used_at, row.flash_count or 0)
        self.usage = row.cache_usage
        self.fg = ["ACCENT" if row.session_id in open_ids else None, None, None,
                   "WARN" if row.in_use else None, None, None]  # theme colours' names


class SessionsModel(QAbstractTableModel):
    def __init__(self, store: SessionsStore, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self.open_ids: set[str] = set()
        self._shadow = list(store.order)
        self._cells: dict[str, _Cells] = {}
        self._rebuild_cells()

    def _rebuild_cells(self) -> None:
        rows = self.store.rows
        self._cells = {sid: _Cells(rows[sid], self.open_ids)
                       for sid in self._shadow if sid in rows}

    def set_store(self, store: SessionsStore) -> None:
        self.beginResetModel()  # only when switching servers
        self.store = store
        self._shadow = list(store.order)
        self._rebuild_cells()
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
        if role not in SERVED_ROLES:
            return None
        r = index.row()
        if r < 0 or r >= len(self._shadow):
            return None
        sid = self._shadow[r]
        cells = self._cells.get(sid)
        if cells is None or sid not in self.store.rows:  # removed by a poll not applied yet
            return None
        col = index.column()
        if role == DISPLAY:
            return cells.texts[col]
        if role == SORT_ROLE:
            return cells.keys[col]
        if role == ID_ROLE:
            return sid
        if role == USAGE_ROLE:
            return cells.usage
        if role == FOREGROUND:
            return _colour(cells.fg[col])
        if role == ALIGNMENT:
            return CENTRED if col in (COL_FLASH, COL_IN_USE) else None
        # ToolTipRole: only on hover, so read from the row then (per API generation).
        row = self.store.rows.get(sid)
        return row.tooltip() if row is not None else None

    def _emit_cell(self, i: int, col: int, roles: list[int]) -> None:
        # One cell at a time: a range makes the view repaint its whole viewport.
        idx = self.index(i, col)
        self.dataChanged.emit(idx, idx, roles)

    def _signal_changes(self, i: int, old: _Cells, new: _Cells) -> None:
        """Signals only the cells whose shown value changed, with the roles that did."""
        for col in range(len(HEADERS)):
            roles = []
            if new.texts[col] != old.texts[col]:
                roles.append(DISPLAY)
            if new.keys[col] != old.keys[col]:
                roles.append(int(SORT_ROLE))
            if new.fg[col] != old.fg[col]:
                roles.append(FOREGROUND)
            if col == COL_TOKENS and new.usage != old.usage:
                roles.append(int(USAGE_ROLE))
            if roles:
                self._emit_cell(i, col, roles)

    def apply_pending(self) -> None:
        """Apply core's queued diffs as fine-grained row and cell signals."""
        diffs = self.store.take_pending()
        rows = self.store.rows
        # Every changed row's cells first, the signals after: the proxy re-sorts on a sort
        # key's signal (or an insertion) comparing with the other rows' keys, which must be
        # the new ones already, as core's rows are (a stale neighbour = a needless re-sort,
        # a layoutChanged, a whole repaint).
        old_cells: dict[str, _Cells] = {}  # in the order core reported the changes
        for diff in diffs:
            for sid in diff.changed:
                row, old = rows.get(sid), self._cells.get(sid)
                if row is not None and old is not None and sid not in old_cells:
                    old_cells[sid] = old
                    self._cells[sid] = _Cells(row, self.open_ids)
        for diff in diffs:
            # Removals first, from the bottom so earlier indexes stay valid.
            for sid in sorted(diff.removed, key=self._old_index, reverse=True):
                i = self._old_index(sid)
                if i is None:
                    continue
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._shadow[i]
                self._cells.pop(sid, None)
                old_cells.pop(sid, None)
                self.endRemoveRows()
            for sid in diff.added:
                if sid in self._shadow or sid not in rows:
                    continue
                i = len(self._shadow)
                self.beginInsertRows(QModelIndex(), i, i)
                self._shadow.append(sid)
                self._cells[sid] = _Cells(rows[sid], self.open_ids)
                self.endInsertRows()
        if old_cells:
            where = {sid: i for i, sid in enumerate(self._shadow)}
            for sid, old in old_cells.items():
                new = self._cells.get(sid)
                if sid in where and new is not None:
                    self._signal_changes(where[sid], old, new)
        if self._shadow != self.store.order:  # should not happen; recover without crashing
            self.beginResetModel()
            self._shadow = list(self.store.order)
            self._rebuild_cells()
            self.endResetModel()

    # The rows Qt currently believes in; core's `order` already moved on when we apply.
    _shadow: list[str]

    def _old_index(self, sid: str) -> int | None:
        try:
            return self._shadow.index(sid)
        except ValueError:
            return None

    def set_open_ids(self, open_ids: set[str]) -> None:
        """The open sessions' ids are accented: signals the id cells whose colour changed."""
        self.open_ids = set(open_ids)
        for i, sid in enumerate(self._shadow):
            cells = self._cells.get(sid)
            if cells is None:
                continue
            fg = "ACCENT" if sid in self.open_ids else None
            if cells.fg[COL_ID] != fg:
                cells.fg[COL_ID] = fg
                self._emit_cell(i, COL_ID, [FOREGROUND])

    def tick_ages(self) -> None:
        """Re-reads the "Last used" texts; signals only the cells whose text changed."""
        now = time.time()
        rows = self.store.rows
        for i, sid in enumerate(self._shadow):
            cells = self._cells.get(sid)
            row = rows.get(sid)
            if cells is None or row is None:
                continue
            text = ago(row.last_used_at, now)
            if text != cells.texts[COL_LAST]:
                cells.texts[COL_LAST] = text
                self._emit_cell(i, COL_LAST, [DISPLAY])


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


# Roles the view does not draw: a signal of these alone (a sort key moved, the text did not)
# re-sorts in the proxy but repaints nothing.
UNPAINTED_ROLES = frozenset({int(SORT_ROLE), int(ID_ROLE), TOOLTIP})


class SessionsView(QTableView):
    def dataChanged(self, top_left: Index, bottom_right: Index,
                    roles: Sequence[int] = ()) -> None:
        if roles and UNPAINTED_ROLES.issuperset(int(r) for r in roles):
            return
        super().dataChanged(top_left, bottom_right, roles)


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
        self.count = LiveLabel(objectName="muted")
        self.table = SessionsView()
        theme.opaque_viewport(self.table)
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
            self.model.set_open_ids(open_ids)
        # A listing re-sorts and repaints the whole table: in a tick with room
        # (app.ui.frame); the diffs wait in the store meanwhile.
        if self.model.store.pending and frame.claim():
            self.model.apply_pending()
        now = time.monotonic()
        if now - self._last_tick >= 1.0 and frame.claim():
            self._last_tick = now
            self.model.tick_ages()
            self.count.setText(self.count_text())
        has = self.selected_id() is not None
        self.open_btn.setEnabled(has)
        self.delete_btn.setEnabled(has)
