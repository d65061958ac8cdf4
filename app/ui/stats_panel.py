"""The session's statistics (`GET /v1/sessions/{id}/stats`) beside its plot.

The runner keeps `SessionModel.stats` fresh while this panel is visible; the panel only
renders the type's own lines (`StreamType.stats_lines`) when that model changes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from app.api.generation import NOT_OFFERED
from app.core.session import SessionModel
from app.ui import theme

__all__ = ["StatsPanel"]


class StatsPanel(QFrame):
    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setMinimumWidth(190)
        self._shown: object = None
        self._error: str | None = None
        heading = QLabel(f"<b>Statistics</b> <span style='color:{theme.MUTED}'>· "
                         f"{model.stream.title}, the server's window</span>")
        heading.setWordWrap(True)
        self.grid = QGridLayout()
        self.grid.setColumnStretch(1, 1)
        self.grid.setVerticalSpacing(4)
        self.status = QLabel("waiting for the server…", objectName="muted")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(heading)
        layout.addLayout(self.grid)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def refresh(self) -> None:
        m = self.model
        if m.stats is self._shown and m.stats_error == self._error:
            return
        self._shown, self._error = m.stats, m.stats_error
        if m.stats is not None:
            self.set_lines(m.stream.stats_lines(m.stats))
        if m.stats_error and m.stats_error.endswith(NOT_OFFERED):  # gen 2: no stats route
            self.status.setText(f"Statistics: {NOT_OFFERED} (its API generation has none).")
        else:
            self.status.setText(f"not updated: {m.stats_error}" if m.stats_error else "")
        self.status.setVisible(bool(m.stats_error) or m.stats is None)

    def set_lines(self, lines: list[tuple[str, str]]) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()
        for row, (label, value) in enumerate(lines):
            name = QLabel(label, objectName="muted")
            text = QLabel(value)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setWordWrap(True)
            self.grid.addWidget(name, row, 0, Qt.AlignmentFlag.AlignTop)
            self.grid.addWidget(text, row, 1)

    def lines(self) -> list[tuple[str, str]]:
        """What the panel shows, as (label, value) text (for tests)."""
        out = []
        for row in range(self.grid.rowCount()):
            name, value = self.grid.itemAtPosition(row, 0), self.grid.itemAtPosition(row, 1)
            if name is not None and value is not None:
                out.append((name.widget().text(), value.widget().text()))
        return out
