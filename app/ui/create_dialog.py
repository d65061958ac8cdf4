"""The "New session" dialog: everything `POST /v1/sessions/init` takes, plus mark prefix;
on an API generation-2 server what `POST /v1/sessions` takes (id, pre_decode, window).

Each stream type brings its own system prompt and example flash questions (from the
registry), framed so that the bundled model answers them; switching the type replaces
them unless the user has edited them.
"""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from app.core.session import SessionSpec
from app.streams import registry
from app.streams.base import frame_question


class CreateSessionDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New session")
        self.setMinimumWidth(560)
        self.type = QComboBox()
        for stream in registry.all_types():
            self.type.addItem(f"{stream.name} · {stream.title}", stream.name)
        self.prompt = QPlainTextEdit()
        self.prompt.setFixedHeight(100)
        self.context = QSpinBox(minimum=0, maximum=1_048_576, singleStep=1024, value=4096)
        self.context.setSpecialValueText("server default")
        self.context.setSuffix(" tokens")
        self.window = QSpinBox(minimum=0, maximum=1_000_000, singleStep=50, value=60)
        self.window.setSpecialValueText("no window (grow until full)")
        self.window.setSuffix(" entries")
        self.queries = QPlainTextEdit()
        self.queries.setFixedHeight(70)
        self.frame = QCheckBox("Frame each question as \"Question: … Answer:\" (small chat "
                               "models such as the bundled one answer yes or no then)")
        self.frame.setChecked(True)
        self.max_tokens = QSpinBox(minimum=1, maximum=256, value=8)
        self.mark_prefix = QCheckBox("Freeze the system prompt as the prefix (mark_prefix)")
        self.mark_prefix.setChecked(True)
        hint = QLabel("One flash query per line; each is answered again after every data update.",
                      objectName="muted")
        hint.setWordWrap(True)
        self.fields = QLabel(objectName="muted")
        self.fields.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Type", self.type)
        form.addRow("", self.fields)
        form.addRow("System prompt", self.prompt)
        form.addRow("Context", self.context)
        form.addRow("Window size", self.window)
        form.addRow("Flash queries", self.queries)
        form.addRow("", hint)
        form.addRow("", self.frame)
        form.addRow("Answer tokens", self.max_tokens)
        form.addRow("", self.mark_prefix)
        # Generation 2 only (shown by set_generation): its create takes these instead.
        self.session_id = QLineEdit(placeholderText="server-made (sess_…)")
        self.session_id.setValidator(QRegularExpressionValidator(
            QRegularExpression(r"[A-Za-z0-9_-]{0,128}"), self.session_id))
        self.pre_decode = QCheckBox("Pre-decode (pre_decode)")
        self.window_tokens = QSpinBox(minimum=0, maximum=1_048_576, singleStep=256, value=0)
        self.window_tokens.setSpecialValueText("append-only (no window)")
        self.window_tokens.setSuffix(" tokens")
        self._gen2_rows = [("Session id", self.session_id), ("", self.pre_decode),
                           ("Sliding window", self.window_tokens)]
        for label, widget in self._gen2_rows:
            form.addRow(label, widget)
        self._gen1_only = [self.context, self.window, self.mark_prefix]
        self._form = form
        self.generation = 1
        self._show_generation()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._defaults: tuple[str, str] = ("", "")
        self.type.currentIndexChanged.connect(self._type_changed)
        self._type_changed()

    def set_generation(self, generation: int | None) -> None:
        """Show the fields the server's API generation takes (1 when not known yet)."""
        self.generation = int(generation or 1)
        self._show_generation()

    def _show_generation(self) -> None:
        gen2 = self.generation == 2
        for _label, widget in self._gen2_rows:
            self._form.setRowVisible(widget, gen2)
        for widget in self._gen1_only:
            self._form.setRowVisible(widget, not gen2)

    @property
    def stream_name(self) -> str:
        return str(self.type.currentData())

    def set_type(self, name: str) -> None:
        self.type.setCurrentIndex(self.type.findData(name))

    def _type_changed(self) -> None:
        stream = registry.get(self.stream_name)
        # The user's own text stays; the previous type's suggestions are replaced.
        if (self.prompt.toPlainText(), self.queries.toPlainText()) in (self._defaults,
                                                                       ("", "")):
            self.prompt.setPlainText(stream.demo_prompt())
            self.queries.setPlainText("\n".join(stream.questions))
        self._defaults = (self.prompt.toPlainText(), self.queries.toPlainText())
        required = ", ".join(f"{f.name} ({f.label})" for f in stream.required())
        self.fields.setText(f"Entries: {required}; timestamp optional.")

    def spec(self) -> SessionSpec:
        queries = tuple(q.strip() for q in self.queries.toPlainText().splitlines() if q.strip())
        if self.frame.isChecked():
            queries = tuple(frame_question(q) for q in queries)
        return SessionSpec(
            type=self.stream_name,
            prompt=self.prompt.toPlainText().strip() or None,
            # Generation 2 has neither (its window is in tokens, below); hidden there.
            context=(self.context.value() or None) if self.generation != 2 else None,
            window_size=(self.window.value() or None) if self.generation != 2 else None,
            flash=queries,
            flash_max_tokens=self.max_tokens.value(),
            mark_prefix=self.mark_prefix.isChecked(),
            session_id=(self.session_id.text().strip() or None) if self.generation == 2
            else None,
            pre_decode=self.generation == 2 and self.pre_decode.isChecked(),
            window_tokens=(self.window_tokens.value() or None) if self.generation == 2
            else None,
        )
