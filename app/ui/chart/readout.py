"""The one-line OHLCV readout above the chart, painted directly.

A rich-text QLabel re-parses and re-lays out HTML on every change; while
following a live feed the readout changes every frame, so this widget keeps
(text, colour) runs and draws them with a few `drawText` calls instead.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["Readout"]

Run = tuple[str, QColor]


class Readout(QWidget):
    def __init__(self, background: str, font: QFont, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._background = QColor(background)
        self.setFont(font)
        self._metrics = QFontMetricsF(font)
        self._runs: list[Run] = []
        self._plain = ""
        height = int(self._metrics.height() + 6)
        self.setFixedHeight(height)
        # Its text changes every frame: it must never ask the layout to re-run.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_runs(self, runs: list[Run]) -> None:
        plain = "".join(text for text, _ in runs)
        if plain != self._plain or runs != self._runs:
            self._runs = runs
            self._plain = plain
            self.update()

    def text(self) -> str:
        return self._plain

    def sizeHint(self) -> QSize:
        return QSize(400, self.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self._background)
        x = 8.0
        y = (self.height() + self._metrics.ascent() - self._metrics.descent()) / 2
        for text, colour in self._runs:
            p.setPen(colour)
            p.drawText(QPointF(x, y), text)
            x += self._metrics.horizontalAdvance(text)
        p.end()
