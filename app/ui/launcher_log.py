"""The Server panel's log view: live server output with follow, search and clear.

Lines arrive in bursts from the controller's watch task; they are queued and painted from
a timer, so a burst costs one repaint. Clearing empties the view only: the log file keeps
everything (the panel wires "Open log file").
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.launcher.logs import VIEW_LINES
from app.ui.launcher_form import mono_font

LOG_REPAINT_MS = 100


class ServerLogPane(QWidget):
    """`cleared` fires when the user clears the view (the panel empties the controller's
    buffer too, so the lines do not come back)."""

    cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
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
        self.clear_button.clicked.connect(self.clear)
        bar.addWidget(self.clear_button)
        self.open_log_button = QPushButton("Open log file")
        bar.addWidget(self.open_log_button)
        layout.addLayout(bar)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setFont(mono_font())
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log_view.setMaximumBlockCount(VIEW_LINES)
        self.log_view.setPlaceholderText("The server's output appears here when it runs.")
        layout.addWidget(self.log_view, 1)
        self.path_label = QLabel()
        self.path_label.setObjectName("muted")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.path_label)
        self._pending: list[str] = []
        self.repaint_timer = QTimer(self)
        self.repaint_timer.setInterval(LOG_REPAINT_MS)
        self.repaint_timer.timeout.connect(self.flush)
        self.repaint_timer.start()

    def add_lines(self, lines: list[str]) -> None:
        """Queue lines for the next repaint (cheap: called for every batch the server writes)."""
        self._pending.extend(lines)

    def reset(self, log_file: str) -> None:
        """Empty the view for another profile's log."""
        self._pending.clear()
        self.log_view.clear()
        self.path_label.setText(f"Log file: {log_file}")

    def flush(self) -> None:
        if not self._pending:
            return
        text = "\n".join(self._pending[-VIEW_LINES:])
        self._pending.clear()
        bar = self.log_view.verticalScrollBar()
        keep = bar.value()
        self.log_view.appendPlainText(text)
        bar.setValue(bar.maximum() if self.follow_check.isChecked() else keep)
        if self.search_edit.text():
            self._count_matches()

    def text(self) -> str:
        self.flush()
        return self.log_view.toPlainText()

    def clear(self) -> None:
        self._pending.clear()
        self.log_view.clear()
        self.match_label.setText("")
        self.cleared.emit()

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
        self.flush()
        self._count_matches()
        found = self.log_view.find(needle)
        if not found:
            cursor = self.log_view.textCursor()
            cursor.movePosition(QTextCursor.MoveOperation.Start)
            self.log_view.setTextCursor(cursor)
            found = self.log_view.find(needle, QTextDocument.FindFlag(0))
        if found:
            self.follow_check.setChecked(False)
        return found
