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

# A text this much shorter (in characters) than the one the room was fitted to gives the
# room back (a long link reason that went away); a digit or two less keeps it.
SHRINK = 0.6
QWIDGETSIZE_MAX = (1 << 24) - 1
# Where a live label sits in a layout cell wider than it (a fixed widget is centred).
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class LiveLabel(QLabel):
    _chars = 0  # length of the text the size was fitted to

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
        fixed = self.minimumSize() == self.maximumSize()
        if fixed and (again or len(self.text()) < self._chars * SHRINK):
            # A QLabel's size hint is never below its minimum: free it to measure.
            self.setMinimumSize(0, 0)
            self.setMaximumSize(QWIDGETSIZE_MAX, QWIDGETSIZE_MAX)
            fixed = False
        hint = self.sizeHint()
        if not fixed or hint.width() > self.maximumWidth() \
                or hint.height() != self.maximumHeight():
            self.setFixedSize(hint)
            self._chars = len(self.text())
