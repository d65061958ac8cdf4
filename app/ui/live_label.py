"""A label for a value that changes many times a second (a data version, a queue size).

A plain QLabel asks its layout for new room on every new text, and Qt answers by laying
out each parent in turn up to the window, one event-loop pass per level, after the
display tick has painted: a chip whose number changes width moves its neighbours and
repaints the session view a second time (bench.cockpit: most of the frames that kept
event-to-pixel p99 above 16 ms). A widget of fixed size does not ask (Qt skips the
parents when minimum == maximum), so this label fixes its size to its text and only
changes it when the text no longer fits, or is much shorter: the width grows with the
text and does not shake as digits change.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QWidget

# A text this much narrower than the room kept for it gives the room back (a long link
# reason that went away); a digit or two less keeps it.
SHRINK_PX = 48
# Where a live label sits in a layout cell wider than it (a fixed widget is centred).
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class LiveLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.setText(text)

    def setText(self, text: str) -> None:
        if text == self.text():
            return
        super().setText(text)
        self.fit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.fit(again=True)  # a theme's style sheet sets the padding

    def fit(self, again: bool = False) -> None:
        """Fix the size to the text."""
        self.ensurePolished()
        hint = self.sizeHint()
        room = self.maximumWidth()
        fixed = room == self.minimumWidth()
        if (again or not fixed or hint.width() > room or hint.width() < room - SHRINK_PX
                or hint.height() != self.maximumHeight()):
            self.setFixedSize(hint)
