"""The Server panel: profiles, start/stop/restart, state, live log, launcher preferences.

A view over app.launcher: every action is a coroutine on the qasync loop (never blocking
the GUI thread; keyring and /proc scans run on worker threads); the controller's watch
task feeds status changes and log lines. The profile editor and the launcher options live
in app.ui.launcher_form, the log view in app.ui.launcher_log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.launcher import (
    LaunchError,
    LauncherSettings,
    PortInUse,
    Profile,
    ServerController,
    ServerStatus,
)
from app.secrets import ENV_KEY, KeyStore, KeyStoreUnavailable, keyring_call
from app.settings import SettingsError
from app.ui.launcher_form import LauncherOptions, ProfileForm
from app.ui.launcher_log import ServerLogPane

log = logging.getLogger(__name__)

LOG_PANE_MIN_WIDTH = 240
BADGE_COLOURS = {
    ServerStatus.STOPPED: "#5c6370",
    ServerStatus.STARTING: "#4c9aff",
    ServerStatus.LOADING: "#f0b429",
    ServerStatus.READY: "#26a69a",
    ServerStatus.CRASHED: "#ef5350",
}
LOCKED_TIP = ("Locked while the server runs: these settings are used when it starts. "
              "Stop the server to change them.")


def badge_style(status: ServerStatus) -> str:
    return (f"background: {BADGE_COLOURS[status]}; color: white; border-radius: 9px; "
            "padding: 2px 10px; font-weight: 600;")


class StatusBadge(QLabel):
    """A coloured pill with the state name, used in the panel and the status bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.set_status(ServerStatus.STOPPED)

    def set_status(self, status: ServerStatus, tip: str = "") -> None:
        self.setText(status.value)
        self.setStyleSheet(badge_style(status))
        self.setToolTip(tip or f"Server {status.value}")


class _Leftovers:
    """What must be cleaned up if the panel's C++ side is destroyed before aclose() runs
    (e.g. its dock is deleted with the window): watch tasks, the controller's watcher."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[object]] = set()
        self.controller: ServerController | None = None
        self.closing: asyncio.Task[None] | None = None  # held so the loop does not drop it

    def shutdown(self, *_args: object) -> None:
        for task in list(self.tasks):
            task.cancel()
        controller, self.controller = self.controller, None
        if controller is not None:
            with contextlib.suppress(RuntimeError):  # no event loop any more
                self.closing = asyncio.get_event_loop().create_task(controller.aclose())


class LauncherPanel(QWidget):
    """Dock this in the main window; `status_changed` carries the state for a status bar."""

    status_changed = Signal(str)

    def __init__(self, launcher: LauncherSettings | None = None,
                 parent: QWidget | None = None, *, auto_start: bool = True) -> None:
        super().__init__(parent)
        self.launcher = launcher or LauncherSettings()
        self.controller: ServerController | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._suggested_port: int | None = None
        self._life = _Leftovers()
        self._tasks = self._life.tasks
        self._actions: set[asyncio.Task[object]] = set()
        self.destroyed.connect(self._life.shutdown)
        self._build()
        self._load_profiles()
        self._select_profile(self.launcher.selected_name())
        if auto_start and self.launcher.auto_start:
            QTimer.singleShot(0, self._auto_start)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        # The theme's primary button stays blue when disabled; grey it so "Start" reads as off.
        self.setStyleSheet("QPushButton#primary:disabled { background: #232833; "
                           "border-color: #2e3440; }")
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.setSpacing(6)

        top = QHBoxLayout()
        top.addWidget(QLabel("Profile"))
        self.profile_combo = QComboBox()
        self.profile_combo.setMinimumWidth(160)
        self.profile_combo.currentTextChanged.connect(self._profile_picked)
        top.addWidget(self.profile_combo)
        self.new_button = QPushButton("New…")
        self.new_button.clicked.connect(self._new_profile)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._delete_profile)
        top.addWidget(self.new_button)
        top.addWidget(self.delete_button)
        top.addSpacing(16)
        self.badge = StatusBadge()
        top.addWidget(self.badge)
        self.url_label = QLabel()
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.url_label)
        self.pid_label = QLabel()
        self.pid_label.setObjectName("muted")
        top.addWidget(self.pid_label)
        top.addStretch(1)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.restart_button = QPushButton("Restart")
        self.restart_button.clicked.connect(self.restart)
        for button in (self.start_button, self.stop_button, self.restart_button):
            top.addWidget(button)
        root.addLayout(top)

        message_row = QHBoxLayout()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        message_row.addWidget(self.message, 1)
        self.use_port_button = QPushButton()
        self.use_port_button.clicked.connect(self._use_suggested_port)
        self.use_port_button.hide()
        message_row.addWidget(self.use_port_button)
        root.addLayout(message_row)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_editor())
        self.log_pane = ServerLogPane()
        # The dock must fit a 1024-px window beside the sessions: the log pane scrolls.
        self.log_pane.setMinimumWidth(LOG_PANE_MIN_WIDTH)
        self.log_pane.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.log_pane.cleared.connect(self._log_cleared)
        self.log_pane.open_log_button.clicked.connect(self.open_log_file)
        splitter.addWidget(self.log_pane)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([480, 700])
        splitter.setChildrenCollapsible(False)
        root.addWidget(splitter, 1)

    def _build_editor(self) -> QWidget:
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        self.lock_note = QLabel(LOCKED_TIP)
        self.lock_note.setWordWrap(True)
        self.lock_note.setStyleSheet("color: #f0b429;")
        self.lock_note.hide()
        layout.addWidget(self.lock_note)
        self.editor = ProfileForm()
        self.editor.edited.connect(self._form_edited)
        self.editor.keys_button.clicked.connect(self.open_keys_dialog)
        layout.addWidget(self.editor)
        self.options = LauncherOptions(self.launcher.auto_start, self.launcher.restart_policy,
                                       self.launcher.on_quit)
        self.options.changed.connect(self._save_options)
        layout.addWidget(self.options)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(column)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        column.setMinimumWidth(400)
        scroll.setMinimumWidth(420)
        return scroll

    # ------------------------------------------------------------------ profiles
    def _load_profiles(self) -> None:
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        self.profile_combo.addItems(self.launcher.names())
        self.profile_combo.blockSignals(False)

    @property
    def profile(self) -> Profile:
        assert self.controller is not None
        return self.controller.profile

    def _profile_picked(self, name: str) -> None:
        if name and (self.controller is None or name != self.controller.profile.name):
            self._select_profile(name)

    def _select_profile(self, name: str) -> None:
        try:
            profile = self.launcher.get(name)
        except KeyError:
            profile = self.launcher.get()
        old = self.controller
        if old is not None:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe.clear()
            self._spawn(old.aclose())
        controller = ServerController(profile, restart=self.options.policy())
        self.controller = controller
        self._life.controller = controller
        self._unsubscribe = [controller.on_status(self._status_changed),
                             controller.logs.subscribe(self.log_pane.add_lines)]
        self.log_pane.reset(str(controller.log_file))
        self.profile_combo.blockSignals(True)
        self.profile_combo.setCurrentText(profile.name)
        self.profile_combo.blockSignals(False)
        if profile.name in self.launcher.names():
            self.launcher.select(profile.name)
        self._fill_form(profile)
        self._status_changed(controller.status)
        self._spawn(self._detect(controller))

    async def _detect(self, controller: ServerController) -> None:
        await controller.detect()
        controller.watch()

    def _fill_form(self, profile: Profile) -> None:
        self.editor.fill(profile)
        self._show_key_source(profile)

    def _form_edited(self) -> None:
        if self.controller is None:
            return
        if self.controller.status.running or self.controller.owned:
            return  # locked; widgets are disabled, this is a belt-and-braces check
        old_name = self.profile.name
        profile = self.editor.profile(self.profile)
        if profile.name != old_name and profile.name in self.launcher.names():
            self.editor.name_edit.setText(old_name)
            self._show_message(f"A profile named {profile.name!r} already exists.", error=True)
            return
        try:
            self.launcher.save(profile, old_name=old_name)
        except SettingsError as exc:
            self._fill_form(self.profile)
            self._show_message(f"Not saved: {exc}", error=True)
            return
        if profile.name != old_name:
            self._load_profiles()
            self._select_profile(profile.name)
            return
        self.controller.profile = profile
        self.editor.show_details(profile)
        self._show_key_source(profile)
        self._status_changed(self.controller.status)

    def _show_key_source(self, profile: Profile) -> None:
        self.editor.key_label.setText("checking the keyring…")
        self._spawn(self._update_key_label(profile.url))

    async def _update_key_label(self, url: str) -> None:
        # Off the GUI thread: a keyring call is a D-Bus round trip (or an unlock prompt).
        text = await keyring_call(_key_source, url)
        if isValid(self) and self.controller is not None and self.controller.url == url:
            self.editor.key_label.setText(text)

    def _new_profile(self) -> None:
        name, ok = QInputDialog.getText(self, "New profile", "Name of the new profile:")
        name = name.strip()
        if not ok or not name:
            return
        if name in self.launcher.names():
            self._show_message(f"A profile named {name!r} already exists.", error=True)
            return
        self.create_profile(name)

    def create_profile(self, name: str, **fields: object) -> None:
        """Add a profile (a copy of the current one under a new name) and select it."""
        base = replace(self.profile, name=name)
        profile = replace(base, **fields)  # type: ignore[arg-type]
        self.launcher.save(profile)
        self._load_profiles()
        self._select_profile(name)

    def _delete_profile(self) -> None:
        names = self.launcher.names()
        if len(names) <= 1:
            self._show_message("The last profile cannot be deleted.", error=True)
            return
        name = self.profile.name
        answer = QMessageBox.question(self, "Delete profile", f"Delete the profile {name!r}?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.launcher.delete(name)
        self._load_profiles()
        self._select_profile(self.launcher.names()[0])

    # ------------------------------------------------------------------ launcher options
    def _save_options(self) -> None:
        self.launcher.auto_start = self.options.auto_start
        policy = self.options.policy()
        self.launcher.restart_policy = policy
        self.launcher.on_quit = self.options.on_quit
        if self.controller is not None:
            # Applies from the next start: the supervisor of a running server keeps its policy.
            self.controller.restart_policy = policy

    # ------------------------------------------------------------------ actions
    def _spawn(self, coro: Coroutine[Any, Any, object], *, action: bool = False) -> None:
        """Run a coroutine on the loop; `action` ones (start/stop/restart) keep the buttons
        disabled until they finish. Failures become a message in the panel."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        if action:
            self._actions.add(task)

        def done(t: asyncio.Task[object]) -> None:
            self._tasks.discard(t)
            self._actions.discard(t)
            if not isValid(self):
                return
            if not t.cancelled() and t.exception() is not None:
                self._action_failed(t.exception())
            self._update_controls()

        task.add_done_callback(done)

    def _action_failed(self, exc: BaseException) -> None:
        if isinstance(exc, PortInUse) and exc.suggestion is not None:
            self._suggested_port = exc.suggestion
            self.use_port_button.setText(f"Use port {exc.suggestion}")
            self.use_port_button.show()
        if isinstance(exc, LaunchError):
            self._show_message(str(exc), error=True)
        else:
            log.exception("launcher action failed", exc_info=exc)
            self._show_message(f"{type(exc).__name__}: {exc}", error=True)
        self._update_controls()

    def _use_suggested_port(self) -> None:
        if self._suggested_port is None:
            return
        self.editor.port_spin.setValue(self._suggested_port)
        self._suggested_port = None
        self.use_port_button.hide()
        self._show_message("")

    def start(self) -> None:
        if self.controller is None:
            return
        self._show_message("")
        self.use_port_button.hide()
        self.start_button.setEnabled(False)
        self._spawn(self.controller.start(), action=True)

    def stop(self) -> None:
        if self.controller is None:
            return
        self.stop_button.setEnabled(False)
        self._spawn(self.controller.stop(), action=True)

    def restart(self) -> None:
        if self.controller is None:
            return
        self.restart_button.setEnabled(False)
        self._spawn(self.controller.restart(), action=True)

    def _auto_start(self) -> None:
        if self.controller is not None and not self.controller.status.running:
            self._spawn(self._auto_start_async(self.controller), action=True)

    async def _auto_start_async(self, controller: ServerController) -> None:
        if (await controller.detect()).running or controller.owned:
            return
        await controller.start()

    # ------------------------------------------------------------------ state
    def _status_changed(self, status: ServerStatus) -> None:
        controller = self.controller
        if controller is None or not isValid(self):
            return
        self.badge.set_status(status, controller.message)
        self.url_label.setText(controller.url)
        pid = controller.pid
        self.pid_label.setText(f"pid {pid}" if pid else ("attached" if controller.attached
                                                         else ""))
        if status == ServerStatus.CRASHED:
            self._show_message(controller.crash_report(), error=True)
        elif controller.message:
            self._show_message(controller.message, error=False)
        elif status != ServerStatus.STOPPED or not self.use_port_button.isVisible():
            self._show_message("")
        self._update_controls()
        self.status_changed.emit(status.value)

    def _update_controls(self) -> None:
        controller = self.controller
        if controller is None:
            return
        status = controller.status
        busy = bool(self._actions)
        running = status.running or controller.owned
        self.start_button.setEnabled(not running and not busy)
        self.stop_button.setEnabled((controller.owned or controller.attached) and not busy)
        self.restart_button.setEnabled(controller.owned and not busy)
        self.stop_button.setToolTip(
            "This server was not started by the dashboard; stop it where it was started."
            if controller.attached else "Stop gracefully (killed if it does not stop in time)")
        locked = running
        for widget in (self.editor, self.profile_combo, self.new_button, self.delete_button):
            widget.setEnabled(not locked)
            widget.setToolTip(LOCKED_TIP if locked else "")
        self.lock_note.setVisible(locked)

    def _show_message(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        colour = "#ef5350" if error else "#8b95a7"
        self.message.setStyleSheet(f"color: {colour};")
        self.message.setVisible(bool(text))

    # ------------------------------------------------------------------ log view
    def log_text(self) -> str:
        return self.log_pane.text()

    def _log_cleared(self) -> None:
        if self.controller is not None:
            self.controller.logs.clear()

    def open_log_file(self) -> Path | None:
        if self.controller is None:
            return None
        path = self.controller.log_file
        if not path.exists():
            self._show_message(f"No log file yet: {path} is created when the server first "
                               "starts.", error=False)
            return None
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
        return path

    def adopt(self, profile: Profile) -> None:
        """Show `profile` (saved first if new), e.g. the one --demo started a server for."""
        if self.controller is not None and self.controller.profile.name == profile.name:
            return
        if profile.name not in self.launcher.names():
            self.launcher.save(profile)
            self._load_profiles()
        self._select_profile(profile.name)

    def open_keys_dialog(self) -> QWidget:
        """The Keys dialog, on this profile's URL (non-modal; also for the Server menu)."""
        from app.ui.keys_dialog import KeysDialog

        url = self.controller.url if self.controller is not None else None
        dialog = KeysDialog(parent=self, server_url=url)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.keys_changed.connect(lambda: self._show_key_source(self.profile))
        dialog.show()
        return dialog

    # ------------------------------------------------------------------ app life
    def status_badge(self) -> StatusBadge:
        """A badge mirroring this panel's state, for QStatusBar.addPermanentWidget."""
        badge = StatusBadge()
        badge.setToolTip("Local server state (Server panel)")

        def follow(value: str) -> None:
            status = ServerStatus(value)
            badge.set_status(status, self.controller.message if self.controller else "")
            badge.setText(f"server {value}")

        self.status_changed.connect(follow)
        if self.controller is not None:
            follow(self.controller.status.value)
        return badge

    def confirm_quit(self, parent: QWidget | None = None) -> bool:
        """Ask (or apply the remembered choice) whether a server we started keeps running.
        Returns False when the user cancels quitting."""
        controller = self.controller
        if controller is None or not controller.owned:
            return True  # nothing of ours runs (an attached server is never ours to stop)
        choice = self.launcher.on_quit
        if choice == "ask":
            answer = self.ask_on_quit(parent or self)
            if answer is None:
                return False
            choice, remember = answer
            if remember:
                self.launcher.on_quit = choice
                self.options.set_on_quit(choice)
        if choice == "stop":
            controller.request_stop()  # its supervisor finishes the graceful stop on its own
        return True

    def ask_on_quit(self, parent: QWidget) -> tuple[str, bool] | None:
        box = QMessageBox(parent)
        box.setObjectName("launcher-quit-question")
        box.setWindowTitle("Local server is running")
        url = self.controller.url if self.controller else ""
        box.setText(f"The server {self.profile.name!r} ({url}) is still running. "
                    " Leave it running after the dashboard quits, or stop it?")
        box.setInformativeText("A server left running can be stopped later from the dashboard "
                               "or with `layerscale-dashboard server stop`.")
        leave = box.addButton("Leave running", QMessageBox.ButtonRole.AcceptRole)
        stop = box.addButton("Stop server", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        remember = QCheckBox("Remember my choice")
        box.setCheckBox(remember)
        box.exec()
        clicked = box.clickedButton()
        if clicked is leave:
            return "leave", remember.isChecked()
        if clicked is stop:
            return "stop", remember.isChecked()
        return None

    async def aclose(self) -> None:
        """Stop watching (does not stop the server)."""
        if isValid(self):
            self.log_pane.repaint_timer.stop()
        for task in list(self._tasks):
            task.cancel()
        self._life.controller = None
        if self.controller is not None:
            await self.controller.aclose()


class _QuitGuard(QObject):
    """Asks the panel before the main window closes (leave the server running or stop it)."""

    def __init__(self, panel: LauncherPanel, window: QWidget) -> None:
        super().__init__(window)
        self.panel = panel
        self.window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        closing = watched is self.window and event.type() == QEvent.Type.Close
        if closing and not self.panel.confirm_quit(self.window):
            event.ignore()
            return True  # the window stays open
        return False


def attach_to_window(window: QMainWindow, controller: ServerController | None = None
                     ) -> LauncherPanel:
    """Dock the Server panel in the dashboard's MainWindow (idempotent): a "Server" dock, the
    launcher's actions in its Server menu, a state badge in its status bar, and the
    leave-running-or-stop question when it closes. `controller` (e.g. from
    ensure_local_server for --demo) selects that server's profile in the panel."""
    panel: LauncherPanel | None = getattr(window, "launcher_panel", None)
    if panel is None:
        panel = LauncherPanel()
        window.launcher_panel = panel  # type: ignore[attr-defined]
        add_dock = getattr(window, "add_dock", None)
        if add_dock is not None:
            dock = add_dock("Server", panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        else:
            dock = QDockWidget("Server", window)
            dock.setWidget(panel)
            window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        menu = getattr(window, "server_menu", None)
        if menu is not None:
            for text, slot in (("Start local server", panel.start),
                               ("Stop local server", panel.stop),
                               ("Restart local server", panel.restart),
                               ("Licence keys…", panel.open_keys_dialog)):
                action = QAction(text, window)
                action.triggered.connect(slot)
                menu.addAction(action)
            show = QAction("Show server panel", window)
            show.triggered.connect(lambda: (dock.show(), dock.raise_()))
            menu.addAction(show)
        window.statusBar().addPermanentWidget(panel.status_badge())
        window.installEventFilter(_QuitGuard(panel, window))
    if controller is not None:
        panel.adopt(controller.profile)
    return panel


def _key_source(url: str) -> str:
    """Where this profile's key comes from, for the form (runs on the keyring thread)."""
    if os.environ.get(ENV_KEY, "").strip():
        return f"from {ENV_KEY} (environment override)"
    store = KeyStore()
    try:
        key = store.get(url)
    except KeyStoreUnavailable as exc:
        return f"keyring unavailable: {str(exc).split('.')[0]}"
    except ValueError:
        return "—"
    if key is None:
        return f"none stored for {url} (Server > Licence keys…); the server runs without auth"
    where = "this run's memory only" if store.in_memory_only(url) else "the OS keyring"
    return f"stored in {where}; passed to the server in its environment"


__all__ = ["LauncherPanel", "StatusBadge", "attach_to_window"]
