"""CandleChart: a live candle chart with a volume pane over a CandleStore.

x is the candle index (candle i is drawn at x = i), so gaps in time (nights,
weekends) take no space and level-of-detail bins are plain index ranges; the
time axis and the crosshair translate indices to times with the store's
time column.

The widget never polls by itself: the owner calls `refresh()` from a
display-rate timer, and `refresh()` returns at once when the store's version
has not changed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from datetime import tzinfo

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QVBoxLayout, QWidget

from app.streams.candles import CandleStore
from app.ui.chart.axes import GridItem, PriceAxis, VolumeAxis, price_decimals, short_number
from app.ui.chart.items import (
    CandleItem,
    LevelLine,
    Marker,
    MarkerItem,
    VisibleBars,
    VolumeItem,
)
from app.ui.chart.lod import CandleLod
from app.ui.chart.pending import PendingShade
from app.ui.chart.readout import Readout
from app.ui.chart.style import ChartStyle
from app.ui.chart.time_axis import TimeAxisItem, format_time

__all__ = ["CandleChart"]

_INITIAL_CANDLES = 120
_RIGHT_MARGIN = 4.0  # candles of empty space right of the newest one
_MIN_VISIBLE = 8.0
_Y_PAD = 0.08


class _ChartViewBox(pg.ViewBox):
    """A ViewBox that knows when a mouse drag is in progress."""

    sigDragFinished = Signal()

    def __init__(self) -> None:
        super().__init__(enableMenu=False, defaultPadding=0.0)
        self.dragging = False

    def mouseDragEvent(self, ev: object, axis: int | None = None) -> None:
        if ev.isStart():  # type: ignore[attr-defined]
            self.dragging = True
        try:
            super().mouseDragEvent(ev, axis=axis)
        finally:
            if ev.isFinish():  # type: ignore[attr-defined]
                self.dragging = False
                self.sigDragFinished.emit()


def _draws_nothing(vb: pg.ViewBox) -> None:
    """A view box, its child group and its (pen-less) border draw nothing themselves:
    flagged or hidden, the scene skips them instead of calling an empty paint each frame."""
    vb.setFlag(vb.GraphicsItemFlag.ItemHasNoContents, True)
    vb.childGroup.setFlag(vb.GraphicsItemFlag.ItemHasNoContents, True)
    vb.borderRect.setVisible(vb.borderRect.pen().style() != Qt.PenStyle.NoPen)
    plot = vb.parentItem()
    if isinstance(plot, pg.PlotItem):  # a layout cell: its paint draws nothing either
        plot.setFlag(plot.GraphicsItemFlag.ItemHasNoContents, True)
        # Its buttons are hidden: no need to re-check them on every change of the view.
        with contextlib.suppress(RuntimeError, TypeError):
            vb.sigStateChanged.disconnect(plot.viewStateChanged)


class CandleChart(QWidget):
    """Candles + volume over `store`; see the module docstring for the refresh contract."""

    # The candle index under the crosshair, or None when it left the chart: extra panes
    # (app.ui.chart.confidence_pane) and linked charts (app.ui.grid_view) follow it.
    hovered = Signal(object)

    def __init__(
        self,
        store: CandleStore,
        parent: QWidget | None = None,
        *,
        tz: tzinfo | None = None,
        style: ChartStyle | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.style_ = style or ChartStyle()
        st = self.style_
        self._lod = CandleLod(store)
        self._bars = VisibleBars(self._lod)
        self._markers: list[Marker] = []
        self._follow = True
        self._seen_version = -1
        self._seen_epoch = -1
        self._n = 0
        self._lo = math.inf
        self._hi = -math.inf
        self._vmax = 0.0
        self._hover: int | None = None
        self._y_fit_pending = False
        self._colours = {
            name: QColor(getattr(st, name)) for name in ("up", "down", "muted", "text", "marker")
        }
        self._limits_n = 0
        self._in_refresh = False
        self._panes: list[pg.ViewBox] = []  # extra panes under the prices (add_pane)
        # Extra readout runs for the candle under the crosshair (e.g. the flash answer then).
        self.readout_extras: list[Callable[[int], list[tuple[str, QColor]]]] = []

        self._view = pg.GraphicsLayoutWidget()
        self._view.setBackground(st.background)
        # Almost every frame changes most of the view (following, y re-fit):
        # skipping Qt's dirty-region bookkeeping is cheaper than using it.
        self._view.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        # For the same reason: the view's solid background is painted over the whole
        # viewport each frame, so the viewport's own fill and the background pixmap
        # cache are two more full-size copies; and the scene's BSP index would be
        # rebuilt for the view-filling items every frame their range moves.
        self._view.viewport().setAutoFillBackground(False)
        self._view.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        self._view.scene().setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self._view.ci.layout.setContentsMargins(4, 2, 2, 2)
        self._view.ci.setFlag(self._view.ci.GraphicsItemFlag.ItemHasNoContents, True)
        self._view.ci.layout.setVerticalSpacing(0)
        readout_font = QFont()
        readout_font.setPointSizeF(st.font_pt + 0.5)
        self._readout = Readout(st.background, readout_font, self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self._readout)
        lay.addWidget(self._view)

        font = QFont()
        font.setPointSizeF(st.font_pt)
        self._font = font

        self._price_vb = _ChartViewBox()
        self._volume_vb = _ChartViewBox()
        colours = {"text": st.text, "line": st.axis, "font": font}
        self._time_axis = TimeAxisItem(store, tz, **colours)
        self._price_axis = PriceAxis(**colours)
        self.price_plot: pg.PlotItem = self._view.addPlot(
            row=0, col=0, viewBox=self._price_vb, axisItems={"right": self._price_axis}
        )
        self.volume_plot: pg.PlotItem = self._view.addPlot(
            row=1,
            col=0,
            viewBox=self._volume_vb,
            axisItems={"right": VolumeAxis(**colours), "bottom": self._time_axis},
        )
        self._view.ci.layout.setRowStretchFactor(0, 4)
        self._view.ci.layout.setRowStretchFactor(1, 1)
        self._followers: list[pg.ViewBox] = []
        self._copying_x = False
        self._price_vb.sigXRangeChanged.connect(self._copy_x)
        self._follow_x(self._volume_vb)
        self._pending = PendingShade([self.price_plot, self.volume_plot], st.background)
        for plot, vb in ((self.price_plot, self._price_vb), (self.volume_plot, self._volume_vb)):
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.hideAxis("left")
            for name in ("left", "top", "bottom"):
                plot.getAxis(name).enableAutoSIPrefix(False)
            plot.showAxis("right")
            # Wheel and drag move time only; the price range follows the data.
            vb.setMouseEnabled(x=True, y=False)
            vb.disableAutoRange()
            plot.getAxis("right").setWidth(st.axis_width_px)
            # The view box and its child group draw nothing themselves (no
            # border): skipping their paint calls saves a Python call each frame.
            _draws_nothing(vb)
        self.price_plot.hideAxis("bottom")
        # Hidden axes would still follow every range change: cut them loose.
        for plot, names in (
            (self.price_plot, ("left", "top", "bottom")),
            (self.volume_plot, ("left", "top")),
        ):
            for name in names:
                plot.getAxis(name).unlinkFromView()
        self._time_axis.setHeight(22)
        self._hide_empty_borders()

        self._candles = CandleItem(self._bars, st)
        self._volume = VolumeItem(self._bars, st)
        self._grid = GridItem(self._price_axis, self._time_axis, st.grid)
        self.price_plot.addItem(self._grid)
        self.price_plot.addItem(self._candles)
        self.volume_plot.addItem(self._volume)
        self._marker_lines = MarkerItem(store, self._markers, st, mode="line")
        self._marker_flags = MarkerItem(store, self._markers, st, mode="flag")
        self.price_plot.addItem(self._marker_lines)
        self.volume_plot.addItem(self._marker_flags)
        self._marker_lines.setVisible(False)
        self._marker_flags.setVisible(False)

        self._last_line = LevelLine(pg.mkPen(st.last_price, style=Qt.PenStyle.DotLine))
        self._last_line.setVisible(False)
        self.price_plot.addItem(self._last_line, ignoreBounds=True)
        self._last_rising: bool | None = None
        self._tag_colours = (QColor(st.up), QColor(st.down))
        self._last_pens = tuple(
            pg.mkPen(colour, style=Qt.PenStyle.DotLine) for colour in self._tag_colours
        )

        cross_pen = pg.mkPen(st.crosshair, style=Qt.PenStyle.DashLine)
        self._vline = LevelLine(cross_pen, angle=90)
        self._vline_vol = LevelLine(cross_pen, angle=90)
        self._hline = LevelLine(cross_pen)
        self.price_plot.addItem(self._vline, ignoreBounds=True)
        self.volume_plot.addItem(self._vline_vol, ignoreBounds=True)
        self.price_plot.addItem(self._hline, ignoreBounds=True)
        self._hide_crosshair()

        self._price_vb.sigXRangeChanged.connect(self._on_x_range_changed)
        self._price_vb.sigDragFinished.connect(self._on_drag_finished)
        self._volume_vb.sigDragFinished.connect(self._on_drag_finished)
        self._view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._view.viewport().installEventFilter(self)
        self._view.viewport().setMouseTracking(True)

        self.refresh()

    # ------------------------------------------------------------------ public
    def refresh(self) -> bool:
        """Bring the chart up to the store; returns False at once if nothing changed."""
        store = self.store
        if store.version == self._seen_version and store.epoch == self._seen_epoch:
            return False
        reset = store.epoch != self._seen_epoch or len(store) < self._n
        n_old = 0 if reset else self._n
        (x0, x1), _ = self._price_vb.viewRange()
        # "At the right edge" = the newest candle was on screen before this update.
        at_edge = x1 >= n_old - 1
        self._lod.sync()
        n = len(store)
        self._seen_version = store.version
        self._seen_epoch = store.epoch
        self._update_bounds(n_old, n, reset)
        self._n = n
        if n and (n > self._limits_n + max(_RIGHT_MARGIN, self._limits_n * 0.05) or reset):
            # Limits leave 10% headroom and are re-set only when the data
            # outgrows half of it: setLimits costs a view update per call.
            self._limits_n = n
            self._price_vb.setLimits(
                xMin=-_MIN_VISIBLE,
                xMax=n + max(4 * _RIGHT_MARGIN, n * 0.1),
                minXRange=_MIN_VISIBLE,
                maxXRange=n * 1.2 + 4 * _RIGHT_MARGIN + _MIN_VISIBLE,
            )
        if n and n_old == 0:
            self.set_x_range(n - _INITIAL_CANDLES, n - 1 + _RIGHT_MARGIN)
        elif self._follow and at_edge and n > n_old and not self._price_vb.dragging:
            shift = n - n_old
            # The y fit below runs once for the whole refresh, not per range signal.
            self._in_refresh = True
            try:
                self._price_vb.setXRange(x0 + shift, x1 + shift, padding=0)
            finally:
                self._in_refresh = False
        elif at_edge:
            # New candles inside an unmoved view: time ticks may have appeared.
            self._time_axis.update()
            self._grid.update()
        self._fit_y()
        self._update_last_line()
        self._candles.update()
        self._volume.update()
        if self._markers:
            self._marker_lines.update()
            self._marker_flags.update()
        if self._hover is None:
            self._show_readout(n - 1)
        # pyqtgraph applies a range change to the view transform lazily, at the
        # start of the next paint, which then schedules a second paint: apply it now.
        self._price_vb.updateMatrix()
        self._volume_vb.updateMatrix()
        return True

    def add_marker(
        self, timestamp: float, label: str = "", color: str | QColor | None = None
    ) -> None:
        """Mark `timestamp` on the time axis (e.g. where a flash answer changed)."""
        self._markers.append(Marker(float(timestamp), label, QColor(color or self.style_.marker)))
        for item in (self._marker_lines, self._marker_flags):
            item.setVisible(True)
            item.update()

    def clear_markers(self) -> None:
        self._markers.clear()
        for item in (self._marker_lines, self._marker_flags):
            item.setVisible(False)

    @property
    def markers(self) -> list[Marker]:
        return list(self._markers)

    def set_pending(self, first: int | None) -> None:
        """Fade candles from index `first` on (queued at the server, not yet read by the
        model); None: every candle is read."""
        if first is None or first >= len(self.store):
            self._pending.hide()
        else:
            self._pending.show(first - 0.5, len(self.store) - 0.5)

    @property
    def pending_span(self) -> tuple[float, float] | None:
        return self._pending.span

    def set_store(self, store: CandleStore) -> None:
        """Draw another store (e.g. the same candles at another timeframe), keeping the
        markers; the next refresh redraws from scratch and follows the newest bar."""
        if store is self.store:
            return
        self.store = store
        self._lod = CandleLod(store)
        self._bars.lod = self._lod
        for item in (self._time_axis, self._marker_lines, self._marker_flags):
            item._store = store
        self._seen_version = self._seen_epoch = -1
        self._n = 0  # so refresh() shows the newest bars as on a first fill
        self._limits_n = 0
        self.refresh()

    def add_pane(self, plot: pg.PlotItem, stretch: int = 1) -> None:
        """Put `plot` under the price pane (above volume and the time axis), on the same
        time axis and crosshair."""
        layout = self._view.ci
        layout.removeItem(self.volume_plot)
        row = 1 + len(self._panes)
        layout.addItem(plot, row=row, col=0)
        layout.addItem(self.volume_plot, row=row + 1, col=0)
        layout.layout.setRowStretchFactor(row, stretch)
        layout.layout.setRowStretchFactor(row + 1, 1)
        plot.getAxis("right").setWidth(self.style_.axis_width_px)
        vb = plot.getViewBox()
        self._follow_x(vb)
        _draws_nothing(vb)
        self._hide_empty_borders()
        self._panes.append(vb)
        if hasattr(vb, "sigDragFinished"):
            vb.sigDragFinished.connect(self._on_drag_finished)

    def _follow_x(self, vb: pg.ViewBox) -> None:
        """`vb` shows the price pane's time range, and moves it when dragged or zoomed.

        Instead of pyqtgraph's setXLink: every pane has the price pane's width and x, so
        the range is copied as it is; pyqtgraph's link maps both views' screen geometry
        and re-disables auto-range on each change, which a following chart makes every
        frame for every pane."""
        vb.disableAutoRange(pg.ViewBox.XAxis)
        (x0, x1), _ = self._price_vb.viewRange()
        vb.setXRange(x0, x1, padding=0)
        self._followers.append(vb)
        vb.sigXRangeChanged.connect(self._copy_x)

    def _copy_x(self, source: pg.ViewBox, x_range: tuple[float, float]) -> None:
        if self._copying_x:
            return
        self._copying_x = True
        try:
            targets = self._followers if source is self._price_vb else [self._price_vb] + [
                vb for vb in self._followers if vb is not source]
            for vb in targets:
                (x0, x1), _ = vb.viewRange()
                if (x0, x1) != tuple(x_range):
                    vb.setXRange(*x_range, padding=0)
        finally:
            self._copying_x = False

    def _hide_empty_borders(self) -> None:
        # The layout's per-cell border rects have no pen: unpainted items cost nothing.
        for rect in self._view.ci.itemBorders.values():
            rect.setVisible(rect.pen().style() != Qt.PenStyle.NoPen)

    def remove_pane(self, plot: pg.PlotItem) -> None:
        vb = plot.getViewBox()
        if vb in self._panes:
            self._panes.remove(vb)
            self._followers.remove(vb)
            vb.sigXRangeChanged.disconnect(self._copy_x)
            self._view.ci.removeItem(plot)

    @property
    def hover_index(self) -> int | None:
        return self._hover

    def set_follow(self, follow: bool) -> None:
        """Auto-follow the newest candle (only while the view is at the right edge).

        Turning it on scrolls to the newest candle, keeping the zoom.
        """
        self._follow = bool(follow)
        if self._follow and self._n:
            (x0, x1), _ = self._price_vb.viewRange()
            width = x1 - x0
            self.set_x_range(self._n - 1 + _RIGHT_MARGIN - width, self._n - 1 + _RIGHT_MARGIN)

    @property
    def follow(self) -> bool:
        return self._follow

    @property
    def following(self) -> bool:
        """True when the next candle will scroll the view (follow on and at the right edge)."""
        (_, x1), _ = self._price_vb.viewRange()
        return self._follow and x1 >= self._n - 1

    def set_x_range(self, x0: float, x1: float) -> None:
        """Show candle indices x0..x1 (fractional allowed)."""
        self._price_vb.setXRange(x0, x1, padding=0)

    def x_range(self) -> tuple[float, float]:
        (x0, x1), _ = self._price_vb.viewRange()
        return float(x0), float(x1)

    def y_range(self) -> tuple[float, float]:
        _, (y0, y1) = self._price_vb.viewRange()
        return float(y0), float(y1)

    def volume_range(self) -> tuple[float, float]:
        _, (y0, y1) = self._volume_vb.viewRange()
        return float(y0), float(y1)

    def readout_text(self) -> str:
        """The crosshair readout as plain text (for tests and accessibility)."""
        return self._readout.text()

    @property
    def price_view(self) -> pg.ViewBox:
        return self._price_vb

    @property
    def graphics(self) -> pg.GraphicsLayoutWidget:
        return self._view

    def counts(self) -> dict[str, int]:
        """What the chart holds and draws (the plots' common interface)."""
        x0, x1 = self.x_range()
        return {"candles": len(self.store), "bars": len(self._bars.get(x0, x1,
                                                                     self._price_vb.width())),
                "markers": len(self._markers)}

    def visible_bar_level(self) -> int:
        """Level of detail in use: each bar merges 2**level candles."""
        x0, x1 = self.x_range()
        return self._bars.get(x0, x1, self._price_vb.width()).level

    # ---------------------------------------------------------------- internal
    def _update_bounds(self, n_old: int, n: int, reset: bool) -> None:
        if reset:
            self._lo, self._hi, self._vmax = math.inf, -math.inf, 0.0
        if n > 0:
            # The previously last candle may have been replaced: include it.
            s = max(0, n_old - 1)
            cols = self.store.columns()
            self._lo = min(self._lo, float(cols[3][s:n].min()))
            self._hi = max(self._hi, float(cols[2][s:n].max()))
            self._vmax = max(self._vmax, float(cols[5][s:n].max()))
            self._candles.set_bounds(QRectF(-0.5, self._lo, n, self._hi - self._lo))
            self._volume.set_bounds(QRectF(-0.5, 0.0, n, self._vmax))
        else:
            self._candles.set_bounds(QRectF())
            self._volume.set_bounds(QRectF())

    def _fit_y(self) -> None:
        if self._price_vb.dragging or self._volume_vb.dragging:
            self._y_fit_pending = True
            return
        self._y_fit_pending = False
        if not self._n:
            return
        x0, x1 = self.x_range()
        bins = self._bars.get(x0, x1, self._price_vb.width())
        if not len(bins):
            return
        half = bins.width / 2
        inside = (bins.x + half >= x0) & (bins.x - half <= x1)
        if not inside.any():
            return
        lo = float(bins.l[inside].min())
        hi = float(bins.h[inside].max())
        pad = (hi - lo) * _Y_PAD if hi > lo else max(abs(hi) * 0.01, 1e-6)
        _, (y0, y1) = self._price_vb.viewRange()
        if (y0, y1) != (lo - pad, hi + pad):
            self._price_vb.setYRange(lo - pad, hi + pad, padding=0)
        vmax = float(bins.v[inside].max())
        top = vmax * 1.15 if vmax > 0 else 1.0
        if self.volume_range() != (0.0, top):
            self._volume_vb.setYRange(0.0, top, padding=0)

    def _update_last_line(self) -> None:
        if not self._n:
            self._last_line.setVisible(False)
            return
        close = float(self.store.c[-1])
        rising = close >= float(self.store.o[-1])
        if rising != self._last_rising:
            self._last_rising = rising
            self._last_line.setPen(self._last_pens[0 if rising else 1])
        if close != self._last_line.value():
            self._last_line.setPos(close)
        self._last_line.setVisible(True)
        colour = self._tag_colours[0 if rising else 1]
        self._price_axis.set_tag(close, f"{close:,.{price_decimals(close)}f}", colour)

    def _on_x_range_changed(self, *args: object) -> None:
        if not self._in_refresh:
            self._fit_y()

    def _on_drag_finished(self) -> None:
        if self._y_fit_pending:
            self._fit_y()

    def _on_mouse_moved(self, pos: QPointF) -> None:
        if not self._n:
            return
        in_price = self._price_vb.sceneBoundingRect().contains(pos)
        in_volume = self._volume_vb.sceneBoundingRect().contains(pos)
        pane = next((p for p in self._panes if p.sceneBoundingRect().contains(pos)), None)
        if not (in_price or in_volume or pane is not None):
            self._hide_crosshair()
            return
        vb = self._price_vb if in_price else self._volume_vb if in_volume else pane
        point = vb.mapSceneToView(pos)
        i = int(min(max(round(point.x()), 0), self._n - 1))
        self.show_crosshair(i, point.y() if in_price else None)

    def show_crosshair(self, i: int, price: float | None = None) -> None:
        """Put the crosshair on candle `i` (a price line too when `price` is given)."""
        in_price = price is not None
        self._hover = i
        for line in (self._vline, self._vline_vol):
            line.setPos(i)
            line.setVisible(True)
        self._hline.setVisible(in_price)
        if in_price:
            self._hline.setPos(price)
        self._show_readout(i)
        self.hovered.emit(i)

    def _hide_crosshair(self) -> None:
        was = self._hover
        self._hover = None
        for line in (self._vline, self._vline_vol, self._hline):
            line.setVisible(False)
        if self._n:
            self._show_readout(self._n - 1)
        if was is not None:
            self.hovered.emit(None)

    def hide_crosshair(self) -> None:
        self._hide_crosshair()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            self._hide_crosshair()
        return super().eventFilter(watched, event)

    def _show_readout(self, i: int) -> None:
        if not 0 <= i < len(self.store):
            self._readout.set_runs([])
            return
        c = self.store[i]
        prev_close = float(self.store.c[i - 1]) if i > 0 else c.o
        change = (c.c - prev_close) / prev_close * 100 if prev_close else 0.0
        colour = self._colours["up"] if c.c >= c.o else self._colours["down"]
        muted, text = self._colours["muted"], self._colours["text"]
        d = price_decimals(c.c)
        interval = float(self.store.t[i] - self.store.t[i - 1]) if i > 0 else 60.0
        when = format_time(c.timestamp, self._time_axis.tz, seconds=interval < 60)
        runs = [
            (when, muted),
            ("  O ", muted),
            (f"{c.o:,.{d}f}", colour),
            ("  H ", muted),
            (f"{c.h:,.{d}f}", colour),
            ("  L ", muted),
            (f"{c.l:,.{d}f}", colour),
            ("  C ", muted),
            (f"{c.c:,.{d}f}", colour),
            (f"  {change:+.2f}%", colour),
            ("  V ", muted),
            (short_number(c.v), text),
        ]
        notes = [m.label for x, m in self._marker_lines.positions() if int(x) == i and m.label]
        if notes:
            runs.append(("  ⚑ " + "; ".join(notes), self._colours["marker"]))
        for extra in self.readout_extras:
            runs.extend(extra(i))
        self._readout.set_runs(runs)
