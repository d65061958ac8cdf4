"""The one-line OHLCV readout above the chart, painted directly.

A rich-text QLabel re-parses and re-lays out HTML on every change; while
following a live feed the readout changes every frame, so this widget keeps
(text, colour) runs and draws them with a few `drawText` calls instead.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["Readout"]

Run = tuple[str, QColor]


class Readout(QWidget):
    def __init__(self, background: str, font: QFont, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._background = QColor(background)
        self._runs: list[Run] = []
        self._placed: list[tuple[float, str, QColor]] = []
        self._plain = ""
        self._widths = {}
        self.setFont(font)
        self._fit_height()
        # Its text changes every frame: it must never ask the layout to re-run.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_runs(self, runs: list[Run]) -> None:
        plain = "".join(text for text, _ in runs)
        if plain != self._plain or runs != self._runs:
            self._runs = runs
            self._plain = plain
            self._layout()
            self.update()

    def _layout(self) -> None:
        # Positions are worked out when the text changes, not on every paint.
        self._placed: list[tuple[float, str, QColor]] = []
        x = 8.0
        widths = self._widths
        if len(widths) > 4096:  # prices and times vary without end: keep it bounded
            widths.clear()
        for text, colour in self._runs:
            self._placed.append((x, text, colour))
            w = widths.get(text)
            if w is None:
                w = widths[text] = self._metrics.horizontalAdvance(text)
            x += w

    def text(self) -> str:
        return self._plain

    def _fit_height(self) -> None:
        # Measured with the font the widget really paints with: an application
        # style sheet (font-size on QWidget) overrides setFont(), and runs laid
        # out with the constructor's font then overlapped ("14:22O 99.29").
        self._metrics = QFontMetricsF(self.font())
        self._widths: dict[str, float] = {}
        self.setFixedHeight(int(self._metrics.height() + 6))
        self._layout()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._fit_height()
        super().changeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(400, self.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self._background)
        y = (self.height() + self._metrics.ascent() - self._metrics.descent()) / 2
        for x, text, colour in self._placed:
            p.setPen(colour)
            p.drawText(QPointF(x, y), text)
        p.end()
