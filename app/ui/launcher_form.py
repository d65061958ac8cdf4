"""The Server panel's editors: one launcher profile's settings, and the launcher's preferences.

Both are plain views: they show what they are given and signal finished edits; the panel
saves, locks them while a server runs, and owns every keyring or process call.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.launcher import LaunchError, Profile, RestartPolicy
from app.launcher.profiles import (
    API_GENERATIONS,
    KIND_LABELS,
    KINDS,
    KV_CACHE_TYPES,
    LOG_FORMATS,
)

API_LABELS = {1: "1: the seed's API (layerscale 0.2)", 2: "2: current (layerscale 0.5 and later)"}

ON_QUIT_CHOICES = (("Ask", "ask"), ("Leave it running", "leave"), ("Stop it", "stop"))


class ProfileForm(QGroupBox):
    """Every field of a Profile; rows that do not apply to its kind are hidden. `edited`
    fires after each finished edit (not while `fill` loads a profile)."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Profile settings", parent)
        self._loading = False
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form = form
        self.name_edit = QLineEdit()
        self.kind_combo = QComboBox()
        for kind in KINDS:
            self.kind_combo.addItem(KIND_LABELS[kind], kind)
        self.host_edit = QLineEdit()
        self.host_edit.setToolTip("127.0.0.1 keeps the server on this machine; 0.0.0.0 opens it "
                                  "to your network.")
        self.port_spin = spin_box(1, 65535)
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("bundled SmolLM2-135M (default)")
        self.model_row = self._path_row(self.model_edit, self._browse_model)
        self.ctx_spin = spin_box(256, 1_048_576, step=1024)
        self.threads_spin = spin_box(0, 256)
        self.threads_spin.setSpecialValueText("measured")  # 0: the server times 1..N itself
        self.threads_spin.setToolTip("CPU threads; \"measured\" lets the bundled server time "
                                     "each count once on this machine and keep the fastest")
        self.gpu_spin = spin_box(0, 999)
        self.pool_spin = spin_box(1, 1024)
        self.binary_edit = QLineEdit()
        self.binary_edit.setPlaceholderText("/path/to/layerscale-server")
        self.binary_row = self._path_row(self.binary_edit, self._browse_binary)
        self.flash_check = QCheckBox("--flash-attn")
        self.kv_combo = QComboBox()
        self.kv_combo.addItems(list(KV_CACHE_TYPES))
        self.log_format_combo = QComboBox()
        self.log_format_combo.addItems(list(LOG_FORMATS))
        self.api_combo = QComboBox()
        for generation in API_GENERATIONS:
            self.api_combo.addItem(API_LABELS[generation], generation)
        self.api_combo.setToolTip("The API generation the bundled server speaks (--api N)")
        self.require_key_check = QCheckBox("--api-key (the licence key is the bearer token)")
        self.require_key_check.setToolTip("Generation 2 is open unless started with --api-key")
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
        form.addRow("API generation", self.api_combo)
        form.addRow("Require key", self.require_key_check)
        form.addRow("GPUs", self.gpus_check)
        self.keys_button = QPushButton("Keys…")
        self.keys_button.setToolTip("Add, replace, test or remove the licence key for this "
                                    "profile's URL (kept in the OS keyring)")
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_label, 1)
        key_row.addWidget(self.keys_button)
        form.addRow("Licence key", row_widget(key_row))
        self.problems_label = QLabel()
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #ef5350;")
        form.addRow(self.problems_label)
        self.command_view = QPlainTextEdit()
        self.command_view.setReadOnly(True)
        self.command_view.setFont(mono_font())
        self.command_view.setMaximumHeight(72)
        self.command_view.setToolTip("The exact command the launcher runs (the licence key goes "
                                     "through the environment, never here).")
        form.addRow("Command", self.command_view)

        for edit in (self.name_edit, self.host_edit, self.model_edit, self.binary_edit,
                     self.tag_edit):
            edit.editingFinished.connect(self._changed)
        for spin in (self.port_spin, self.ctx_spin, self.threads_spin, self.gpu_spin,
                     self.pool_spin):
            spin.valueChanged.connect(self._changed)
        for combo in (self.kind_combo, self.kv_combo, self.log_format_combo, self.api_combo):
            combo.currentIndexChanged.connect(self._changed)
        for check in (self.flash_check, self.gpus_check, self.require_key_check):
            check.toggled.connect(self._changed)

    def _path_row(self, edit: QLineEdit, browse: Callable[[], None]) -> QWidget:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        row.addWidget(button)
        return row_widget(row)

    def _changed(self) -> None:
        if not self._loading:
            self.edited.emit()

    def fill(self, profile: Profile) -> None:
        """Show `profile` (no `edited` signal), with its problems and command."""
        self._loading = True
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
            self.api_combo.setCurrentIndex(max(self.api_combo.findData(profile.api), 0))
            self.require_key_check.setChecked(profile.require_key)
        finally:
            self._loading = False
        self.show_details(profile)

    def profile(self, base: Profile) -> Profile:
        """`base` with the fields as the user left them."""
        return replace(
            base,
            name=self.name_edit.text().strip() or base.name,
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
            api=self.api_combo.currentData(),
            require_key=self.require_key_check.isChecked(),
        )

    def show_details(self, profile: Profile) -> None:
        """The rows of its kind, what stops it from running, and the command it runs."""
        kind = profile.kind
        rows = {
            self.binary_row: kind == "binary",
            self.tag_edit: kind == "container",
            self.gpus_check: kind == "container",
            self.threads_spin: kind == "bundled",
            self.flash_check: kind != "bundled",
            self.kv_combo: kind != "bundled",
            self.api_combo: kind == "bundled",
            self.require_key_check: kind == "bundled" and profile.api == 2,
        }
        for widget, visible in rows.items():
            self.form.setRowVisible(widget, visible)
        self.model_edit.setPlaceholderText(
            "bundled SmolLM2-135M (default)" if kind == "bundled"
            else "a .gguf model file" + (" (mounted read-only)" if kind == "container" else ""))
        problems = profile.validate()
        self.problems_label.setText("\n".join(problems))
        self.problems_label.setVisible(bool(problems))
        try:
            self.command_view.setPlainText(shlex.join(profile.command()))
        except LaunchError:
            self.command_view.setPlainText("(fix the problems above to see the command)")

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", str(Path.home()),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.model_edit.setText(path)
            self._changed()

    def _browse_binary(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "LayerScale server executable",
                                              str(Path.home()))
        if path:
            self.binary_edit.setText(path)
            self._changed()


class LauncherOptions(QGroupBox):
    """Auto-start, auto-restart (and when it gives up), and what quitting does to a server we
    started. `changed` fires on every edit."""

    changed = Signal()

    def __init__(self, auto_start: bool, policy: RestartPolicy, on_quit: str,
                 parent: QWidget | None = None) -> None:
        super().__init__("Launcher", parent)
        self._policy = policy
        opts = QFormLayout(self)
        self.auto_start_check = QCheckBox("Start the server when the dashboard opens")
        self.auto_start_check.setChecked(auto_start)
        self.auto_restart_check = QCheckBox("Restart it after a crash")
        self.auto_restart_check.setChecked(policy.enabled)
        self.max_crashes_spin = spin_box(1, 100)
        self.max_crashes_spin.setValue(policy.max_crashes)
        self.max_crashes_spin.setToolTip("Auto-restart stops after this many crashes within "
                                         "the time window, and the panel says so.")
        self.window_spin = QDoubleSpinBox()
        self.window_spin.setRange(10, 86400)
        self.window_spin.setDecimals(0)
        self.window_spin.setSuffix(" s")
        self.window_spin.setValue(policy.window)
        give_up = QHBoxLayout()
        give_up.addWidget(self.max_crashes_spin)
        give_up.addWidget(QLabel("crashes in"))
        give_up.addWidget(self.window_spin)
        give_up.addStretch(1)
        self.on_quit_combo = QComboBox()
        for label, value in ON_QUIT_CHOICES:
            self.on_quit_combo.addItem(label, value)
        self.set_on_quit(on_quit)
        opts.addRow(self.auto_start_check)
        opts.addRow(self.auto_restart_check)
        opts.addRow("Give up after", row_widget(give_up))
        opts.addRow("When the dashboard quits", self.on_quit_combo)
        self._enable_restart_fields()
        for check in (self.auto_start_check, self.auto_restart_check):
            check.toggled.connect(self._changed)
        self.max_crashes_spin.valueChanged.connect(self._changed)
        self.window_spin.valueChanged.connect(self._changed)
        self.on_quit_combo.currentIndexChanged.connect(self._changed)

    def _changed(self) -> None:
        self._enable_restart_fields()
        self.changed.emit()

    def _enable_restart_fields(self) -> None:
        enabled = self.auto_restart_check.isChecked()
        self.max_crashes_spin.setEnabled(enabled)
        self.window_spin.setEnabled(enabled)

    @property
    def auto_start(self) -> bool:
        return self.auto_start_check.isChecked()

    def policy(self) -> RestartPolicy:
        """The restart policy as shown (delays keep their saved values)."""
        return replace(self._policy, enabled=self.auto_restart_check.isChecked(),
                       max_crashes=self.max_crashes_spin.value(),
                       window=float(self.window_spin.value()))

    @property
    def on_quit(self) -> str:
        return str(self.on_quit_combo.currentData())

    def set_on_quit(self, choice: str) -> None:
        self.on_quit_combo.setCurrentIndex(max(0, self.on_quit_combo.findData(choice)))


def spin_box(low: int, high: int, step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setKeyboardTracking(False)  # one save per finished edit, not per keystroke
    return spin


def row_widget(layout: QHBoxLayout) -> QWidget:
    layout.setContentsMargins(0, 0, 0, 0)
    widget = QWidget()
    widget.setLayout(layout)
    return widget


def mono_font() -> QFont:
    font = QFont("monospace")
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setPointSize(9)
    return font
