"""The "New session" dialog: everything `POST /v1/sessions/init` takes, plus mark prefix."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from app.core.session import SessionSpec

TYPES = ("ohlcv", "iot", "spatial", "event", "vitals")
DEFAULT_PROMPT = (
    "You are a market analyst. Each line below is one OHLCV candle (open, high, low, "
    "close, volume), oldest first. Answer questions about the data briefly: yes or no first."
)
DEFAULT_QUERIES = "Is the trend bullish? Answer yes or no.\nIs volume increasing? Answer yes or no."


class CreateSessionDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New session")
        self.setMinimumWidth(520)
        self.type = QComboBox()
        self.type.addItems(TYPES)
        self.prompt = QPlainTextEdit(DEFAULT_PROMPT)
        self.prompt.setFixedHeight(90)
        self.context = QSpinBox(minimum=0, maximum=1_048_576, singleStep=1024, value=4096)
        self.context.setSpecialValueText("server default")
        self.context.setSuffix(" tokens")
        self.window = QSpinBox(minimum=0, maximum=1_000_000, singleStep=50, value=60)
        self.window.setSpecialValueText("no window (grow until full)")
        self.window.setSuffix(" entries")
        self.queries = QPlainTextEdit(DEFAULT_QUERIES)
        self.queries.setFixedHeight(70)
        self.max_tokens = QSpinBox(minimum=1, maximum=256, value=8)
        self.mark_prefix = QCheckBox("Freeze the system prompt as the prefix (mark_prefix)")
        self.mark_prefix.setChecked(True)
        hint = QLabel("One flash query per line; each is answered again after every data update.",
                      objectName="muted")
        hint.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Type", self.type)
        form.addRow("System prompt", self.prompt)
        form.addRow("Context", self.context)
        form.addRow("Window size", self.window)
        form.addRow("Flash queries", self.queries)
        form.addRow("", hint)
        form.addRow("Answer tokens", self.max_tokens)
        form.addRow("", self.mark_prefix)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def spec(self) -> SessionSpec:
        queries = tuple(q.strip() for q in self.queries.toPlainText().splitlines() if q.strip())
        return SessionSpec(
            type=self.type.currentText(),
            prompt=self.prompt.toPlainText().strip() or None,
            context=self.context.value() or None,
            window_size=self.window.value() or None,
            flash=queries,
            flash_max_tokens=self.max_tokens.value(),
            mark_prefix=self.mark_prefix.isChecked(),
        )
