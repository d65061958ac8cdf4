"""Query console of a session: prompt or chat messages (+ tools JSON), streamed answer,
its flags, this session's history, cancel.

The generation runs in app.core.console on the asyncio loop; this view only reads the
running record on the display timer, so a fast stream costs one repaint per frame.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.cockpit import SessionCockpit
from app.core.console import InputError, QueryRecord, parse_messages, parse_tools
from app.ui import theme

MESSAGES_EXAMPLE = ('[{"role": "system", "content": "Answer briefly."},\n'
                    ' {"role": "user", "content": "Is the trend bullish?"}]')
STATUS_COLOURS = {"running": theme.ACCENT, "done": theme.OK, "cancelled": theme.WARN,
                  "error": theme.ERROR}


def flags_text(r: QueryRecord) -> str:
    """The answer's flags in one line (finish reason, flash hit, speculative, gap...)."""
    parts = [f"<span style='color:{STATUS_COLOURS.get(r.status, theme.MUTED)}'>{r.status}"
             "</span>", f"{r.tokens} tokens"]
    if r.finish_reason:
        parts.append(f"finish: {r.finish_reason}")
    f = r.flags
    if "flash" in f:
        parts.append("flash hit" if f["flash"] else "no flash hit")
    if "speculative" in f:
        parts.append("speculative" if f["speculative"] else "not speculative")
    if f.get("confidence") is not None:
        parts.append(f"confidence {float(f['confidence']):.2f}")
    if f.get("logit_gap") is not None:
        parts.append(f"logit gap {float(f['logit_gap']):.2f}")
    if f.get("data_version") is not None:
        parts.append(f"at data v{f['data_version']}")
    if r.tool_calls:
        names = ", ".join(str(c.get("function", {}).get("name")) for c in r.tool_calls)
        parts.append(f"tool calls: {names}")
    if r.first_token is not None:
        parts.append(f"first token {r.first_token * 1e3:.0f} ms")
    if r.duration is not None:
        parts.append(f"{r.duration:.2f} s")
    if r.error:
        parts.append(f"<span style='color:{theme.ERROR}'>{r.error}</span>")
    return " · ".join(parts)


class ConsolePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cockpit: SessionCockpit | None = None
        self.record: QueryRecord | None = None
        self._shown: tuple[object, ...] = ()
        self._history_shown = -1
        self.heading = QLabel("<b>Query console</b>")
        self.mode = QComboBox()
        self.mode.addItems(["Prompt", "Chat messages (JSON)"])
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.prompt = QPlainTextEdit(placeholderText="Ask the session's model…")
        self.prompt.setMaximumHeight(90)
        self.tools = QPlainTextEdit(placeholderText='Tools (optional JSON list), e.g. '
                                    '[{"type": "function", "function": {"name": "get_price", '
                                    '"parameters": {"type": "object", "properties": {}}}}]')
        self.tools.setMaximumHeight(60)
        self.max_tokens = QSpinBox(minimum=1, maximum=4096, value=32)
        self.max_tokens.setPrefix("max tokens ")
        self.fast = QCheckBox("fast answer")
        self.fast.setToolTip("Answer from the first token when the model is sure "
                             "(speculative); the flags say whether it was")
        self.send_btn = QPushButton("Send  (Ctrl+Enter)", objectName="primary")
        self.cancel_btn = QPushButton("Cancel  (Esc)")
        self.send_btn.clicked.connect(self.send)
        self.cancel_btn.clicked.connect(self.cancel)
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.send)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.cancel)
        controls = QHBoxLayout()
        for w in (self.mode, self.max_tokens, self.fast):
            controls.addWidget(w)
        controls.addStretch(1)
        controls.addWidget(self.send_btn)
        controls.addWidget(self.cancel_btn)
        self.answer = QPlainTextEdit(readOnly=True, placeholderText="The answer streams in here.")
        self.flags = QLabel(objectName="muted")
        self.flags.setTextFormat(Qt.TextFormat.RichText)
        self.flags.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setStyleSheet(f"color: {theme.ERROR}")
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.history = QListWidget()
        self.history.setMinimumWidth(240)
        self.history.currentRowChanged.connect(self._pick)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.prompt)
        lay.addWidget(self.tools)
        lay.addLayout(controls)
        lay.addWidget(self.problem)
        lay.addWidget(self.answer, 1)
        lay.addWidget(self.flags)
        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        rlay.addWidget(QLabel("History (this session)", objectName="muted"))
        rlay.addWidget(self.history, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.heading)
        layout.addWidget(split, 1)

    def _mode_changed(self, index: int) -> None:
        if index == 1 and not self.prompt.toPlainText().strip():
            self.prompt.setPlainText(MESSAGES_EXAMPLE)

    def set_cockpit(self, cockpit: SessionCockpit | None) -> None:
        if cockpit is self.cockpit:
            return
        self.cockpit = cockpit
        self.record = cockpit.console.running if cockpit is not None else None
        if cockpit is not None and self.record is None and cockpit.console.history:
            self.record = cockpit.console.history[-1]
        self._shown, self._history_shown = (), -1
        self.answer.setPlainText("")
        self.flags.setText("")

    # ------------------------------------------------------------------ actions
    def request(self) -> dict[str, Any]:
        """The query the form describes (InputError says what is wrong with it)."""
        text = self.prompt.toPlainText()
        kwargs: dict[str, Any] = {"max_tokens": self.max_tokens.value(),
                                  "fast_answer": self.fast.isChecked(),
                                  "tools": parse_tools(self.tools.toPlainText())}
        if self.mode.currentIndex() == 1:
            kwargs["messages"] = parse_messages(text)
        else:
            if not text.strip():
                raise InputError("type a prompt first")
            kwargs["prompt"] = text
        return kwargs

    def send(self) -> QueryRecord | None:
        if self.cockpit is None:
            return None
        try:
            self.record = self.cockpit.query(**self.request())
        except (InputError, AttributeError) as exc:
            self.problem.setText(str(exc))
            self.problem.show()
            return None
        self.problem.hide()
        return self.record

    def cancel(self) -> bool:
        return self.cockpit is not None and self.cockpit.console.cancel()

    def _pick(self, row: int) -> None:
        if self.cockpit is None or row < 0:
            return
        items = list(self.cockpit.console.history)
        index = len(items) - 1 - row  # newest first
        if 0 <= index < len(items):
            self.record = items[index]
            self._shown = ()

    # ------------------------------------------------------------------ display
    def refresh(self) -> None:
        c = self.cockpit
        if c is None:
            self.heading.setText("<b>Query console</b> · no session open")
            self.send_btn.setEnabled(False)
            return
        if not self.isVisible():
            return
        console = c.console
        busy = console.busy
        self.send_btn.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)
        if console.running is not None and console.running is not self.record:
            self.record = console.running
        r = self.record
        key = (id(r), r.version if r else -1, c.model.session_id)
        if key != self._shown:
            self._shown = key
            self.heading.setText(f"<b>Query console</b> · {c.model.session_id}")
            if r is not None:
                if self.answer.toPlainText() != r.text:
                    self.answer.setPlainText(r.text)
                    bar = self.answer.verticalScrollBar()
                    bar.setValue(bar.maximum())
                self.flags.setText(flags_text(r))
        if console.version != self._history_shown:
            self._history_shown = console.version
            self._fill_history(list(console.history))

    def _fill_history(self, records: list[QueryRecord]) -> None:
        self.history.blockSignals(True)
        self.history.clear()
        for r in reversed(records):
            asked = r.asked.replace("\n", " ")
            tools = " +tools" if r.tools else ""
            item = QListWidgetItem(f"[{r.status}] {asked[:60]}{tools} · {r.tokens} tok")
            item.setToolTip(json.dumps(r.messages, indent=1) if r.messages else r.asked)
            self.history.addItem(item)
            if r is self.record:
                self.history.setCurrentItem(item)
        self.history.blockSignals(False)
