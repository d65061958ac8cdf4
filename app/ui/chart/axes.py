"""Axes and grid of the candle chart, built to cost almost nothing per frame.

pyqtgraph's AxisItem regenerates a QPicture of its ticks whenever the range
changes (every new candle while following), measuring every label and
replaying the picture each frame; here that cost about 1-2 ms per axis per
frame.  `FastAxis` keeps AxisItem's place in the plot layout and its mouse
handling, but paints itself: a few tick values, each label a cached
`QStaticText`.  The grid is a separate item that draws all its lines with a
single `drawLines` call at the axes' tick values.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QStaticText, QTransform

from app.ui.chart.batch import LineBatch, Rules
from app.ui.chart.items import ViewFillingItem

__all__ = [
    "FastAxis",
    "FixedAxis",
    "GridItem",
    "PriceAxis",
    "ValueAxis",
    "VolumeAxis",
    "price_decimals",
    "short_number",
]

Tick = tuple[float, str]

_LABEL_GAP_PX = 6.0
_TAG_TEXT = QColor("#ffffff")
_TAG_HALF_PX = 8.0


def short_number(v: float) -> str:
    a = abs(v)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}" if a < 1000 else f"{v:.0f}"


def price_decimals(price: float) -> int:
    """Decimals that show about five significant digits, at least two."""
    if price == 0 or not math.isfinite(price):
        return 2
    return max(2, min(8, -math.floor(math.log10(abs(price))) + 4))


def nice_step(raw: float, multiples: tuple[float, ...] = (1, 2, 2.5, 5, 10)) -> float:
    """Smallest 'round' step (1, 2, 2.5, 5 x 10^k) at least `raw`."""
    if not raw > 0 or not math.isfinite(raw):
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in multiples if m * mag >= raw * (1 - 1e-9))


class FastAxis(pg.AxisItem):
    """An AxisItem that paints its own ticks from `ticks(lo, hi, length_px)`."""

    def __init__(
        self, orientation: str, *, text: str, line: str, font: QFont, min_px: float = 46.0
    ) -> None:
        super().__init__(orientation)
        # With auto SI prefix on, every range change re-sets the (unused) axis
        # title's HTML and re-lays out the plot.
        self.enableAutoSIPrefix(False)
        self._text_pen = QPen(QColor(text))
        self._line_pen = pg.mkPen(line)
        self._font = QFont(font)
        self.min_px = min_px
        self._static: dict[str, tuple[QStaticText, float, float]] = {}
        self._marks = LineBatch()
        self._rule = Rules(line)
        self._key: tuple[float, ...] | None = None
        self._ticks: list[Tick] = []
        self._placed_key: tuple[object, ...] | None = None
        self._placed: list[tuple[float, QRectF, QStaticText]] = []

    def set_colours(self, *, text: str, line: str) -> None:
        """New colours (a theme switch); pen() and textPen() report them too."""
        self._text_pen = QPen(QColor(text))
        self._line_pen = pg.mkPen(line)
        self._rule = Rules(line)
        self.setPen(self._line_pen)
        self.setTextPen(self._text_pen)

    def boundingRect(self) -> QRectF:
        # pyqtgraph's works it out in Python from the style on every call, and Qt asks
        # several times a frame; it changes only with the axis's geometry.
        geo = self.geometry()
        if geo != getattr(self, "_bounds_geo", None):  # (asked during pyqtgraph's __init__)
            self._bounds_geo = QRectF(geo)
            self._bounds = super().boundingRect()
        return self._bounds

    # Subclasses say where ticks go and what they read.
    def ticks(self, lo: float, hi: float, length_px: float) -> list[Tick]:
        raise NotImplementedError

    def data_key(self) -> tuple[float, ...]:
        """Extra cache key: what besides the range changes the ticks."""
        return ()

    def length_px(self) -> float:
        geo = self.geometry()
        return geo.width() if self.orientation in ("top", "bottom") else geo.height()

    def tick_list(self) -> list[Tick]:
        lo, hi = self.range
        length = self.length_px()
        key = (lo, hi, length, *self.data_key())
        if key != self._key:
            self._ticks = self.ticks(lo, hi, length) if hi > lo and length > 0 else []
            self._key = key
        return self._ticks

    def _static_text(self, label: str) -> tuple[QStaticText, float, float]:
        """The label laid out once, with its width and height."""
        st = self._static.get(label)
        if st is None:
            if len(self._static) > 512:
                self._static.clear()
            text = QStaticText(label)
            text.prepare(QTransform(), self._font)
            size = text.size()
            st = self._static[label] = (text, size.width(), size.height())
        return st

    def paint(self, p: QPainter, opt: object, widget: object) -> None:
        rect = self.mapRectFromParent(self.geometry())
        lo, hi = self.range
        horizontal = self.orientation in ("top", "bottom")
        left, top = rect.left(), rect.top()
        # A left axis hangs its marks and labels off its right edge, toward the plot.
        on_left = self.orientation == "left"
        edge = rect.right() if on_left else left
        # The axis line, every tick mark in one call, then every label with one pen.
        if horizontal:
            self._rule.draw(p, [top], [], rect)
        else:
            self._rule.draw(p, [], [edge], rect)
        labels: list[tuple[QPointF, QStaticText]] = []
        marks: list[tuple[float, float, float, float]] = []
        if hi > lo and horizontal:
            for x, box, st in self.placed_labels(rect):
                marks.append((x, top, x, top + 4))
                labels.append((box.topLeft(), st))
        elif hi > lo:
            bottom = rect.bottom()
            scale = rect.height() / (hi - lo)
            for value, label in self.tick_list():
                st, width, height = self._static_text(label)
                half = height / 2
                y = bottom - (value - lo) * scale
                if not top + half <= y <= bottom - half or self.covered(y, half):
                    continue
                if on_left:
                    marks.append((edge - 4, y, edge, y))
                    labels.append((QPointF(edge - 7 - width, y - half), st))
                else:
                    marks.append((edge, y, edge + 4, y))
                    labels.append((QPointF(edge + 7, y - half), st))
        if marks:
            self._marks.resize(len(marks))[:] = marks
            p.setPen(self._line_pen)
            self._marks.draw(p)
        # QStaticText draws with the painter's font: it must be the one it was prepared with.
        p.setFont(self._font)
        p.setPen(self._text_pen)
        for at, st in labels:
            p.drawStaticText(at, st)
        self.paint_overlay(p, rect)

    def placed_labels(self, rect: QRectF | None = None) -> list[tuple[float, QRectF, QStaticText]]:
        """Horizontal axis: (tick x, label box, text) of the labels drawn, left to right.

        Labels are centred on their tick but kept inside the axis; one that
        would touch the previous label is dropped (its tick too), so labels
        pushed in from the left edge never run into their neighbour.
        """
        if rect is None:
            rect = self.mapRectFromParent(self.geometry())
        lo, hi = self.range
        if not hi > lo:
            return []
        ticks = self.tick_list()
        left, top, width = rect.left(), rect.top(), rect.width()
        # Same ticks in the same box (a repaint of an unchanged view): same labels.
        key = (self._key, left, top, width)
        if key == self._placed_key:
            return self._placed
        scale = width / (hi - lo)
        right = left + width
        out: list[tuple[float, QRectF, QStaticText]] = []
        end = -math.inf
        for value, label in ticks:
            st, w, h = self._static_text(label)
            x = left + (value - lo) * scale
            at = min(max(x - w / 2, left), right - w)
            if at < end + _LABEL_GAP_PX:
                continue
            out.append((x, QRectF(at, top + 5, w, h), st))
            end = at + w
        self._placed_key, self._placed = key, out
        return out

    def covered(self, y: float, half_height: float) -> bool:
        """Vertical axis: True if the overlay hides a label centred at y."""
        return False

    def paint_overlay(self, p: QPainter, rect: QRectF) -> None:
        """Drawn on top of the axis every frame (e.g. a price tag)."""


class PriceAxis(FastAxis):
    """Right price axis: round steps, one precision for all labels, last-price tag."""

    def __init__(self, *, text: str, line: str, font: QFont) -> None:
        super().__init__("right", text=text, line=line, font=font, min_px=42.0)
        self._tag: tuple[float, str, QColor] | None = None

    def ticks(self, lo: float, hi: float, length_px: float) -> list[Tick]:
        step = nice_step((hi - lo) * self.min_px / length_px)
        first = math.ceil(lo / step)
        values = [k * step for k in range(first, math.floor(hi / step) + 1)]
        need = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if _is_quarter(step) else 0))
        decimals = max(need, price_decimals(max(abs(lo), abs(hi))))
        return [(v, f"{v:,.{decimals}f}") for v in values]

    def set_tag(self, price: float, text: str, color: QColor) -> None:
        if self._tag != (price, text, color):
            self._tag = (price, text, color)
            self.update()

    def _tag_y(self, rect: QRectF) -> float | None:
        lo, hi = self.range
        if self._tag is None or not hi > lo:
            return None
        y = rect.bottom() - (self._tag[0] - lo) * rect.height() / (hi - lo)
        return y if rect.top() <= y <= rect.bottom() else None

    def covered(self, y: float, half_height: float) -> bool:
        # A tick label half hidden under the last-price tag reads as a wrong price.
        tag_y = self._tag_y(self.mapRectFromParent(self.geometry()))
        return tag_y is not None and abs(y - tag_y) < _TAG_HALF_PX + half_height

    def paint_overlay(self, p: QPainter, rect: QRectF) -> None:
        y = self._tag_y(rect)
        if y is None or self._tag is None:
            return
        _, text, color = self._tag
        box = QRectF(rect.left(), y - _TAG_HALF_PX, rect.width(), 2 * _TAG_HALF_PX)
        p.fillRect(box, color)
        st, _, height = self._static_text(text)
        p.setPen(_TAG_TEXT)
        p.drawStaticText(QPointF(rect.left() + 7, y - height / 2), st)


def _is_quarter(step: float) -> bool:
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    return abs(mantissa - 2.5) < 1e-6


class FixedAxis(FastAxis):
    """An axis with the same few labelled values whatever the range (a pane's levels)."""

    def __init__(self, orientation: str, values: list[Tick], *, text: str, line: str,
                 font: QFont) -> None:
        super().__init__(orientation, text=text, line=line, font=font)
        self._values = list(values)

    def ticks(self, lo: float, hi: float, length_px: float) -> list[Tick]:
        return [(v, label) for v, label in self._values if lo <= v <= hi]


class ValueAxis(FastAxis):
    """A plain value axis: round steps about `min_px` apart, short labels (1.2k)."""

    def ticks(self, lo: float, hi: float, length_px: float) -> list[Tick]:
        step = nice_step((hi - lo) * self.min_px / length_px, (1, 2, 5, 10))
        first = math.ceil(lo / step - 1e-9)
        return [(k * step, short_number(k * step))
                for k in range(first, math.floor(hi / step + 1e-9) + 1)]


class VolumeAxis(FastAxis):
    """Volume axis: at most two round labels, the pane is short."""

    def __init__(self, *, text: str, line: str, font: QFont) -> None:
        super().__init__("right", text=text, line=line, font=font)

    def ticks(self, lo: float, hi: float, length_px: float) -> list[Tick]:
        if hi <= 0:
            return []
        step = nice_step(hi / 2.5, (1, 2, 5, 10))
        if step * 1 > hi * 0.95:
            step = nice_step(hi / 5, (1, 2, 5, 10))
        return [(step * k, short_number(step * k)) for k in (1, 2) if step * k <= hi * 0.95]


class GridItem(ViewFillingItem):
    """Horizontal lines at the price axis's ticks, vertical at the time axis's."""

    def __init__(self, price_axis: FastAxis, time_axis: FastAxis, color: str) -> None:
        super().__init__()
        self._axes = (price_axis, time_axis)
        self._rules = Rules(color)
        self.setZValue(-100)

    def set_colour(self, color: str) -> None:
        self._rules = Rules(color)
        self.update()

    def paint(self, p: QPainter, *args: object) -> None:
        vb = self.getViewBox()
        if vb is None:
            return
        price_axis, time_axis = self._axes
        self._rules.draw(p, [v for v, _ in price_axis.tick_list()],
                         [v for v, _ in time_axis.tick_list()], vb.viewRect())
