"""Live time-series graphs for the cockpit (pyqtgraph), a sparkline delegate, PNG export.

A `TimeGraph` draws named `Series` over the last `span` seconds on a clock axis. The
wheel zooms the time span between one minute and the hour the series keep; the span
is what the next redraw asks the series for, so zooming out reads the downsampled ring.
Redraws happen only when a series changed (the pollers add a sample a second) or the
span did, never per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QFileDialog, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.core.timeseries import RECENT, SPAN, Series
from app.ui import theme
from app.ui.chart.axes import GridItem, ValueAxis
from app.ui.chart.time_axis import ClockAxis

MIN_SPAN = 60.0
SPARK_ROLE = Qt.ItemDataRole.UserRole + 1
AXIS_PT = 8.0
VALUE_AXIS_PX = 50  # room for "12.5k" and the unit beside it
GRID_MIX = 0.45  # grid lines: this much of the border colour over the panel's
ZERO_ROOM = 0.04  # of the y range, below zero


def grid_colour() -> str:
    """The border colour mixed into the panel's: an opaque line as faint as a translucent
    one, but drawn on Qt's fast path (no blending)."""
    a, b = QColor(theme.PANEL), QColor(theme.BORDER)
    mix = [round(x + (y - x) * GRID_MIX) for x, y in zip(a.getRgb()[:3], b.getRgb()[:3],
                                                          strict=True)]
    return QColor(*mix).name()


def save_png(widget: QWidget, path: str | Path) -> bool:
    """Write what `widget` shows now as a PNG file."""
    return bool(widget.grab().save(str(path), "PNG"))


def ask_png(parent: QWidget, what: str, widget: QWidget) -> Path | None:
    """File > Export / context menu: ask where, then save `widget` there."""
    name, _ = QFileDialog.getSaveFileName(parent, f"Save {what} as PNG",
                                          f"{what.lower().replace(' ', '-')}.png",
                                          "PNG images (*.png)")
    if not name:
        return None
    path = Path(name if name.lower().endswith(".png") else name + ".png")
    return path if save_png(widget, path) else None


class TimeGraph(pg.PlotWidget):
    """The axes and grid are the candle chart's (FastAxis, GridItem): pyqtgraph's own axes
    re-lay out and replay a picture of every label whenever the window slides (once a
    second), which made each graph's repaint cost ~4 ms (bench.cockpit)."""

    def __init__(self, title: str, unit: str = "",
                 span_changed: Callable[[float], None] | None = None,
                 parent: QWidget | None = None) -> None:
        font = QFont()
        font.setPointSizeF(AXIS_PT)
        colours = {"text": theme.MUTED, "line": theme.BORDER, "font": font}
        self._clock = ClockAxis(**colours)
        self._values = ValueAxis("left", min_px=22.0, **colours)
        super().__init__(parent=parent, axisItems={"bottom": self._clock, "left": self._values})
        self.title = title
        self.span = RECENT
        self._span_changed = span_changed
        self._curves: list[tuple[Series, pg.PlotDataItem]] = []
        # Each curve's pen as (colour, width, dashed): a colour is a theme role ("ACCENT")
        # or a literal; re-made on a theme switch.
        self._pens: dict[int, tuple[str, float, bool]] = {}
        self._heading = (title, False)  # (text, warning)
        self._drawn: tuple[object, ...] = ()
        self._syncing = False
        # The view paints its whole background itself: opaque, so a redraw does not repaint
        # the panel and dock beneath it first (see theme.opaque_viewport).
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumHeight(120)
        self.setMenuEnabled(True)
        self.setLabel("left", unit)
        self._values.setWidth(VALUE_AXIS_PX)
        self._clock.setHeight(22)
        item = self.getPlotItem()
        self._grid = GridItem(self._values, self._clock, grid_colour())
        item.addItem(self._grid, ignoreBounds=True)
        self.legend = item.addLegend(offset=(6, 4), labelTextSize="8pt")
        vb = item.getViewBox()
        vb.setMouseEnabled(x=True, y=False)
        vb.sigRangeChangedManually.connect(self._zoomed)
        # Our own entry beside pyqtgraph's "Export…": one click to a PNG file.
        save = vb.menu.addAction("Save graph as PNG…")
        save.triggered.connect(lambda: ask_png(self, self.title, self))
        self.recolour(theme.effective())
        theme.on_change(self.recolour)

    def recolour(self, _effective: str) -> None:
        """Everything drawn in a theme colour, in the current theme's: background, axes and
        grid, title, legend labels, curves."""
        self.setBackground(theme.PANEL)
        for axis in (self._values, self._clock):
            axis.set_colours(text=theme.MUTED, line=theme.BORDER)
        self._grid.set_colour(grid_colour())
        self._show_heading()
        self.legend.setLabelTextColor(theme.MUTED)
        for _sample, label in self.legend.items:
            label.setText(label.text)  # setLabelTextColor stores the colour; this draws it
        for _series, curve in self._curves:
            self._apply_pen(curve)
        self._drawn = ()

    def set_heading(self, text: str, warning: bool = False) -> None:
        """The graph's title, in the warning colour when `warning`."""
        if (text, warning) != self._heading:
            self._heading = (text, warning)
            self._show_heading()

    def _show_heading(self) -> None:
        text, warning = self._heading
        self.getPlotItem().setTitle(text, size="9pt", color=theme.WARN if warning else theme.TEXT)

    @staticmethod
    def colour(name: str) -> str:
        """A theme role's current colour ("ACCENT" -> theme.ACCENT), or `name` itself."""
        value = getattr(theme, name, None) if name.isupper() else None
        return value if isinstance(value, str) else name

    def _apply_pen(self, curve: pg.PlotDataItem) -> None:
        colour, width, dashed = self._pens[id(curve)]
        curve.setPen(pg.mkPen(self.colour(colour), width=width,
                              style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine))

    def add(self, series: Series, name: str, colour: str, width: float = 1.0,
            dashed: bool = False) -> pg.PlotDataItem:
        """A curve of `series`; `colour` a theme role ("ACCENT", followed on a theme switch)
        or a literal colour."""
        curve = self.plot([], [], name=name)
        self._pens[id(curve)] = (colour, width, dashed)
        self._apply_pen(curve)
        self._curves.append((series, curve))
        return curve

    def set_pen(self, curve: pg.PlotDataItem, colour: str, width: float = 1.0,
                dashed: bool = False) -> None:
        """Change a curve's pen (`colour` as in add)."""
        self._pens[id(curve)] = (colour, width, dashed)
        self._apply_pen(curve)

    def forget_curves(self) -> None:
        self.clear()
        self._curves.clear()
        self._pens.clear()
        self._drawn = ()

    def set_span(self, seconds: float) -> None:
        self.span = max(MIN_SPAN, min(SPAN, seconds))
        self._drawn = ()

    def _zoomed(self, *_args: object) -> None:
        if self._syncing:
            return
        (x0, x1), _ = self.getPlotItem().getViewBox().viewRange()
        self.set_span(x1 - x0)
        if self._span_changed is not None:
            self._span_changed(self.span)

    def _key(self) -> tuple[object, ...]:
        return (self.span, *(s.version for s, _ in self._curves))

    def stale(self) -> bool:
        """A series or the span changed since the last draw."""
        return self._key() != self._drawn

    def refresh(self, now: float | None = None) -> bool:
        """Redraw if a series changed since the last draw; True if it did."""
        key = self._key()
        if key == self._drawn:
            return False
        self._drawn = key
        t = time.time() if now is None else now
        top = 0.0
        for series, curve in self._curves:
            xs, ys = series.window(self.span, t)
            curve.setData(xs, ys)
            if len(ys):
                top = max(top, float(np.nanmax(ys)) if not np.isnan(ys).all() else 0.0)
        self._syncing = True
        try:
            self.setXRange(t - self.span, t, padding=0.01)
            # Every cockpit measure is >= 0: zero sits just above the bottom edge (a
            # one-pixel line at zero, no drops, stays in view), and a flat zero line gets a
            # readable 0..1 scale instead of pyqtgraph's +-0.5 around it.
            high = top * 1.1 if top > 0 else 1.0
            self.setYRange(-high * ZERO_ROOM, high, padding=0)
        finally:
            self._syncing = False
        return True


class SparklineDelegate(QStyledItemDelegate):
    """Paints the list of floats a model returns for SPARK_ROLE as a small line."""

    def __init__(self, colour: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour = colour

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex) -> None:
        super().paint(painter, option, index)
        values = index.data(SPARK_ROLE)
        if not values or len(values) < 2:
            return
        r: QRect = option.rect.adjusted(3, 4, -3, -4)
        lo, hi = min(values), max(values)
        scale = (hi - lo) or 1.0
        step = r.width() / (len(values) - 1)
        poly = QPolygonF([QPointF(r.left() + i * step,
                                  r.bottom() - (v - lo) / scale * r.height())
                          for i, v in enumerate(values)])
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(self.colour), 1.3))
        painter.drawPolyline(poly)
        painter.restore()
