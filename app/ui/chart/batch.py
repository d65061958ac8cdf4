"""Numpy-backed batches of lines and rectangles, drawn with one QPainter call each.

Qt's `drawLines(const QLineF *, int)` and `drawRects(const QRectF *, int)`
take a C array; a QLineF and a QRectF are each four doubles, so a C-contiguous
(n, 4) float64 array *is* such an array.  PySide6 accepts a pointer to its
first element made with shiboken6's public `wrapInstance`, so a frame costs
one call per batch whatever the number of bars, and no Python object per bar.

If a binding ever refuses the pointer overload (checked once, on the first
draw), `POINTER_CALLS` becomes False and the batch is drawn from a list of
QLineF/QRectF built from the same numbers (slower: one Python object per
bar, but the same pixels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shiboken6
from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen

__all__ = ["POINTER_CALLS", "LineBatch", "RectBatch", "Rules"]


class _Batch:
    _kind: type[QLineF] | type[QRectF]

    def __init__(self) -> None:
        self._buf = np.empty((0, 4), dtype=np.float64)
        self._size = 0
        # The buffer's first element as a Qt pointer, made once per buffer: numpy's
        # `.ctypes` runs an import (through shiboken's import hook) on every use.
        self._ptr: object | None = None

    def resize(self, size: int) -> np.ndarray:
        """Room for `size` items; returns the (size, 4) array to fill."""
        if size > self._buf.shape[0]:
            # Never shrunk, grown with headroom: the paint path does not allocate per frame.
            self._buf = np.empty((max(size, self._buf.shape[0] * 3 // 2), 4), dtype=np.float64)
            self._ptr = None
        self._size = size
        return self._buf[:size]

    def __len__(self) -> int:
        return self._size

    def _args(self) -> tuple[object, ...]:
        global POINTER_CALLS
        if POINTER_CALLS is None:
            POINTER_CALLS = _pointer_calls_work()
        if POINTER_CALLS:
            if self._ptr is None:
                self._ptr = shiboken6.wrapInstance(self._buf.ctypes.data, self._kind)
            return (self._ptr, self._size)
        return ([self._kind(*row) for row in self._buf[: self._size].tolist()],)


class LineBatch(_Batch):
    """Rows are (x1, y1, x2, y2)."""

    _kind = QLineF

    def draw(self, p: QPainter) -> None:
        if self._size:
            p.drawLines(*self._args())


class RectBatch(_Batch):
    """Rows are (x, y, width, height)."""

    _kind = QRectF

    def draw(self, p: QPainter) -> None:
        if self._size:
            p.drawRects(*self._args())


class Rules:
    """Axis-aligned one-pixel lines (grid, axis lines, separators).

    Horizontal ones are filled as one-pixel-high rectangles in device pixels: Qt's
    raster engine fills a row about fifteen times faster than it strokes a cosmetic
    line of the same length, with the same pixels. Vertical ones stay cosmetic lines
    (a one-pixel-wide rectangle costs a span per row, no less than the stroke). A
    handful per frame: plain floats, no numpy calls.
    """

    def __init__(self, colour: QColor | str) -> None:
        self._rows = RectBatch()
        self._columns = LineBatch()
        self._brush = QBrush(QColor(colour))
        self._pen = QPen(QColor(colour), 0)
        self._pen.setCosmetic(True)

    def draw(self, p: QPainter, ys: Sequence[float], xs: Sequence[float],
             view: QRectF) -> None:
        """Horizontal rules at y `ys` and vertical at x `xs`, across `view` (all in the
        painter's current coordinates)."""
        if xs:
            top, bottom = view.top(), view.bottom()
            self._columns.resize(len(xs))[:] = [(x, top, x, bottom) for x in xs]
            p.setPen(self._pen)
            self._columns.draw(p)
        if not ys:
            return
        tr = p.transform()
        sx, dx, sy, dy = tr.m11(), tr.dx(), tr.m22(), tr.dy()
        # Kept within the device: the raster engine converts to int, and a degenerate
        # view (a range of zero, not yet laid out) maps to huge or non-finite values.
        dev = p.device()
        w, h = dev.width() + 2.0, dev.height() + 2.0
        a, b = view.left() * sx + dx, view.right() * sx + dx
        left, right = max(-2.0, min(a, b, w)), min(w, max(a, b, -2.0))
        at = [y * sy + dy for y in ys]
        rows = [(left, math.floor(r), right - left, 1.0) for r in at if -2.0 <= r <= h]
        if not rows or not right > left:
            return
        self._rows.resize(len(rows))[:] = rows
        p.resetTransform()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self._brush)
        self._rows.draw(p)
        p.setTransform(tr)


def _pointer_calls_work() -> bool:
    image = QImage(4, 4, QImage.Format.Format_ARGB32_Premultiplied)
    buf = np.array([[0.0, 0.0, 3.0, 3.0]])
    p = QPainter(image)
    try:
        p.drawLines(shiboken6.wrapInstance(buf.ctypes.data, QLineF), 1)
        p.drawRects(shiboken6.wrapInstance(buf.ctypes.data, QRectF), 1)
    except (TypeError, ValueError):
        return False
    finally:
        p.end()
    return True


# None until the first draw probes the binding; tests set False to check the fallback.
POINTER_CALLS: bool | None = None
