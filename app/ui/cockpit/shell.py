"""The cockpit in the main window: four docks, the Theme / Export / About menus.

The session docks (state, ingest, query console) follow the current session tab; the
server overview covers the whole server. The main window's display timer calls
`refresh()`; each panel tells its poller whether it is visible, so hidden docks poll
nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QMenu, QWidget

from app.core.cockpit import Cockpit, SessionCockpit
from app.ui import theme
from app.ui.cockpit.about import AboutDialog
from app.ui.cockpit.console_panel import ConsolePanel
from app.ui.cockpit.graphs import ask_png, save_png
from app.ui.cockpit.ingest_panel import IngestPanel
from app.ui.cockpit.server_panel import ServerPanel
from app.ui.cockpit.state_panel import StatePanel

log = logging.getLogger(__name__)

THEME_KEY = "appearance/theme"
DOCKS = (("Session state", "Ctrl+1"), ("Ingest", "Ctrl+2"), ("Server overview", "Ctrl+3"),
         ("Query console", "Ctrl+4"))


def _make(ui: CockpitUI, title: str) -> QWidget:
    if title == "Session state":
        return StatePanel()
    if title == "Ingest":
        return IngestPanel()
    if title == "Server overview":
        return ServerPanel(ui.cockpit.server)
    return ConsolePanel()


class CockpitUI:
    def __init__(self, window: Any) -> None:
        self.window = window
        self.cockpit = Cockpit(window.dashboard)
        self._started = False
        # Panels are built when their dock is first shown (or a caller asks for one): four
        # pyqtgraph plots and their menus cost more start-up time than the rest of the window.
        self._built: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        first: QDockWidget | None = None
        for title, keys in DOCKS:
            dock = window.add_dock(title, QWidget(), Qt.DockWidgetArea.BottomDockWidgetArea)
            dock.toggleViewAction().setShortcut(QKeySequence(keys))
            dock.visibilityChanged.connect(
                lambda visible, t=title: visible and self.panel(t))
            if first is None:
                first = dock
            else:
                window.tabifyDockWidget(first, dock)
            dock.hide()  # opened from View (Ctrl+1..4); the chart keeps the room by default
            self.docks[title] = dock
        self._build_menus()

    # ------------------------------------------------------------------ panels
    def panel(self, title: str) -> Any:
        """The panel of one dock, built on first use."""
        found = self._built.get(title)
        if found is None:
            found = self._built[title] = _make(self, title)
            self.docks[title].setWidget(found)
        return found

    @property
    def panels(self) -> dict[str, Any]:
        return {title: self.panel(title) for title, _ in DOCKS}

    @property
    def state(self) -> StatePanel:
        return self.panel("Session state")  # type: ignore[no-any-return]

    @property
    def ingest(self) -> IngestPanel:
        return self.panel("Ingest")  # type: ignore[no-any-return]

    @property
    def server(self) -> ServerPanel:
        return self.panel("Server overview")  # type: ignore[no-any-return]

    @property
    def console(self) -> ConsolePanel:
        return self.panel("Query console")  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ menus
    def _menu(self, title: str) -> QMenu:
        bar = self.window.menuBar()
        for action in bar.actions():
            if action.menu() is not None and action.text().replace("&", "") == title:
                return action.menu()
        menu: QMenu = bar.addMenu(f"&{title}")
        return menu

    def _build_menus(self) -> None:
        w = self.window
        view = w.view_menu
        view.addSeparator()
        theme_menu = view.addMenu("&Theme")
        group = QActionGroup(w)
        self.theme_actions: dict[str, QAction] = {}
        for mode, label in (("system", "Follow the &system"), ("light", "&Light"),
                            ("dark", "&Dark")):
            action = QAction(label, w, checkable=True)
            action.setChecked(mode == theme.mode())
            action.triggered.connect(lambda _c=False, m=mode: self.choose_theme(m))
            group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[mode] = action
        theme_menu.addSeparator()
        toggle = QAction("Toggle light / dark", w, shortcut=QKeySequence("Ctrl+Shift+T"))
        toggle.triggered.connect(lambda: self.choose_theme(
            "light" if theme.effective() == "dark" else "dark"))
        theme_menu.addAction(toggle)

        file_menu = self._menu("File")
        export = QMenu("&Export", w)
        chart = QAction("Session &plot as PNG…", w, shortcut=QKeySequence("Ctrl+Shift+P"))
        chart.triggered.connect(lambda: self._ask_png("session plot", self.current_plot()))
        export.addAction(chart)
        for title in ("Ingest", "Server overview"):
            action = QAction(f"{title} graphs as PNG…" if title == "Ingest"
                             else f"{title} as PNG…", w)
            action.triggered.connect(lambda _c=False, t=title: self._ask_png(
                t.lower(), self.panel(t)))
            export.addAction(action)
        export.addSeparator()
        flash = QAction("&Flash history as CSV…", w, shortcut=QKeySequence("Ctrl+Shift+F"))
        flash.triggered.connect(lambda: self._ask_csv("flash-history", self.flash_csv))
        ingest = QAction("&Ingest metrics as CSV…", w, shortcut=QKeySequence("Ctrl+Shift+I"))
        ingest.triggered.connect(lambda: self._ask_csv("ingest-metrics", self.ingest_csv))
        export.addAction(flash)
        export.addAction(ingest)
        actions = file_menu.actions()
        before = actions[-2] if len(actions) >= 2 else None  # above "Quit" and its separator
        if before is not None:
            file_menu.insertMenu(before, export)
        else:
            file_menu.addMenu(export)
        self.export_menu = export

        help_menu = self._menu("Help")
        about = QAction("&About LayerScale Dashboard", w,
                        shortcut=QKeySequence(QKeySequence.StandardKey.HelpContents))
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)

    # ------------------------------------------------------------------ actions
    def choose_theme(self, mode: str) -> str:
        """The View > Theme menu: switch and remember the choice."""
        effective = self.set_theme(mode)
        settings = getattr(self.window, "settings", None)  # the window's QSettings, if kept
        if settings is not None:
            settings.setValue(THEME_KEY, mode)
        return effective

    def set_theme(self, mode: str) -> str:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        effective = theme.set_mode(app, mode)
        self.theme_actions[mode].setChecked(True)
        return effective

    def show_about(self) -> AboutDialog:
        dialog = AboutDialog(self.window.dashboard.server.model, self.window)
        dialog.setModal(False)
        dialog.show()
        self.about = dialog
        return dialog

    def current_view(self) -> Any:
        from app.ui.session_view import SessionView

        view = self.window.tabs.currentWidget()
        return view if isinstance(view, SessionView) else None

    def current(self) -> SessionCockpit | None:
        view = self.current_view()
        if view is None:
            return None
        return self.cockpit.for_model(view.model, getattr(view, "dashboard", None))

    def current_plot(self) -> QWidget | None:
        view = self.current_view()
        return None if view is None else view.chart

    def flash_csv(self) -> str | None:
        c = self.current()
        return None if c is None else c.times.flash_csv()

    def ingest_csv(self) -> str | None:
        c = self.current()
        return None if c is None else c.ingest.series.to_csv()

    def _ask_png(self, what: str, widget: QWidget | None) -> None:
        if widget is None:
            self.window.statusBar().showMessage("Open a session first.", 5000)
            return
        if not widget.isVisible():
            self.window.statusBar().showMessage(f"Show the {what} first (View menu).", 5000)
            return
        path = ask_png(self.window, what.capitalize(), widget)
        if path is not None:
            self.window.statusBar().showMessage(f"Saved {path}", 5000)

    def _ask_csv(self, name: str, text_of: Any) -> None:
        text = text_of()
        if text is None:
            self.window.statusBar().showMessage("Open a session first.", 5000)
            return
        chosen, _ = QFileDialog.getSaveFileName(self.window, "Export as CSV", f"{name}.csv",
                                                "CSV files (*.csv)")
        if chosen:
            path = Path(chosen)
            path.write_text(text, encoding="utf-8")
            self.window.statusBar().showMessage(f"Saved {path}", 5000)

    def save_png(self, title: str, path: str | Path) -> bool:
        """Save one panel as PNG (screenshots, tests)."""
        return save_png(self.panel(title), path)

    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        if not self._started:
            try:
                self.cockpit.start()
                self._started = True
            except RuntimeError:  # no event loop yet: start on a later frame
                pass
        views = [v for v in self.window.views]
        self.cockpit.prune({id(v.model) for v in views})
        current = self.current()
        for title, panel in self._built.items():
            if title != "Server overview":
                panel.set_cockpit(current)
            panel.refresh()
        for v in views:  # sessions in other tabs poll nothing
            if current is None or v.model is not current.model:
                other = self.cockpit.existing(v.model)
                if other is not None:
                    other.state.want(False)
                    other.stream.want(False)

    async def aclose(self) -> None:
        await self.cockpit.stop()


def saved_theme(settings: Any) -> str:
    """The theme last chosen in View > Theme, from the window's QSettings (else system)."""
    mode = settings.value(THEME_KEY) if settings is not None else None
    return mode if isinstance(mode, str) and mode in theme.MODES else "system"


def attach_cockpit(window: Any) -> CockpitUI:
    """Dock the cockpit into `window` (a MainWindow) and return it."""
    ui = CockpitUI(window)
    window.cockpit = ui
    mode = saved_theme(getattr(window, "settings", None))
    if mode != theme.mode() and QApplication.instance() is not None:
        ui.set_theme(mode)
    return ui
