"""The main window: connect bar, banner, sessions dock, one tab per open session.

One display-rate QTimer reads core and repaints what changed; network work runs
as asyncio tasks on the qasync loop, never inside a paint or a slot's body.

Built in two steps so the app can paint before it imports its core: `MainWindow(None,
url=...)` is the shell (menus, connect bar, status bar; light imports only), and
`attach(dashboard)` adds the rest (sessions dock, cockpit docks, tabs, display timer).
`MainWindow(dashboard)` does both at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSystemTrayIcon,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.ui import layout, theme
from app.ui.banner import Banner, ConnectBar
from app.ui.frame import frame
from app.ui.tasks import spawn

if TYPE_CHECKING:  # imported by attach(): the shell paints without them
    from app.core.dashboard import Dashboard
    from app.core.session import SessionModel, SessionSpec
    from app.ui.cockpit import CockpitUI
    from app.ui.session_view import SessionView

log = logging.getLogger(__name__)

# The display tick: at most one refresh and one repaint per tick whatever the event rate.
# Half a 60 Hz frame: an event waits at most 8 ms for the tick that reads it, and the
# repaint follows in the same tick, so it is on screen within one 60 Hz frame
# (bench.cockpit: event-to-pixel p99 < 16 ms at 1,000 events/s). A tick that finds
# nothing changed costs a few version comparisons.
FRAME_MS = 8
SIDE_DOCK_WIDTH = 560
DOCK_HEIGHT = 210


class MainWindow(QMainWindow):
    closed = Signal()

    dashboard: Dashboard
    cockpit: CockpitUI

    def __init__(self, dashboard: Dashboard | None, parent: QWidget | None = None, *,
                 settings: QSettings | None = None, url: str = "") -> None:
        super().__init__(parent)
        # Where the layout, open tabs and last server are remembered (None: nothing is,
        # as in tests that do not test exactly that).
        self.settings = settings
        self._seen_open = -1
        self._attached = False
        self._shut = False
        self.views: list[SessionView] = []
        self._labels: dict[SessionView, str] = {}  # tabs of another server's sessions
        self.setWindowTitle("LayerScale Dashboard")
        self.resize(1600, 960)
        self.setDockNestingEnabled(True)
        self.connect_bar = ConnectBar(dashboard.url if dashboard is not None else url)
        self.connect_bar.connect_requested.connect(self.connect_to)
        self.banner = Banner()
        self.banner.retry_requested.connect(self._poke)
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self._close_tab)
        self.empty = QLabel("No session open.\n\nDouble-click a session on the left, or create one "
                            "with File > New session (Ctrl+N).")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setObjectName("muted")
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.connect_bar)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.empty, 1)
        self.setCentralWidget(central)
        self.tabs.hide()  # until a session is open (refresh() keeps this up to date)
        self._build_menus()
        # Its place is kept from the first paint; the table comes with attach().
        self.sessions_dock = self.add_dock("Sessions", QWidget(),
                                           Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tray: QSystemTrayIcon | None = None
        self._seen_server: tuple[int, int] = (0, -1)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)  # a coarse one drifts by 5 %
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self.refresh)
        if dashboard is None:
            self.statusBar().showMessage("Starting…")
        else:
            self.attach(dashboard)

    def attach(self, dashboard: Dashboard) -> None:
        """The rest of the window over `dashboard`: sessions dock, cockpit docks, tray,
        display timer (once)."""
        if self._attached:
            return
        from app.ui.cockpit import attach_cockpit
        from app.ui.sessions_table import SessionsPanel

        self._attached = True
        self.dashboard = dashboard
        if not self.connect_bar.url.text():
            self.connect_bar.url.setText(dashboard.url)
        self.sessions = SessionsPanel(dashboard.sessions)
        self.sessions.open_requested.connect(self.open_session)
        self.sessions.delete_requested.connect(self.delete_session)
        self.sessions.create_requested.connect(self.create_session_dialog)
        self.sessions_dock.setWidget(self.sessions)
        attach_cockpit(self)  # session state, ingest, server overview, console docks
        self.tray = self._make_tray()
        self.statusBar().showMessage("Ready")
        self.timer.start()
        self.refresh()

    # ------------------------------------------------------------------ shell
    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        new = QAction("&New session…", self, shortcut=QKeySequence.StandardKey.New)
        new.triggered.connect(self.create_session_dialog)
        file_menu.addAction(new)
        file_menu.addSeparator()
        quit_ = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_.triggered.connect(self.close)
        file_menu.addAction(quit_)
        self.server_menu: QMenu = bar.addMenu("&Server")
        reconnect = QAction("Reconnect now", self)
        reconnect.triggered.connect(self._poke)
        self.server_menu.addAction(reconnect)
        self.server_menu.addSeparator()  # the launcher's actions and dialogs go below
        self.view_menu: QMenu = bar.addMenu("&View")
        grid = QAction("Instrument &grid", self)  # app.ui.grid_view: open candle sessions
        grid.triggered.connect(self.open_grid)
        self.view_menu.addAction(grid)
        self.view_menu.addSeparator()

    def _poke(self) -> None:
        if self._attached:
            self.dashboard.poke()

    def open_grid(self) -> None:
        if not self._attached:
            return
        from app.ui.grid_view import open_grid

        open_grid(self)

    def add_dock(self, title: str, widget: QWidget,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """Dock `widget` (e.g. the launcher panel) with a toggle in the View menu."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        # Docks must not crowd out the charts: side docks narrow, bottom docks short.
        if area in (Qt.DockWidgetArea.BottomDockWidgetArea, Qt.DockWidgetArea.TopDockWidgetArea):
            self.resizeDocks([dock], [DOCK_HEIGHT], Qt.Orientation.Vertical)
        else:
            self.resizeDocks([dock], [SIDE_DOCK_WIDTH], Qt.Orientation.Horizontal)
        return dock

    def _make_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        pix = QPixmap(32, 32)
        pix.fill(Qt.GlobalColor.transparent)
        p = QPainter(pix)
        p.setBrush(QColor(theme.ACCENT))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(4, 4, 24, 24, 6, 6)
        p.end()
        tray = QSystemTrayIcon(QIcon(pix), self)
        tray.setToolTip("LayerScale Dashboard")
        tray.show()
        return tray

    def notify(self, title: str, message: str) -> None:
        if self.tray is not None:
            self.tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Information, 8000)
        self.statusBar().showMessage(f"{title}: {message.splitlines()[-1]}", 10000)

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        if event.isAccepted():
            self.save_layout()
            self.shutdown()

    # ------------------------------------------------------------------ remembered layout
    def save_layout(self) -> None:
        """Window geometry, docks, the server and its open tabs, for the next start."""
        if self.settings is None or not self._attached:
            return
        layout.save(self.settings, self.saveGeometry(), self.saveState(), self.dashboard.url,
                    [v.model.session_id for v in self.views if v.dashboard is self.dashboard])
        self.settings.sync()

    def restore_layout(self, *, docks: bool = True) -> bool:
        """Geometry and docks as they were at the last close; False if nothing was kept.
        `docks=False`: the geometry alone (the shell, before its docks exist)."""
        if self.settings is None:
            return False
        geometry, state = layout.window(self.settings)
        restored = False
        if geometry is not None:
            restored = bool(self.restoreGeometry(geometry))
        if state is not None and docks:
            restored = bool(self.restoreState(state)) or restored
        return restored

    async def restore_tabs(self) -> list[SessionView]:
        """Reopen the tabs that were open on this server at the last close: sessions this
        dashboard created are re-adopted (history from disk, feed resumed), others opened
        as they are; sessions that no longer exist are skipped (and forgotten)."""
        d = self.dashboard
        wanted = layout.tabs(self.settings, d.url) if self.settings is not None else []
        models = await d.reopen(wanted)
        self.refresh()  # their tabs, in the order they had
        return [v for m in models for v in self.views if v.model is m]

    def shutdown(self) -> None:
        """Stop repainting, hide, and tell main() to finish (idempotent)."""
        if self._shut:
            return
        self._shut = True
        self.timer.stop()
        if self.tray is not None:
            self.tray.hide()
        self.hide()
        self.closed.emit()

    def _error(self, message: str) -> None:
        self.statusBar().showMessage(message, 15000)
        QMessageBox.warning(self, "LayerScale", message)

    # ------------------------------------------------------------------ actions
    def connect_to(self, url: str) -> None:
        """Switch servers: this server's tabs are remembered and closed, the new one's
        reopened."""
        if not self._attached:
            return
        self.save_layout()
        for view in list(self.views):
            if view.dashboard is self.dashboard:
                self._remove_view(view)

        from app.secrets import resolve_key_async

        async def go() -> None:
            # keyring: D-Bus, maybe an unlock prompt: on its own thread, never the GUI's
            await self.dashboard.connect(url, await resolve_key_async(url))
            self.sessions.set_store(self.dashboard.sessions)
            self._seen_server = (0, -1)  # the bar and banner show the new server at once
            self.refresh()
            await self.restore_tabs()

        def failed(message: str) -> None:
            self._seen_server = (0, -1)
            self._error(f"Could not switch to {url}: {message}")

        spawn(go(), on_error=failed)

    def create_session_dialog(self) -> None:
        if not self._attached:
            return  # still starting: no server to create it on yet
        from app.ui.create_dialog import CreateSessionDialog

        dialog = CreateSessionDialog(self)
        dialog.set_generation(self.dashboard.generation)  # gen 2: id, pre_decode, window
        if dialog.exec():
            spec = dialog.spec()
            spawn(self.dashboard.create_session(spec), on_error=self._error,
                  on_done=self.show_session)

    async def create_session(self, spec: SessionSpec) -> SessionView:
        model = await self.dashboard.create_session(spec)
        return self.show_session(model)

    def show_session(self, model: SessionModel, focus: bool = True) -> SessionView:
        for view in self.views:
            if view.model is model:
                if focus:
                    self.tabs.setCurrentWidget(view)
                return view
        view = self._add_view(self.dashboard, model)
        if focus or self.tabs.count() == 1:
            self.tabs.setCurrentWidget(view)
        return view

    def _add_view(self, dashboard: Dashboard, model: SessionModel,
                  label: str | None = None) -> SessionView:
        """A tab for `model`; `label` (another server's) goes before its title."""
        from app.ui.session_view import SessionView

        view = SessionView(dashboard, model)
        view.notify.connect(self.notify)
        view.title_changed.connect(lambda v=view: self._retitle(v))
        if label:
            self._labels[view] = label
        self.views.append(view)
        self.tabs.addTab(view, self._tab_text(view))
        return view

    def _tab_text(self, view: SessionView) -> str:
        label = self._labels.get(view)
        return f"{label} · {view.model.title()}" if label else view.model.title()

    def _retitle(self, view: SessionView) -> None:
        i = self.tabs.indexOf(view)
        if i >= 0:
            self.tabs.setTabText(i, self._tab_text(view))

    def open_session(self, session_id: str) -> SessionView | None:
        from app.streams.registry import UnknownStreamType

        kept = self.dashboard.archived_by_id.get(session_id)
        if kept is not None and self.dashboard.find(session_id) is None:
            # Ours from an earlier run: adopt it (history from disk, feed resumed).
            spawn(self.dashboard.adopt(kept), on_error=self._error, on_done=self.show_session)
            return None
        if not self.dashboard.type_known(session_id):
            # Its type is not read yet: ask the server, then open (never the wrong plot).
            def failed(message: str) -> None:
                self._error(f"Cannot open {session_id}: {message}")

            spawn(self.dashboard.open_session_typed(session_id), on_error=failed,
                  on_done=self.show_session)
            return None
        try:
            model = self.dashboard.open_session(session_id)
        except UnknownStreamType as exc:  # a server newer than this dashboard
            self._error(f"Cannot open {session_id}: {exc}")
            return None
        return self.show_session(model)

    def show_server_session(self, dashboard: Dashboard, session_id: str,
                            label: str) -> SessionView | None:
        """A session of another server (the fleet view) in a tab labelled with it."""
        if dashboard is self.dashboard:
            return self.open_session(session_id)
        from app.streams.registry import UnknownStreamType

        found = next((v for v in self.views if v.dashboard is dashboard
                      and v.model.session_id == session_id), None)
        if found is None:
            try:
                model = dashboard.open_session(session_id)
            except UnknownStreamType as exc:
                self._error(f"Cannot open {session_id} on {label}: {exc}")
                return None
            found = self._add_view(dashboard, model, label)
        self.tabs.setCurrentWidget(found)
        return found

    def view_for(self, session_id: str) -> SessionView | None:
        return next((v for v in self.views if v.model.session_id == session_id), None)

    def _close_tab(self, index: int) -> None:
        view = self.tabs.widget(index)
        if view in self.views:
            self._remove_view(view)

    def _remove_view(self, view: SessionView) -> None:
        view.model.closed_by_user = True  # at once: refresh() must not reopen it meanwhile
        spawn(view.dashboard.close_session(view.model))  # a fleet server's tab: its own
        self._drop_view(view)

    def _drop_view(self, view: SessionView) -> None:
        self._labels.pop(view, None)
        if view in self.views:
            self.views.remove(view)
        i = self.tabs.indexOf(view)
        if i >= 0:
            self.tabs.removeTab(i)
        view.deleteLater()

    def delete_session(self, session_id: str) -> None:
        answer = QMessageBox.question(
            self, "Delete session",
            f"Delete session {session_id} on the server?\n\nIts context (KV cache) is freed; "
            "any program feeding it will lose it. This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        view = self.view_for(session_id)
        if view is not None:
            self._drop_view(view)
        spawn(self.dashboard.delete_session(session_id), on_error=self._error)

    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        if not self._attached:
            return
        frame.begin()
        try:
            self._refresh()
        finally:
            frame.end()

    def _refresh(self) -> None:
        d = self.dashboard
        seen = (id(d.server), d.server.version)  # a reconnect swaps the state object
        if seen != self._seen_server or d.server.retry_at is not None:
            self._seen_server = seen
            self.banner.show_state(d.server)
            self.connect_bar.show_state(d.server, d.has_key)
        self.sessions.refresh({o.model.session_id for o in d.open})
        if d.version != self._seen_open:
            # Sessions opened by the core (re-adopted at start) get their tab.
            self._seen_open = d.version
            for item in d.open:
                if not item.model.closed_by_user and not any(
                        v.model is item.model for v in self.views):
                    self.show_session(item.model, focus=False)
        current = self.tabs.currentWidget()
        for view in self.views:
            if view is current:
                view.refresh()
            elif view.flash.notify.isChecked():
                view.flash.refresh()  # hidden tabs still raise flip notifications
            if view is not current and getattr(view, "trader", None) is not None:
                view.trader.tick_hidden()  # alerts fire on bar closes in hidden tabs too
        has_tabs = bool(self.views)
        self.tabs.setVisible(has_tabs)
        self.empty.setVisible(not has_tabs)
        self.cockpit.refresh()
        # Paint what this tick changed now, not after the callbacks queued meanwhile
        # (asyncio's, on the same loop): first the layouts that changed texts asked for
        # (else they run after the tick and cost a second repaint of what they move),
        # then Qt's pending update request for this window: the changed regions, once.
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        QApplication.sendPostedEvents(self, QEvent.Type.UpdateRequest)
