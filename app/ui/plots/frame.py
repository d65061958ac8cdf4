"""TimePlots: stacked plots over one time axis, with the candle chart's habits.

x is time (unix seconds) in every row; the rows are linked, so zoom (wheel) and pan
(drag) move them together and y fits the visible data. The view follows the newest
entry only while it is at the right edge, as the candle chart does; a crosshair shows
the entry under the mouse in the readout. Subclasses say what the rows are and turn new
store rows into series (`_ingest`); `refresh()` does nothing when the store has not
changed, so the owner calls it from its display-rate timer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsView, QVBoxLayout, QWidget

from app.streams.base import StreamType, fmt_number
from app.ui.chart.pending import PendingShade
from app.ui.chart.readout import Readout
from app.ui.chart.style import ChartStyle

__all__ = ["PALETTE", "TimePlots"]

# Distinct on the dark background, in the order sensors / sources get them.
PALETTE = ("#4c9aff", "#f0b429", "#26a69a", "#c678dd", "#ef5350", "#56b6c2", "#d19a66",
           "#98c379")
_INITIAL_ENTRIES = 240  # entries in view when data first arrives
_RIGHT_MARGIN = 0.03  # of the view's width, empty right of the newest entry


class _ViewBox(pg.ViewBox):
    """Knows when a drag is in progress (no following meanwhile)."""

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        self.dragging = False

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        if ev.isStart():
            self.dragging = True
        try:
            super().mouseDragEvent(ev, axis=axis)
        finally:
            if ev.isFinish():
                self.dragging = False


class TimePlots(QWidget):
    """Rows of plots sharing time; see the module docstring."""

    def __init__(self, stream: type[StreamType], store: Any, rows: list[tuple[str, int]],
                 parent: QWidget | None = None, *, style: ChartStyle | None = None,
                 top_rows: int = 0) -> None:
        super().__init__(parent)
        self.stream = stream
        self.store = store
        st = self.style_ = style or ChartStyle()
        self._follow = True
        self._seen = (-1, -1)  # (version, epoch) of the store last drawn
        self._n = 0
        self._hover: int | None = None
        self._markers: list[pg.InfiniteLine] = []
        font = QFont()
        font.setPointSizeF(st.font_pt + 0.5)
        self._readout = Readout(st.background, font, self)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(st.background)
        self.graphics.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.graphics.ci.layout.setContentsMargins(4, 2, 2, 2)
        self.graphics.ci.layout.setVerticalSpacing(2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self._readout)
        lay.addWidget(self.graphics, 1)
        axis_font = QFont()
        axis_font.setPointSizeF(st.font_pt)
        self.plots: list[pg.PlotItem] = []
        self._cross: list[pg.InfiniteLine] = []
        for i, (title, stretch) in enumerate(rows):
            last = i == len(rows) - 1
            axes = {"bottom": pg.DateAxisItem(utcOffset=0)} if last else {}
            # Rows above `top_rows` are the subclass's own (the spatial plot's map).
            plot = self.graphics.addPlot(row=top_rows + i, col=0, viewBox=_ViewBox(),
                                         axisItems=axes)
            self.graphics.ci.layout.setRowStretchFactor(top_rows + i, stretch)
            self._style_plot(plot, title, axis_font, last)
            if self.plots:
                plot.setXLink(self.plots[0])
            self.plots.append(plot)
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(st.crosshair, style=Qt.PenStyle.DashLine))
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
            self._cross.append(line)
        self._pending = PendingShade(self.plots, st.background) if self.plots else None
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.viewport().installEventFilter(self)
        self.graphics.viewport().setMouseTracking(True)

    def _style_plot(self, plot: pg.PlotItem, title: str, font: QFont, last: bool) -> None:
        st = self.style_
        plot.hideButtons()
        plot.setMenuEnabled(False)
        # No grid: pyqtgraph's grid costs a few ms a frame per row (measured for the candle
        # chart); the right axis' ticks are enough to read values.
        plot.hideAxis("left")
        plot.showAxis("right")
        for name in ("right", "bottom"):
            axis = plot.getAxis(name)
            axis.setTextPen(st.text)
            axis.setPen(st.axis)
            axis.setStyle(tickFont=font)
            axis.enableAutoSIPrefix(False)
        plot.getAxis("right").setWidth(st.axis_width_px)
        if not last:
            plot.hideAxis("bottom")
        vb = plot.getViewBox()
        # The view box and its child group draw nothing themselves: skipping their paint
        # calls saves Python calls every frame (as the candle chart does); hidden axes
        # would still follow every range change, so they are cut loose.
        vb.setFlag(vb.GraphicsItemFlag.ItemHasNoContents, True)
        vb.childGroup.setFlag(vb.GraphicsItemFlag.ItemHasNoContents, True)
        for name in ("left", "top") if last else ("left", "top", "bottom"):
            plot.getAxis(name).unlinkFromView()
        vb.setMouseEnabled(x=True, y=False)  # wheel and drag move time; y follows the data
        vb.setDefaultPadding(0.12)  # the row's title sits above its data
        vb.enableAutoRange(x=False, y=True)
        vb.setAutoVisible(y=True)
        if title:
            label = pg.TextItem(title, color=st.muted, anchor=(0, 0))
            label.setParentItem(vb)
            label.setPos(4, 2)

    # ------------------------------------------------------------------ public
    def refresh(self) -> bool:
        """Bring the plots up to the store; False at once if nothing changed."""
        store = self.store
        key = (store.version, store.epoch)
        if key == self._seen:
            return False
        reset = store.epoch != self._seen[1] or len(store) < self._n
        self._seen = key
        last_old = float(store.t[self._n - 1]) if self._n and not reset else None
        x0, x1 = self.x_range()
        at_edge = last_old is None or x1 >= last_old
        if reset:
            self._n = 0
            self._reset()
        n = len(store)
        if n > self._n:
            self._ingest(self._n, n)
            self._n = n
        if n:
            last = float(store.t[n - 1])
            dragging = any(p.getViewBox().dragging for p in self.plots)
            if last_old is None:
                first = float(store.t[max(0, n - _INITIAL_ENTRIES)])
                span = max(last - first, 1.0)
                self.set_x_range(first, last + span * _RIGHT_MARGIN)
            elif self._follow and at_edge and last > last_old and not dragging:
                self.set_x_range(x0 + last - last_old, x1 + last - last_old)
        if self._hover is None:
            self._show_readout(n - 1)
        return True

    def add_marker(self, timestamp: float, label: str = "", color: str | None = None) -> None:
        """Flag `timestamp` in every row (e.g. where a flash answer changed)."""
        colour = color or self.style_.marker
        # Labels step down so that markers at nearly the same time stay readable.
        height = 0.92 - 0.1 * (len(self._markers) // len(self.plots) % 5)
        for i, plot in enumerate(self.plots):
            line = pg.InfiniteLine(pos=timestamp, angle=90, movable=False,
                                   pen=pg.mkPen(colour, style=Qt.PenStyle.DashLine),
                                   label=label if i == 0 else None,
                                   labelOpts={"color": colour, "position": height,
                                              "anchors": [(1, 0.5), (1, 0.5)]})
            plot.addItem(line, ignoreBounds=True)
            self._markers.append(line)

    def set_pending(self, first: int | None) -> None:
        """Fade entries from index `first` on (queued at the server, not yet read)."""
        n = len(self.store)
        if first is None or first >= n or self._pending is None:
            if self._pending is not None:
                self._pending.hide()
            return
        t = self.store.t
        self._pending.show(float(t[first]) - 0.5 * self.stream.interval,
                           float(t[n - 1]) + 0.5 * self.stream.interval)

    @property
    def pending_span(self) -> tuple[float, float] | None:
        return None if self._pending is None else self._pending.span

    @property
    def markers(self) -> list[float]:
        return sorted({float(m.value()) for m in self._markers})

    def set_follow(self, follow: bool) -> None:
        self._follow = bool(follow)

    @property
    def following(self) -> bool:
        return self._follow and (not self._n or self.x_range()[1] >= float(self.store.t[-1]))

    def set_x_range(self, x0: float, x1: float) -> None:
        self.plots[0].getViewBox().setXRange(x0, x1, padding=0)

    def x_range(self) -> tuple[float, float]:
        (x0, x1), _ = self.plots[0].getViewBox().viewRange()
        return float(x0), float(x1)

    def readout_text(self) -> str:
        return self._readout.text()

    def counts(self) -> dict[str, int]:
        """What the last paint drew (points, segments, lanes...): for tests and the bench."""
        return {}

    # ---------------------------------------------------------------- subclass
    def _ingest(self, i0: int, i1: int) -> None:
        """Store rows [i0, i1) are new: add them to the series."""
        raise NotImplementedError

    def _reset(self) -> None:
        """The store was cleared: drop every series."""

    def _readout_runs(self, i: int) -> list[tuple[str, QColor]]:
        entry = self.store[i].to_entry()
        muted, text = QColor(self.style_.muted), QColor(self.style_.text)
        when = datetime.fromtimestamp(float(self.store.t[i]), UTC)
        runs: list[tuple[str, QColor]] = [(when.strftime("%Y-%m-%d %H:%M:%S UTC"), muted)]
        for spec in self.stream.required():
            value = entry[spec.name]
            runs.append((f"  {spec.label} ", muted))
            runs.append((str(value) if spec.kind == "str" else fmt_number(value), text))
        return runs

    # ---------------------------------------------------------------- internal
    def _show_readout(self, i: int) -> None:
        if 0 <= i < len(self.store):
            self._readout.set_runs(self._readout_runs(i))
        else:
            self._readout.set_runs([])

    def _on_mouse_moved(self, pos: QPointF) -> None:
        plot = next((p for p in self.plots if p.getViewBox().sceneBoundingRect().contains(pos)),
                    None)
        if plot is None or not self._n:
            self._hide_crosshair()
            return
        t = plot.getViewBox().mapSceneToView(pos).x()
        times = self.store.t
        i = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, self._n - 1))
        self._hover = i
        for line in self._cross:
            line.setPos(float(times[i]))
            line.setVisible(True)
        self._show_readout(i)

    def _hide_crosshair(self) -> None:
        self._hover = None
        for line in self._cross:
            line.setVisible(False)
        self._show_readout(self._n - 1)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            self._hide_crosshair()
        return super().eventFilter(watched, event)
