"""A pane per flash query under the candles: the answer's p over time.

Each answer received (app.core.signals) sits at the bar its data version ended with;
p = e^gap / (1 + e^gap) is held as a step until the next answer, coloured by what the
answer said (yes / no / other), with a dot per answer and a dashed line where the
answer flipped. The pane shares the chart's time axis and crosshair (CandleChart.add_pane);
the chart's readout gains the answer current at the candle under the crosshair.

Only the visible answers are drawn, from numpy arrays rebuilt when the answers or the
bars change, with one batch call per colour (app.ui.chart.batch).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QStaticText, QTransform

from app.core.scoring import NO, YES
from app.core.signals import SignalLog
from app.ui.chart.axes import FixedAxis
from app.ui.chart.batch import LineBatch, RectBatch
from app.ui.chart.items import ViewFillingItem
from app.ui.chart.widget import CandleChart, _ChartViewBox

__all__ = ["ANSWER_COLOURS", "ConfidencePane", "answer_class"]

ANSWER_COLOURS = {"yes": "#26a69a", "no": "#ef5350", "other": "#b48ead"}
FLIP_COLOUR = "#f0b429"
_CLASSES = ("yes", "no", "other")
_DOT_PX = 4.0


def answer_class(key: str) -> str:
    return "yes" if key in YES else "no" if key in NO else "other"


class _ConfidenceItem(ViewFillingItem):
    def __init__(self, pane: ConfidencePane) -> None:
        super().__init__()
        self._pane = pane
        self._steps = [LineBatch() for _ in _CLASSES]
        self._dots = [RectBatch() for _ in _CLASSES]
        self._flips = LineBatch()
        self._pens = [pg.mkPen(ANSWER_COLOURS[c], width=1) for c in _CLASSES]  # see overlays
        self._brushes = [pg.mkBrush(ANSWER_COLOURS[c]) for c in _CLASSES]
        flip_pen = QPen(QColor(FLIP_COLOUR), 1, Qt.PenStyle.DashLine)
        flip_pen.setCosmetic(True)
        self._flip_pen = flip_pen
        self._font = QFont()
        self._font.setPointSizeF(8.0)
        self._title: QStaticText | None = None
        self._title_pen = QPen(QColor("#8b95a7"))
        self._guides = LineBatch()  # the p = 0.5 baseline and the crosshair
        self._key: tuple[object, ...] | None = None
        self._newest = (-1, 0, 0.0)  # (class, row, x) of the newest answer's step
        self._grid_pen = pg.mkPen(pane.chart.style_.crosshair, style=Qt.PenStyle.DotLine)

    def _fill(self, pane: ConfidencePane, i0: int, i1: int, step: int, dw: float,
              dh: float) -> None:
        """The step lines and dots of the answers i0..i1 (every `step`-th), per class."""
        xs, ys, cs = pane.x[i0:i1:step], pane.p[i0:i1:step], pane.cls[i0:i1:step]
        ends = np.empty_like(xs)
        ends[:-1] = xs[1:]
        # The last one in view holds to the next answer, or (the newest) to the last bar.
        newest = i1 >= len(pane.x)
        ends[-1] = xs[-1] if newest else pane.x[i1]
        self._newest = (-1, 0, 0.0)
        last_k = int(cs[-1]) if len(cs) and newest else -1
        for k in range(len(_CLASSES)):
            m = cs == k
            n = int(m.sum())
            lines = self._steps[k].resize(n)
            rects = self._dots[k].resize(n)
            if not n:
                continue
            lines[:, 0], lines[:, 1], lines[:, 2], lines[:, 3] = xs[m], ys[m], ends[m], ys[m]
            rects[:, 0], rects[:, 1] = xs[m] - dw / 2, ys[m] - dh / 2
            rects[:, 2], rects[:, 3] = dw, dh
            if k == last_k:
                self._newest = (k, n - 1, float(xs[-1]))

    def paint(self, p: QPainter, *args: object) -> None:
        vb = self.getViewBox()
        pane = self._pane
        if vb is None:
            return
        view = vb.viewRect()
        guides = self._guides.resize(2 if pane.hover_x is not None else 1)
        guides[0] = (view.left(), 0.5, view.right(), 0.5)
        if pane.hover_x is not None:
            guides[1] = (pane.hover_x, view.top(), pane.hover_x, view.bottom())
        p.setPen(self._grid_pen)
        self._guides.draw(p)
        x = pane.x
        if len(x):
            tr = p.transform()
            sx, sy = abs(tr.m11()) or 1.0, abs(tr.m22()) or 1.0
            i0 = max(0, int(np.searchsorted(x, view.left(), side="left")) - 1)
            i1 = min(len(x), int(np.searchsorted(x, view.right(), side="right")) + 1)
            step = max(1, (i1 - i0) // max(1, int(vb.width())))  # at most ~1 answer per px
            key = (i0, i1, step, len(x), sx, sy, pane.version)
            if key != self._key:
                self._fill(pane, i0, i1, step, _DOT_PX / sx, _DOT_PX / sy)
                self._key = key
            # Each answer holds until the next one, the newest until the last bar: only
            # that end moves while the answers in view stay the same.
            k, row, x_last = self._newest
            if k >= 0:
                self._steps[k].resize(len(self._steps[k]))[row, 2] = max(pane.last_x, x_last)
            for k in range(len(_CLASSES)):
                if not len(self._steps[k]):
                    continue
                p.setPen(self._pens[k])
                self._steps[k].draw(p)
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(self._brushes[k])
                self._dots[k].draw(p)
            flips = pane.flip_x  # in answer order, so ascending like x
            f = flips[int(np.searchsorted(flips, view.left(), side="left")):
                      int(np.searchsorted(flips, view.right(), side="right"))]
            if len(f):
                lines = self._flips.resize(len(f))
                lines[:, 0], lines[:, 2] = f, f
                lines[:, 1], lines[:, 3] = view.top(), view.bottom()
                p.setPen(self._flip_pen)
                self._flips.draw(p)
        # The question, top left, in device pixels (laid out once per text).
        tr = p.transform()
        corner = tr.map(QPointF(view.left(), view.bottom()))
        text = pane.title if len(x) else f"{pane.title} · no answers yet"
        if self._title is None or self._title.text() != text:
            self._title = QStaticText(text)
            self._title.prepare(QTransform(), self._font)
        p.resetTransform()
        p.setFont(self._font)
        p.setPen(self._title_pen)
        p.drawStaticText(QPointF(corner.x() + 6, corner.y() + 2), self._title)
        p.setTransform(tr)


class ConfidencePane:
    """The pane of one flash query on `chart`; `refresh()` from the display timer."""

    def __init__(self, chart: CandleChart, signals: SignalLog, query_id: int,
                 title: str = "") -> None:
        self.chart = chart
        self.signals = signals
        self.query_id = int(query_id)
        self.title = title or f"query {query_id}"
        st = chart.style_
        self.view_box = _ChartViewBox()
        font = QFont()
        font.setPointSizeF(st.font_pt)
        # None at the edges: panes abut.
        axis = FixedAxis("right", [(0.6, "0.6"), (0.8, "0.8")], text=st.text, line=st.axis,
                         font=font)
        self.plot = pg.PlotItem(viewBox=self.view_box, axisItems={"right": axis})
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        for name in ("left", "top", "bottom"):
            self.plot.hideAxis(name)
            self.plot.getAxis(name).unlinkFromView()
        self.plot.showAxis("right")
        self.view_box.setMouseEnabled(x=True, y=False)
        self.view_box.disableAutoRange()
        self.view_box.setYRange(0.48, 1.02, padding=0)
        self.view_box.setFlag(self.view_box.GraphicsItemFlag.ItemHasNoContents, True)
        self.item = _ConfidenceItem(self)
        self.plot.addItem(self.item)
        # The p = 0.5 baseline and the crosshair are drawn by the item itself: InfiniteLines
        # recompute their bounds on every range change, which a live chart makes each frame.
        self.hover_x: float | None = None
        self.x = np.empty(0)
        self.p = np.empty(0)
        self.cls = np.empty(0, dtype=np.int8)
        self.flip_x = np.empty(0)
        self.last_x = 0.0
        self._ts = np.empty(0)
        self._p = np.empty(0)
        self._cls = np.empty(0, dtype=np.int8)
        self._x = np.empty(0)
        self._fl = np.empty(0, dtype=np.int64)  # answers that flipped from the one before
        self._nfl = 0
        self._count = 0
        self.version = 0
        self._placed: tuple[int, int] | None = None
        self._store_version = -1
        self._sigs: list = []
        # The readout names the pane by the question's first words.
        words = self.title.split()
        self.short = " ".join(words[:4]) + ("…" if len(words) > 4 else "")
        self.plot.setMinimumHeight(56)
        chart.add_pane(self.plot)
        chart.hovered.connect(self._hovered)
        chart.readout_extras.append(self.readout)

    def close(self) -> None:
        self.chart.hovered.disconnect(self._hovered)
        if self.readout in self.chart.readout_extras:
            self.chart.readout_extras.remove(self.readout)
        self.chart.remove_pane(self.plot)

    def refresh(self) -> bool:
        """Follow new answers and bars; returns whether anything changed.

        New answers are appended (their bar found with one searchsorted); only a new
        store (timeframe switch) or epoch places all answers again, vectorised.
        """
        store = self.chart.store
        sigs = self.signals.for_query(self.query_id)
        placed = (id(store), store.epoch)
        # The log's list only grows; a new list (log cleared) starts again.
        n_old = self._count if sigs is self._sigs and len(sigs) >= self._count else 0
        new = sigs[n_old:]
        if not new and placed == self._placed and store.version == self._store_version:
            return False
        self._store_version = store.version
        k = len(new)
        if n_old == 0:
            self._nfl = 0
        if k:
            self._ts = self._grow(self._ts, n_old, np.fromiter(
                (s.candle_ts for s in new), dtype=np.float64, count=k))
            self._p = self._grow(self._p, n_old, np.fromiter(
                (s.p for s in new), dtype=np.float64, count=k))
            self._cls = self._grow(self._cls, n_old, np.fromiter(
                (_CLASSES.index(answer_class(s.key)) for s in new), dtype=np.int8, count=k))
            prev = sigs[n_old - 1].key if n_old else None
            flips = []
            for j, s in enumerate(new):
                if prev is not None and s.key != prev:
                    flips.append(n_old + j)
                prev = s.key
            if flips:
                self._fl = self._grow(self._fl, self._nfl, np.array(flips, dtype=np.int64))
                self._nfl += len(flips)
        n = len(sigs)
        self._count = n
        t = store.t
        placed_again = placed != self._placed or n_old == 0
        if placed_again:
            # Every answer's bar (a coarser timeframe: the bar of its candle's bucket).
            self._x = np.searchsorted(t, self._ts[:n], side="right").astype(np.float64) - 1
            self._placed = placed
            self.flip_x = self._x[self._fl[: self._nfl]]
        elif k:
            self._x = self._grow(self._x, n_old, np.searchsorted(
                t, self._ts[n_old:n], side="right").astype(np.float64) - 1)
            if self._nfl > len(self.flip_x):
                self.flip_x = np.r_[self.flip_x, self._x[self._fl[len(self.flip_x):self._nfl]]]
        self.x = self._x[:n]
        self.p = self._p[:n]
        self.cls = self._cls[:n]
        self._sigs = sigs
        self.last_x = float(len(t) - 1)
        if k or placed_again:
            self.version += 1  # the answers or their bars changed: the item refills
        self.item.update()
        return True

    @staticmethod
    def _grow(buf: np.ndarray, at: int, values: np.ndarray) -> np.ndarray:
        """`values` written at `at` in `buf`, grown by 1.5x when full (amortised O(1))."""
        need = at + len(values)
        if need > len(buf):
            new = np.empty(max(need, len(buf) * 3 // 2 + 256), dtype=buf.dtype)
            new[:at] = buf[:at]
            buf = new
        buf[at:need] = values
        return buf

    def answer_at(self, i: int) -> int | None:
        """Index of the answer current at bar `i` (the latest about it or before)."""
        if not len(self.x):
            return None
        k = int(np.searchsorted(self.x, i, side="right")) - 1
        return k if k >= 0 else None

    def readout(self, i: int) -> list[tuple[str, QColor]]:
        k = self.answer_at(i)
        name = self.short
        if k is None:
            return [(f"  │ {name}: –", QColor("#6c7789"))]
        colour = QColor(ANSWER_COLOURS[_CLASSES[int(self.cls[k])]])
        sig = self._sigs[k]
        text = f"{sig.key or sig.value.strip()[:12]} {sig.p:.2f}"
        return [(f"  │ {name}: ", QColor("#6c7789")), (text, colour)]

    def _hovered(self, i: object) -> None:
        self.hover_x = None if i is None else float(i)  # type: ignore[arg-type]
        self.item.update()

    def values(self) -> list[tuple[int, float, str]]:
        """(bar, p, class) of every answer drawn (for tests)."""
        return [(int(x), float(p), _CLASSES[int(c)])
                for x, p, c in zip(self.x, self.p, self.cls, strict=True)]

