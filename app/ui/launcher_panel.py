"""The Server panel: profiles, start/stop/restart, state, live log, launcher preferences.

A view over app.launcher: every action is a coroutine on the qasync loop (never blocking
the GUI thread); the controller's watch task feeds status changes and log lines, and the log
view is repainted from a timer so a burst of lines costs one repaint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import shlex
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QFont, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
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
    RestartPolicy,
    ServerController,
    ServerStatus,
)
from app.launcher.profiles import KIND_LABELS, KINDS, KV_CACHE_TYPES, LOG_FORMATS
from app.secrets import KeyStore, KeyStoreUnavailable
from app.secrets.store import ENV_KEY
from app.settings import SettingsError

log = logging.getLogger(__name__)

BADGE_COLOURS = {
    ServerStatus.STOPPED: "#5c6370",
    ServerStatus.STARTING: "#4c9aff",
    ServerStatus.LOADING: "#f0b429",
    ServerStatus.READY: "#26a69a",
    ServerStatus.CRASHED: "#ef5350",
}
LOCKED_TIP = ("Locked while the server runs: these settings are used when it starts. "
              "Stop the server to change them.")
LOG_REPAINT_MS = 100
# A plain Python thread for keyring look-ups: qasync's default executor is made of QThreads,
# which Qt complains about (or aborts on) when they are still around at exit.
_KEYRING_THREAD = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                        thread_name_prefix="keyring")


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
        self.closing: asyncio.Task[None] | None = None

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
        self._unsubscribe: list[object] = []
        self._pending_lines: list[str] = []
        self._loading_form = False
        self._suggested_port: int | None = None
        self._life = _Leftovers()
        self._tasks = self._life.tasks
        self._actions: set[asyncio.Task[object]] = set()
        self.destroyed.connect(self._life.shutdown)
        self._build()
        self._load_profiles()
        self.repaint_timer = QTimer(self)
        self.repaint_timer.setInterval(LOG_REPAINT_MS)
        self.repaint_timer.timeout.connect(self._flush_logs)
        self.repaint_timer.start()
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
        splitter.addWidget(self._build_log_view())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([480, 700])
        splitter.setChildrenCollapsible(False)
        root.addWidget(splitter, 1)

    def _build_editor(self) -> QWidget:
        column = QWidget()
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)

        self.editor = QGroupBox("Profile settings")
        form = QFormLayout(self.editor)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form = form
        self.name_edit = QLineEdit()
        self.kind_combo = QComboBox()
        for kind in KINDS:
            self.kind_combo.addItem(KIND_LABELS[kind], kind)
        self.host_edit = QLineEdit()
        self.host_edit.setToolTip("127.0.0.1 keeps the server on this machine; 0.0.0.0 opens it "
                                  "to your network.")
        self.port_spin = _spin(1, 65535)
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("bundled SmolLM2-135M (default)")
        model_row = QHBoxLayout()
        model_row.setContentsMargins(0, 0, 0, 0)
        model_row.addWidget(self.model_edit, 1)
        self.model_browse = QPushButton("Browse…")
        self.model_browse.clicked.connect(self._browse_model)
        model_row.addWidget(self.model_browse)
        self.model_row = _row_widget(model_row)
        self.ctx_spin = _spin(256, 1_048_576, step=1024)
        self.threads_spin = _spin(1, 256)
        self.gpu_spin = _spin(0, 999)
        self.pool_spin = _spin(1, 1024)
        self.binary_edit = QLineEdit()
        self.binary_edit.setPlaceholderText("/path/to/layerscale-server")
        binary_row = QHBoxLayout()
        binary_row.setContentsMargins(0, 0, 0, 0)
        binary_row.addWidget(self.binary_edit, 1)
        self.binary_browse = QPushButton("Browse…")
        self.binary_browse.clicked.connect(self._browse_binary)
        binary_row.addWidget(self.binary_browse)
        self.binary_row = _row_widget(binary_row)
        self.flash_check = QCheckBox("--flash-attn")
        self.kv_combo = QComboBox()
        self.kv_combo.addItems(list(KV_CACHE_TYPES))
        self.log_format_combo = QComboBox()
        self.log_format_combo.addItems(list(LOG_FORMATS))
        self.tag_edit = QLineEdit()
        self.gpus_check = QCheckBox("--gpus all")
        self.key_label = QLabel()
        self.key_label.setObjectName("muted")
        self.key_label.setWordWrap(True)

        form.addRow("Name", self.name_edit)
        form.addRow("Kind", self.kind_combo)
        form.addRow("Executable", self.binary_row)
        form.addRow("Image tag", self.tag_edit)
        form.addRow("Model (.gguf)", self.model_row)
        form.addRow("Host", self.host_edit)
        form.addRow("Port", self.port_spin)
        form.addRow("Context size", self.ctx_spin)
        form.addRow("Threads", self.threads_spin)
        form.addRow("GPU layers", self.gpu_spin)
        form.addRow("Pool size", self.pool_spin)
        form.addRow("Flash attention", self.flash_check)
        form.addRow("KV cache type", self.kv_combo)
        form.addRow("Log format", self.log_format_combo)
        form.addRow("GPUs", self.gpus_check)
        self.keys_button = QPushButton("Keys…")
        self.keys_button.setToolTip("Add, replace, test or remove the licence key for this "
                                    "profile's URL (kept in the OS keyring)")
        self.keys_button.clicked.connect(self.open_keys_dialog)
        key_row = QHBoxLayout()
        key_row.setContentsMargins(0, 0, 0, 0)
        key_row.addWidget(self.key_label, 1)
        key_row.addWidget(self.keys_button)
        form.addRow("Licence key", _row_widget(key_row))
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #ef5350;")
        form.addRow(self.problems_label)
        self.command_view = QPlainTextEdit()
        self.command_view.setReadOnly(True)
        self.command_view.setFont(_mono())
        self.command_view.setMaximumHeight(72)
        self.command_view.setToolTip("The exact command the launcher runs (the licence key goes "
                                     "through the environment, never here).")
        form.addRow("Command", self.command_view)

        for widget in (self.name_edit, self.host_edit, self.model_edit, self.binary_edit,
                       self.tag_edit):
            widget.editingFinished.connect(self._form_edited)
        for spin in (self.port_spin, self.ctx_spin, self.threads_spin, self.gpu_spin,
                     self.pool_spin):
            spin.valueChanged.connect(self._form_edited)
        for combo in (self.kind_combo, self.kv_combo, self.log_format_combo):
            combo.currentIndexChanged.connect(self._form_edited)
        for check in (self.flash_check, self.gpus_check):
            check.toggled.connect(self._form_edited)
        self.lock_note = QLabel(LOCKED_TIP)
        self.lock_note.setWordWrap(True)
        self.lock_note.setStyleSheet("color: #f0b429;")
        self.lock_note.hide()
        layout.addWidget(self.lock_note)
        layout.addWidget(self.editor)

        options = QGroupBox("Launcher")
        opts = QFormLayout(options)
        self.auto_start_check = QCheckBox("Start the server when the dashboard opens")
        self.auto_start_check.setChecked(self.launcher.auto_start)
        self.auto_start_check.toggled.connect(self._save_options)
        policy = self.launcher.restart_policy
        self.auto_restart_check = QCheckBox("Restart it after a crash")
        self.auto_restart_check.setChecked(policy.enabled)
        self.max_crashes_spin = _spin(1, 100)
        self.max_crashes_spin.setValue(policy.max_crashes)
        self.window_spin = QDoubleSpinBox()
        self.window_spin.setRange(10, 86400)
        self.window_spin.setDecimals(0)
        self.window_spin.setSuffix(" s")
        self.window_spin.setValue(policy.window)
        give_up = QHBoxLayout()
        give_up.setContentsMargins(0, 0, 0, 0)
        give_up.addWidget(self.max_crashes_spin)
        give_up.addWidget(QLabel("crashes in"))
        give_up.addWidget(self.window_spin)
        give_up.addStretch(1)
        self.max_crashes_spin.setToolTip("Auto-restart stops after this many crashes within "
                                         "the time window, and the panel says so.")
        self.on_quit_combo = QComboBox()
        for label, value in (("Ask", "ask"), ("Leave it running", "leave"),
                             ("Stop it", "stop")):
            self.on_quit_combo.addItem(label, value)
        self.on_quit_combo.setCurrentIndex(max(0, self.on_quit_combo.findData(
            self.launcher.on_quit)))
        for widget in (self.auto_restart_check,):
            widget.toggled.connect(self._save_options)
        self.max_crashes_spin.valueChanged.connect(self._save_options)
        self.window_spin.valueChanged.connect(self._save_options)
        self.on_quit_combo.currentIndexChanged.connect(self._save_options)
        opts.addRow(self.auto_start_check)
        opts.addRow(self.auto_restart_check)
        opts.addRow("Give up after", _row_widget(give_up))
        opts.addRow("When the dashboard quits", self.on_quit_combo)
        layout.addWidget(options)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(column)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        column.setMinimumWidth(440)
        scroll.setMinimumWidth(470)
        return scroll

    def _build_log_view(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        title = QLabel("Server log")
        title.setStyleSheet("font-weight: 600;")
        bar.addWidget(title)
        self.follow_check = QCheckBox("Follow")
        self.follow_check.setChecked(True)
        self.follow_check.setToolTip("Keep the newest line in view")
        bar.addWidget(self.follow_check)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search the log…")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.returnPressed.connect(self.find_next)
        self.search_edit.textChanged.connect(self._search_changed)
        bar.addWidget(self.search_edit, 1)
        self.find_button = QPushButton("Find next")
        self.find_button.clicked.connect(self.find_next)
        bar.addWidget(self.find_button)
        self.match_label = QLabel()
        self.match_label.setObjectName("muted")
        self.match_label.setMinimumWidth(72)
        bar.addWidget(self.match_label)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the view (the log file keeps everything)")
        self.clear_button.clicked.connect(self.clear_log_view)
        bar.addWidget(self.clear_button)
        self.open_log_button = QPushButton("Open log file")
        self.open_log_button.clicked.connect(self.open_log_file)
        bar.addWidget(self.open_log_button)
        layout.addLayout(bar)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setFont(_mono())
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setPlaceholderText("The server's output appears here when it runs.")
        layout.addWidget(self.log_view, 1)
        self.log_path_label = QLabel()
        self.log_path_label.setObjectName("muted")
        self.log_path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.log_path_label)
        return box

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
                unsubscribe()  # type: ignore[operator]
            self._unsubscribe.clear()
            self._spawn(old.aclose())
        controller = ServerController(profile, restart=self._policy_from_widgets())
        self.controller = controller
        self._life.controller = controller
        self._unsubscribe = [controller.on_status(self._status_changed),
                             controller.logs.subscribe(self._pending_lines.extend)]
        self.log_view.clear()
        self._pending_lines.clear()
        self.profile_combo.blockSignals(True)
        self.profile_combo.setCurrentText(profile.name)
        self.profile_combo.blockSignals(False)
        if profile.name in self.launcher.names():
            self.launcher.select(profile.name)
        self._fill_form(profile)
        self.log_path_label.setText(f"Log file: {controller.log_file}")
        self._status_changed(controller.status)
        self._spawn(self._detect(controller))

    async def _detect(self, controller: ServerController) -> None:
        await controller.detect()
        controller.watch()

    def _fill_form(self, profile: Profile) -> None:
        self._loading_form = True
        try:
            self.name_edit.setText(profile.name)
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(profile.kind))
            self.host_edit.setText(profile.host)
            self.port_spin.setValue(profile.port)
            self.model_edit.setText(profile.model)
            self.ctx_spin.setValue(profile.ctx_size)
            self.threads_spin.setValue(profile.threads)
            self.gpu_spin.setValue(profile.gpu_layers)
            self.pool_spin.setValue(profile.pool_size)
            self.binary_edit.setText(profile.binary)
            self.flash_check.setChecked(profile.flash_attn)
            self.kv_combo.setCurrentText(profile.kv_cache_type)
            self.log_format_combo.setCurrentText(profile.log_format)
            self.tag_edit.setText(profile.image_tag)
            self.gpus_check.setChecked(profile.gpus)
        finally:
            self._loading_form = False
        self._show_kind_rows(profile.kind)
        self._show_profile_details(profile)

    def _profile_from_form(self) -> Profile:
        return replace(
            self.profile,
            name=self.name_edit.text().strip() or self.profile.name,
            kind=self.kind_combo.currentData(),
            host=self.host_edit.text().strip() or "127.0.0.1",
            port=self.port_spin.value(),
            model=self.model_edit.text().strip(),
            ctx_size=self.ctx_spin.value(),
            threads=self.threads_spin.value(),
            gpu_layers=self.gpu_spin.value(),
            pool_size=self.pool_spin.value(),
            binary=self.binary_edit.text().strip(),
            flash_attn=self.flash_check.isChecked(),
            kv_cache_type=self.kv_combo.currentText(),
            log_format=self.log_format_combo.currentText(),
            image_tag=self.tag_edit.text().strip() or "latest",
            gpus=self.gpus_check.isChecked(),
        )

    def _form_edited(self) -> None:
        if self._loading_form or self.controller is None:
            return
        if self.controller.status.running or self.controller.owned:
            return  # locked; widgets are disabled, this is a belt-and-braces check
        old_name = self.profile.name
        profile = self._profile_from_form()
        if profile.name != old_name and profile.name in self.launcher.names():
            self.name_edit.setText(old_name)
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
        self._show_kind_rows(profile.kind)
        self._show_profile_details(profile)
        self._status_changed(self.controller.status)

    def _show_kind_rows(self, kind: str) -> None:
        rows = {
            self.binary_row: kind == "binary",
            self.tag_edit: kind == "container",
            self.gpus_check: kind == "container",
            self.threads_spin: kind == "bundled",
            self.flash_check: kind != "bundled",
            self.kv_combo: kind != "bundled",
        }
        for widget, visible in rows.items():
            self.form.setRowVisible(widget, visible)
        self.model_edit.setPlaceholderText(
            "bundled SmolLM2-135M (default)" if kind == "bundled"
            else "a .gguf model file" + (" (mounted read-only)" if kind == "container" else ""))

    def _show_profile_details(self, profile: Profile) -> None:
        problems = profile.validate()
        self.problems_label.setText("\n".join(problems))
        self.problems_label.setVisible(bool(problems))
        try:
            self.command_view.setPlainText(shlex.join(profile.command()))
        except LaunchError:
            self.command_view.setPlainText("(fix the problems above to see the command)")
        self.key_label.setText("checking the keyring…")
        self._spawn(self._update_key_label(profile.url))

    async def _update_key_label(self, url: str) -> None:
        # Off the GUI thread: a keyring call is a D-Bus round trip (or an unlock prompt).
        text = await asyncio.get_running_loop().run_in_executor(_KEYRING_THREAD, _key_source, url)
        if isValid(self) and self.controller is not None and self.controller.url == url:
            self.key_label.setText(text)

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

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", str(Path.home()),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.model_edit.setText(path)
            self._form_edited()

    def _browse_binary(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "LayerScale server executable",
                                              str(Path.home()))
        if path:
            self.binary_edit.setText(path)
            self._form_edited()

    # ------------------------------------------------------------------ launcher options
    def _policy_from_widgets(self) -> RestartPolicy:
        if not hasattr(self, "auto_restart_check"):
            return self.launcher.restart_policy
        return replace(self.launcher.restart_policy,
                       enabled=self.auto_restart_check.isChecked(),
                       max_crashes=self.max_crashes_spin.value(),
                       window=float(self.window_spin.value()))

    def _save_options(self) -> None:
        self.launcher.auto_start = self.auto_start_check.isChecked()
        policy = self._policy_from_widgets()
        self.launcher.restart_policy = policy
        self.launcher.on_quit = self.on_quit_combo.currentData()
        enabled = self.auto_restart_check.isChecked()
        self.max_crashes_spin.setEnabled(enabled)
        self.window_spin.setEnabled(enabled)
        if self.controller is not None:
            # Applies from the next start: the supervisor of a running server keeps its policy.
            self.controller.restart_policy = policy

    # ------------------------------------------------------------------ actions
    def _spawn(self, coro: object, *, action: bool = False) -> None:
        """Run a coroutine on the loop; `action` ones (start/stop/restart) keep the buttons
        disabled until they finish. Failures become a message in the panel."""
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        if action:
            self._actions.add(task)

        def done(t: asyncio.Task[object]) -> None:
            self._tasks.discard(t)
            self._actions.discard(t)
            if not isValid(self):
                return
            if not t.cancelled() and t.exception() is not None:
                self._action_failed(t.exception())  # type: ignore[arg-type]
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
        self.port_spin.setValue(self._suggested_port)
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
    def _flush_logs(self) -> None:
        if not self._pending_lines:
            return
        text = "\n".join(self._pending_lines[-5000:])
        self._pending_lines.clear()
        bar = self.log_view.verticalScrollBar()
        keep = bar.value()
        self.log_view.appendPlainText(text)
        if self.follow_check.isChecked():
            bar.setValue(bar.maximum())
        else:
            bar.setValue(keep)
        if self.search_edit.text():
            self._count_matches()

    def log_text(self) -> str:
        self._flush_logs()
        return self.log_view.toPlainText()

    def clear_log_view(self) -> None:
        self._pending_lines.clear()
        self.log_view.clear()
        if self.controller is not None:
            self.controller.logs.clear()
        self.match_label.setText("")

    def _search_changed(self, text: str) -> None:
        if text:
            self._count_matches()
        else:
            self.match_label.setText("")

    def _count_matches(self) -> int:
        needle = self.search_edit.text().lower()
        count = self.log_view.toPlainText().lower().count(needle) if needle else 0
        self.match_label.setText(f"{count} match{'es' if count != 1 else ''}")
        return count

    def find_next(self) -> bool:
        """Select the next match (wrapping); stops following so the match stays in view."""
        needle = self.search_edit.text()
        if not needle:
            return False
        self._flush_logs()
        self._count_matches()
        if self.log_view.find(needle):
            self.follow_check.setChecked(False)
            return True
        cursor = self.log_view.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.Start)
        self.log_view.setTextCursor(cursor)
        found = self.log_view.find(needle, QTextDocument.FindFlag(0))
        if found:
            self.follow_check.setChecked(False)
        return found

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
        dialog.keys_changed.connect(lambda: self._show_profile_details(self.profile))
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
                self.on_quit_combo.setCurrentIndex(self.on_quit_combo.findData(choice))
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
            self.repaint_timer.stop()
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
    import os

    if os.environ.get(ENV_KEY, "").strip():
        return f"from {ENV_KEY} (environment override)"
    try:
        key = KeyStore().get(url)
    except KeyStoreUnavailable as exc:
        return f"keyring unavailable: {str(exc).split('.')[0]}"
    except ValueError:
        return "—"
    if key is None:
        return f"none stored for {url} (Server > Licence keys…); the server runs without auth"
    where = "this run's memory only" if KeyStore().in_memory_only(url) else "the OS keyring"
    return f"stored in {where}; passed to the server in its environment"


def _spin(low: int, high: int, step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setKeyboardTracking(False)  # one save per finished edit, not per keystroke
    return spin


def _row_widget(layout: QHBoxLayout) -> QWidget:
    widget = QWidget()
    widget.setLayout(layout)
    return widget


def _mono() -> QFont:
    font = QFont("monospace")
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setPointSize(9)
    return font


__all__ = ["LauncherPanel", "StatusBadge", "attach_to_window"]
