"""A label for a value that changes many times a second (a data version, a queue size).

A plain QLabel asks its layout for new room on every new text, and Qt answers by laying
out each parent in turn up to the window, one event-loop pass per level, after the
display tick has painted: a chip whose number changes width moves its neighbours and
repaints the session view a second time (bench.cockpit: most of the frames that kept
event-to-pixel p99 above 16 ms). A widget of fixed size does not ask (Qt skips the
parents when minimum == maximum), so the text sits in a QLabel whose size is fixed to it
and changes only when the text no longer fits, or is much shorter: the width grows with
the text and does not shake as digits change.

A fixed-size widget cannot be squeezed either: in a row too narrow for it, it would
overlap its neighbour. So the label sits in a holder that asks for the label's size, as
a QLabel does, but clips it when a row too narrow for all gives it less, as a QLabel is
cut.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

# A text this much shorter (in characters) than the one the room was fitted to gives the
# room back (a long link reason that went away); a digit or two less keeps it.
SHRINK = 0.6
QWIDGETSIZE_MAX = (1 << 24) - 1
# Where a live label sits in a layout cell wider than it.
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class _Fitted(QLabel):
    """The label itself: refits when a theme's style sheet changes its padding or font."""

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        holder = self.parentWidget()
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange) and \
                isinstance(holder, LiveLabel):
            holder.fit(again=True)


class LiveLabel(QWidget):
    """QLabel's text API (setText, text, setTextFormat, setTextInteractionFlags) over a
    label that does not re-lay out its window when its text changes."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *,
                 objectName: str = "") -> None:
        super().__init__(parent)
        self._chars = 0  # length of the text the size was fitted to
        self.label = _Fitted(self, objectName=objectName)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def text(self) -> str:
        return self.label.text()

    def setText(self, text: str) -> None:
        if text != self.label.text():
            self.label.setText(text)
            self.fit()

    def setTextFormat(self, fmt: Qt.TextFormat) -> None:
        self.label.setTextFormat(fmt)
        self.fit(again=True)

    def setTextInteractionFlags(self, flags: Qt.TextInteractionFlag) -> None:
        self.label.setTextInteractionFlags(flags)

    def sizeHint(self) -> QSize:
        return self.label.size()

    def minimumSizeHint(self) -> QSize:
        return self.label.size()  # as a QLabel's: a row squeezed below it cuts the text

    def fit(self, again: bool = False) -> None:
        """Fix the label's size to its text; tell the layout only if the size changed."""
        label = self.label
        label.ensurePolished()
        fixed = label.minimumSize() == label.maximumSize()
        if fixed and (again or len(label.text()) < self._chars * SHRINK):
            # A QLabel's size hint is never below its minimum: free it to measure.
            label.setMinimumSize(0, 0)
            label.setMaximumSize(QWIDGETSIZE_MAX, QWIDGETSIZE_MAX)
            fixed = False
        hint = label.sizeHint()
        if not fixed or hint.width() > label.maximumWidth() \
                or hint.height() != label.maximumHeight():
            before = label.size() if fixed else None
            label.setFixedSize(hint)
            self._chars = len(label.text())
            if hint != before:
                self.updateGeometry()
