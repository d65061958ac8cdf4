"""The fleet: one live row per server, that server's sessions, and its history.

A thin view over app.core.fleet: the pollers run on the asyncio loop, and `refresh()` (on
the main window's display timer) redraws only the rows whose figures changed, plus the
retry countdowns once a second. Selecting a row lists that server's sessions below;
opening one puts it in a main-window tab labelled with its server, beside other servers'.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.dashboard import Dashboard
from app.core.fleet import UNKNOWN, Fleet, FleetError, FleetServer, check_url
from app.ui import theme
from app.ui.history_graph import HistoryGraph
from app.ui.sessions_table import SessionsPanel
from app.ui.tasks import spawn

COLUMNS = ("Server", "Health", "API", "Model", "Sessions", "Queue", "Ingest/s", "Drops",
           "Tokens/s", "Tokens/s, live", "Tokens/s, 6 h", "Last error")
(COL_SERVER, COL_HEALTH, COL_API, COL_MODEL, COL_SESSIONS, COL_QUEUE, COL_INGEST, COL_DROPS,
 COL_TOKENS, COL_SPARK, COL_HISTORY, COL_ERROR) = range(len(COLUMNS))
SPARK_ROLE = Qt.ItemDataRole.UserRole + 1
URL_ROLE = Qt.ItemDataRole.UserRole + 2
HEALTH_COLOURS = {"ok": theme.OK, "loading": theme.WARN, "connecting": theme.MUTED,
                  "auth": theme.ERROR, "unreachable": theme.ERROR, "error": theme.ERROR}
HEALTH_WORDS = {"ok": "ok", "loading": "loading", "connecting": "connecting…",
                "auth": "key rejected", "unreachable": "unreachable", "error": "error"}
Index = QModelIndex | QPersistentModelIndex


def number(value: float | int | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNKNOWN
    return f"{value:,.{digits}f}"


def health_text(row: FleetServer, now: float | None = None) -> str:
    words = HEALTH_WORDS.get(row.status, row.status)
    if row.retry_at is not None and row.status != "ok":
        wait = max(0.0, row.retry_at - (time.monotonic() if now is None else now))
        words += f" · retry in {wait:.0f} s"
    return words


class SparklineDelegate(QStyledItemDelegate):
    """A small line of the values in SPARK_ROLE (NaN leaves a gap), newest at the right."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        values: Sequence[float] = index.data(SPARK_ROLE) or ()
        rect = QRect(option.rect).adjusted(4, 4, -4, -4)  # type: ignore[attr-defined]
        finite = [v for v in values if not math.isnan(v)]
        if len(finite) < 2 or rect.width() < 4:
            return
        lo, hi = min(finite), max(finite)
        span = (hi - lo) or 1.0
        step = rect.width() / max(1, len(values) - 1)
        path = QPainterPath()
        pen_down = False
        for i, v in enumerate(values):
            if math.isnan(v):
                pen_down = False
                continue
            point = QPointF(rect.left() + i * step,
                            rect.bottom() - (v - lo) / span * rect.height())
            if pen_down:
                path.lineTo(point)
            else:
                path.moveTo(point)
                pen_down = True
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        brush = index.data(Qt.ItemDataRole.ForegroundRole)
        colour = brush.color() if isinstance(brush, QBrush) else QColor(theme.ACCENT)
        painter.setPen(QPen(colour, 1.4))
        painter.drawPath(path)
        painter.restore()


class FleetView(QWidget):
    # dashboard, session id, server label: the window opens it in a labelled tab
    open_session_requested = Signal(object, str, str)

    def __init__(self, fleet: Fleet, dashboard_for: Callable[[str], Dashboard] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fleet = fleet
        self.dashboard_for = dashboard_for or fleet.dashboard
        self._seen: dict[str, int] = {}
        self._fleet_version = -1
        self._last_tick = 0.0
        self.selected_url: str | None = None
        self.selected_dashboard: Dashboard | None = None
        # --- add a server, Prometheus
        self.url_edit = QLineEdit(placeholderText="http://host:8080")
        self.label_edit = QLineEdit(placeholderText="label (optional)")
        self.label_edit.setMaximumWidth(160)
        self.add_btn = QPushButton("Add server", objectName="primary")
        self.add_btn.clicked.connect(self._add_clicked)
        self.url_edit.returnPressed.connect(self._add_clicked)
        self.prom_edit = QLineEdit(fleet.prometheus_url or "",
                                   placeholderText="Prometheus URL (optional): http://host:9090")
        self.prom_btn = QPushButton("Use for history")
        self.prom_btn.clicked.connect(self._prometheus_clicked)
        self.prom_edit.returnPressed.connect(self._prometheus_clicked)
        self.message = QLabel(objectName="muted")
        top = QHBoxLayout()
        top.addWidget(self.url_edit, 2)
        top.addWidget(self.label_edit, 1)
        top.addWidget(self.add_btn)
        top.addSpacing(16)
        top.addWidget(self.prom_edit, 2)
        top.addWidget(self.prom_btn)
        # --- the table
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        spark = SparklineDelegate(self.table)
        self.table.setItemDelegateForColumn(COL_SPARK, spark)
        self.table.setItemDelegateForColumn(COL_HISTORY, spark)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_ERROR, QHeaderView.ResizeMode.Stretch)
        for col, width in ((COL_SERVER, 150), (COL_HEALTH, 170), (COL_API, 80), (COL_MODEL, 200),
                           (COL_SESSIONS, 84), (COL_QUEUE, 64), (COL_INGEST, 76),
                           (COL_DROPS, 60), (COL_TOKENS, 80), (COL_SPARK, 120),
                           (COL_HISTORY, 120)):
            self.table.setColumnWidth(col, width)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.sessions_btn = QPushButton("Show sessions")
        self.sessions_btn.clicked.connect(self._selection_changed)
        self.retry_btn = QPushButton("Retry now")
        self.retry_btn.clicked.connect(lambda: self.fleet.poke(self.selected_url))
        self.remove_btn = QPushButton("Remove…")
        self.remove_btn.clicked.connect(self._remove_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.retry_btn)
        buttons.addWidget(self.remove_btn)
        buttons.addWidget(self.message, 1)
        # --- the selected server: its sessions and its history
        self.sessions_title = QLabel("Select a server to list its sessions", objectName="muted")
        self.sessions: SessionsPanel | None = None
        self.sessions_box = QWidget()
        box = QVBoxLayout(self.sessions_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.sessions_title)
        self.history = HistoryGraph()
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.sessions_box)
        lower.addWidget(self.history)
        lower.setStretchFactor(0, 1)
        lower.setStretchFactor(1, 2)
        lower.setSizes([560, 1000])  # room for the session ids and their token bars
        upper = QWidget()
        up = QVBoxLayout(upper)
        up.setContentsMargins(0, 0, 0, 0)
        up.addLayout(top)
        up.addWidget(self.table, 1)
        up.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(lower)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        split.setSizes([260, 540])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(split)
        self.refresh()

    # ------------------------------------------------------------------ actions
    def _add_clicked(self) -> None:
        text = self.url_edit.text().strip()
        if not text:
            return
        try:
            row = self.fleet.add(text, self.label_edit.text())
        except (FleetError, ValueError) as exc:
            self.message.setText(str(exc))
            return
        self.url_edit.clear()
        self.label_edit.clear()
        self.message.setText(f"Added {row.url}; its key comes from the keyring "
                             "(Server ▸ Licence keys…).")

    def _prometheus_clicked(self) -> None:
        try:
            self.fleet.set_prometheus(self.prom_edit.text())
        except FleetError as exc:
            self.message.setText(str(exc))
            return
        self.history.show_server(self._selected_row(), self.fleet.history_source())
        self.message.setText(f"History from {self.fleet.prometheus_url}"
                             if self.fleet.prometheus_url else "Live figures only")

    def _remove_clicked(self) -> None:
        url = self.selected_url
        if url is None:
            return
        answer = QMessageBox.question(self, "Remove server", f"Stop watching {url}?\n\n"
                                      "The server itself is not touched; its key stays in "
                                      "the keyring.")
        if answer == QMessageBox.StandardButton.Yes:
            self._set_sessions(None, None)
            spawn(self.fleet.remove(url), on_error=self.message.setText)

    def _selected_row(self) -> FleetServer | None:
        return self.fleet.find(self.selected_url) if self.selected_url else None

    def select(self, url: str) -> None:
        for r in range(self.table.rowCount()):
            item = self.table.item(r, COL_SERVER)
            if item is not None and item.data(URL_ROLE) == check_url(url):
                self.table.selectRow(r)
                return

    def _selection_changed(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        url = rows[0].data(URL_ROLE) if rows else None
        if url == self.selected_url:
            return
        self.selected_url = url
        row = self._selected_row()
        self.history.show_server(row, self.fleet.history_source())
        if row is None:
            self._set_sessions(None, None)
            return
        self._set_sessions(self.dashboard_for(row.url), row)

    def _set_sessions(self, dashboard: Dashboard | None, row: FleetServer | None) -> None:
        self.selected_dashboard = dashboard
        if dashboard is None or row is None:
            self.sessions_title.setText("Select a server to list its sessions")
            if self.sessions is not None:
                self.sessions.hide()
            return
        self.sessions_title.setText(f"Sessions on {row.label} (double-click: open in a tab)")
        if self.sessions is None:
            self.sessions = SessionsPanel(dashboard.sessions)
            self.sessions.new_btn.hide()  # new sessions: in the main window (File ▸ New)
            self.sessions.delete_btn.hide()
            self.sessions.open_requested.connect(self._open_session)
            self.sessions_box.layout().addWidget(self.sessions)
        else:
            self.sessions.set_store(dashboard.sessions)
        self.sessions.show()

    def _open_session(self, session_id: str) -> None:
        row = self._selected_row()
        if self.selected_dashboard is not None and row is not None:
            self.open_session_requested.emit(self.selected_dashboard, session_id, row.label)

    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        """Display-rate tick: rebuild when servers come or go, redraw changed rows."""
        fleet = self.fleet
        if fleet.version != self._fleet_version:
            self._fleet_version = fleet.version
            self._rebuild()
        now = time.monotonic()
        tick = now - self._last_tick >= 1.0
        if tick:
            self._last_tick = now
        for r, row in enumerate(fleet.servers):
            if tick or self._seen.get(row.url) != row.version:
                self._seen[row.url] = row.version
                self._fill(r, row, now)
        if self.sessions is not None and self.selected_dashboard is not None:
            self.sessions.refresh({o.model.session_id for o in self.selected_dashboard.open})
        self.history.refresh()
        has = self.selected_url is not None
        self.retry_btn.setEnabled(has)
        self.remove_btn.setEnabled(has)

    def _rebuild(self) -> None:
        keep = self.selected_url
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.fleet.servers))
        for r, row in enumerate(self.fleet.servers):
            for c in range(len(COLUMNS)):
                item = QTableWidgetItem()
                item.setData(URL_ROLE, row.url)
                if c not in (COL_SERVER, COL_HEALTH, COL_API, COL_MODEL, COL_ERROR):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
            self._fill(r, row, time.monotonic())
        self.table.blockSignals(False)
        self._seen.clear()
        if keep is not None and self.fleet.find(keep) is not None:
            self.select(keep)
        else:
            self.selected_url = None
            self._selection_changed()

    def _fill(self, r: int, row: FleetServer, now: float) -> None:
        live = row.status == "ok"
        # Figures of a server that stopped answering are its last known: shown dimmed.
        figure_colour = QColor(theme.TEXT if live else theme.MUTED)

        def put(col: int, text: str, colour: QColor | str | None = None,
                tip: str | None = None) -> QTableWidgetItem | None:
            item = self.table.item(r, col)
            if item is None:
                return None
            if item.text() != text:
                item.setText(text)
            item.setForeground(QColor(colour) if colour is not None else figure_colour)
            if tip is not None:
                item.setToolTip(tip)
            return item

        put(COL_SERVER, row.label, theme.TEXT, row.url)
        put(COL_HEALTH, health_text(row, now), HEALTH_COLOURS.get(row.status, theme.TEXT),
            row.detail or None)
        put(COL_API, row.generation or UNKNOWN)
        put(COL_MODEL, row.model or UNKNOWN, tip=row.model or "")
        sessions = number(row.sessions)
        if row.sessions_max is not None:
            sessions += f" / {row.sessions_max}"
        put(COL_SESSIONS, sessions)
        put(COL_QUEUE, number(row.queue))
        put(COL_INGEST, number(row.ingest_rate, 1))
        drops = put(COL_DROPS, number(row.drops))
        if drops is not None and row.drops:
            drops.setForeground(QColor(theme.WARN))
        put(COL_TOKENS, number(row.tokens_rate, 1))
        spark = put(COL_SPARK, "", theme.ACCENT if live else theme.MUTED)
        if spark is not None:
            spark.setData(SPARK_ROLE, list(row.spark["tokens_rate"]))
        hist = put(COL_HISTORY, "" if row.history is not None else (
            UNKNOWN if self.fleet.prometheus_url is None else "…"), theme.OK,
            row.history_error or ("from Prometheus" if self.fleet.prometheus_url
                                  else "no Prometheus URL set: live figures only"))
        if hist is not None:
            hist.setData(SPARK_ROLE, list(row.history.values) if row.history else [])
        error = row.last_error or ""
        if error and row.last_error_at is not None:
            error = f"{time.strftime('%H:%M:%S', time.localtime(row.last_error_at))} {error}"
        put(COL_ERROR, error, theme.ERROR if not live and error else theme.MUTED)


def attach_to_window(window: Any, fleet: Fleet) -> FleetView:
    """Dock the fleet view in the main window; its sessions open in labelled tabs there."""
    from app.secrets import normalise_url

    def dashboard_for(url: str) -> Dashboard:
        # The server the main window already watches: its dashboard, not a second one.
        try:
            same = normalise_url(window.dashboard.url) == url
        except ValueError:
            same = False
        return window.dashboard if same else fleet.dashboard(url)

    view = FleetView(fleet, dashboard_for)
    view.open_session_requested.connect(window.show_server_session)
    window.add_dock("Fleet", view, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.timer.timeout.connect(view.refresh)  # the window's display-rate timer
    return view


def open_fleet(window: Any) -> Fleet | None:
    """The saved fleet, docked in `window` and polling (call on the running loop); the dock
    starts hidden while the fleet is empty (View ▸ Fleet shows it)."""
    from app.secrets import resolve_key_async
    from app.settings import Settings, SettingsError

    try:
        fleet = Fleet(Settings(), key_lookup=resolve_key_async)
    except SettingsError as exc:  # the dashboard works without the fleet
        window.statusBar().showMessage(f"Fleet unavailable: {exc}", 15000)
        return None
    view = attach_to_window(window, fleet)
    dock = view.parentWidget()
    if dock is not None and not fleet.servers:
        dock.hide()
    window.fleet_view = view
    fleet.start()
    return fleet
