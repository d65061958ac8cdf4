"""CandleChart widget (pytest-qt, offscreen): follow, y-fit, drag, zoom, crosshair, markers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.feeds import random_walk
from app.streams.candles import Candle, CandleStore
from app.ui.chart import CandleChart
from app.ui.chart.axes import price_decimals

START = 1_709_542_800.0  # 2024-03-04 09:00 UTC


@pytest.fixture
def cols() -> tuple[np.ndarray, ...]:
    return random_walk(3000, seed=9, start=START, interval=60.0)


@pytest.fixture
def chart(qtbot, cols: tuple[np.ndarray, ...]) -> Iterator[CandleChart]:
    store = CandleStore()
    store.extend_arrays(*(c[:2000] for c in cols))
    widget = CandleChart(store, tz=UTC)
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    qtbot.waitExposed(widget)
    widget.refresh()
    yield widget


def _append(chart: CandleChart, cols: tuple[np.ndarray, ...], count: int) -> None:
    n = len(chart.store)
    chart.store.extend_arrays(*(c[n : n + count] for c in cols))


def _visible_extremes(chart: CandleChart) -> tuple[float, float]:
    x0, x1 = chart.x_range()
    i0, i1 = max(0, int(np.ceil(x0 - 0.5))), min(len(chart.store), int(np.floor(x1 + 0.5)) + 1)
    return float(chart.store.l[i0:i1].min()), float(chart.store.h[i0:i1].max())


def test_opens_on_newest_candles_with_y_fitted(chart: CandleChart) -> None:
    x0, x1 = chart.x_range()
    assert x0 < 1999 < x1  # the newest candle is on screen
    assert 60 <= x1 - x0 <= 200
    lo, hi = _visible_extremes(chart)
    y0, y1 = chart.y_range()
    assert y0 <= lo and hi <= y1
    assert (y1 - y0) <= (hi - lo) * 1.3  # fitted, not the whole history's range
    v0, v1 = chart.volume_range()
    assert v0 == 0.0 and v1 > 0


def test_refresh_is_a_noop_when_version_unchanged(chart: CandleChart, cols) -> None:
    assert chart.refresh() is False
    before = chart.x_range()
    _append(chart, cols, 1)
    assert chart.refresh() is True
    assert chart.refresh() is False
    assert chart.x_range() != before


def test_follows_newest_only_while_at_right_edge(chart: CandleChart, cols) -> None:
    x0, x1 = chart.x_range()
    _append(chart, cols, 5)
    chart.refresh()
    f0, f1 = chart.x_range()
    assert (f0, f1) == pytest.approx((x0 + 5, x1 + 5))
    assert chart.following

    # The user scrolls back in history: new candles must not move the view.
    chart.set_x_range(500, 600)
    assert not chart.following
    _append(chart, cols, 5)
    chart.refresh()
    assert chart.x_range() == pytest.approx((500, 600))

    # Back at the right edge, following resumes.
    n = len(chart.store)
    chart.set_x_range(n - 80, n + 2)
    _append(chart, cols, 3)
    chart.refresh()
    assert chart.x_range() == pytest.approx((n - 77, n + 5))

    chart.set_follow(False)
    before = chart.x_range()
    _append(chart, cols, 3)
    chart.refresh()
    assert chart.x_range() == pytest.approx(before)
    chart.set_follow(True)
    assert chart.x_range()[1] >= len(chart.store) - 1


def test_every_pane_shows_the_price_panes_time_range_and_moves_it(
        chart: CandleChart) -> None:
    pane = pg.PlotItem(viewBox=pg.ViewBox())
    chart.add_pane(pane)
    volume = chart.volume_plot.getViewBox()
    chart.set_x_range(100, 220)
    assert volume.viewRange()[0] == [100, 220] and pane.getViewBox().viewRange()[0] == [100, 220]
    volume.setXRange(300, 400, padding=0)  # a drag or wheel on the volume pane
    assert chart.x_range() == (300, 400) and pane.getViewBox().viewRange()[0] == [300, 400]
    pane.getViewBox().setXRange(500, 640, padding=0)
    assert chart.x_range() == (500, 640) and volume.viewRange()[0] == [500, 640]
    chart.remove_pane(pane)
    chart.set_x_range(10, 90)
    assert volume.viewRange()[0] == [10, 90] and pane.getViewBox().viewRange()[0] == [500, 640]


def test_y_range_fits_visible_candles_after_pan(chart: CandleChart) -> None:
    chart.set_x_range(100, 250)
    lo, hi = _visible_extremes(chart)
    y0, y1 = chart.y_range()
    assert y0 <= lo and hi <= y1
    assert (y1 - y0) <= (hi - lo) * 1.3


def _drag(qtbot, chart: CandleChart, dx: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Drag the price pane by dx px; returns (x range, y range) seen in mid-drag."""
    viewport = chart.graphics.viewport()
    vb_rect = chart.price_view.sceneBoundingRect()
    start = chart.graphics.mapFromScene(vb_rect.center())
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for step in range(1, 11):
        QTest.mouseMove(viewport, start + QPoint(dx * step // 10, 0))
        QApplication.processEvents()
    mid = (chart.x_range(), chart.y_range())
    QTest.mouseRelease(
        viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(dx, 0)
    )
    QApplication.processEvents()
    return mid


def test_drag_pans_time_and_refits_y_only_after_release(qtbot, chart: CandleChart) -> None:
    chart.set_x_range(1000, 1100)
    x_before, y_before = chart.x_range(), chart.y_range()
    (mid_x, mid_y) = _drag(qtbot, chart, 400)
    assert mid_x[0] < x_before[0] - 2  # dragging right shows older candles
    assert mid_y == y_before  # never re-fitted during the drag
    assert chart.x_range()[0] <= mid_x[0]
    lo, hi = _visible_extremes(chart)
    y0, y1 = chart.y_range()
    assert y0 <= lo and hi <= y1 and (y1 - y0) <= (hi - lo) * 1.3


def test_wheel_zooms_time_axis(qtbot, chart: CandleChart) -> None:
    chart.set_x_range(1000, 1200)
    viewport = chart.graphics.viewport()
    pos = QPointF(chart.graphics.mapFromScene(chart.price_view.sceneBoundingRect().center()))
    glob = QPointF(viewport.mapToGlobal(pos.toPoint()))

    def wheel(delta: int) -> None:
        event = QWheelEvent(
            pos,
            glob,
            QPoint(0, 0),
            QPoint(0, delta),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(viewport, event)

    wheel(120)
    z0, z1 = chart.x_range()
    assert z1 - z0 < 200 * 0.95
    wheel(-120)
    wheel(-120)
    w0, w1 = chart.x_range()
    assert w1 - w0 > z1 - z0


def test_zoomed_out_million_candles_use_level_of_detail(qtbot) -> None:
    store = CandleStore()
    store.extend_arrays(*random_walk(1_000_000, seed=3))
    chart = CandleChart(store)
    qtbot.addWidget(chart)
    chart.resize(1000, 600)
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_x_range(0, 1_000_000)
    assert chart.visible_bar_level() >= 10
    y0, y1 = chart.y_range()
    assert y0 <= store.l.min() and store.h.max() <= y1
    image = chart.grab().toImage()
    # Merged bars are painted in both colours across the whole width.
    up, down = QColor(chart.style_.up).rgb(), QColor(chart.style_.down).rgb()
    for colour in (up, down):
        columns = {
            x for x in range(0, 900, 3) for y in range(30, 450, 3) if image.pixel(x, y) == colour
        }
        assert min(columns) < 150 and max(columns) > 700


def test_crosshair_readout_shows_hovered_candle(qtbot, chart: CandleChart) -> None:
    chart.set_x_range(1900, 2003)
    viewport = chart.graphics.viewport()
    target = chart.price_view.mapViewToScene(QPointF(1950, chart.y_range()[0] + 1e-9))
    pos = chart.graphics.mapFromScene(target)
    pos.setY(viewport.height() // 3)
    QTest.mouseMove(viewport, pos)
    candle = chart.store[1950]
    qtbot.waitUntil(lambda: "2024-03-05 17:30" in chart.readout_text(), timeout=3000)
    text = chart.readout_text()
    d = price_decimals(candle.c)
    assert f"O {candle.o:,.{d}f}" in text
    assert f"H {candle.h:,.{d}f}" in text
    assert f"C {candle.c:,.{d}f}" in text
    # Leaving the plot shows the newest candle again.
    chart.graphics.scene().sigMouseMoved.emit(QPointF(-50, -50))
    last = chart.store[-1]
    assert f"C {last.c:,.{price_decimals(last.c)}f}" in chart.readout_text()


def test_markers_sit_on_their_candles_and_show_in_readout(chart: CandleChart) -> None:
    t = chart.store.t
    chart.add_marker(float(t[1500]) + 30, "flipped to up", "#4c9aff")
    chart.add_marker(float(t[10]), "flipped to down")
    chart.add_marker(float(t[0]) - 600, "before the data")
    assert [m.label for m in chart.markers][:2] == ["flipped to up", "flipped to down"]
    positions = dict((m.label, x) for x, m in chart._marker_lines.positions())
    assert positions == {"flipped to up": 1500.0, "flipped to down": 10.0}
    chart._show_readout(1500)
    assert "flipped to up" in chart.readout_text()
    chart.clear_markers()
    assert chart.markers == []


def test_painted_candles_use_up_and_down_colours(chart: CandleChart) -> None:
    image: QImage = chart.grab().toImage()
    up, down = QColor(chart.style_.up).rgb(), QColor(chart.style_.down).rgb()
    sample = {
        image.pixel(x, y) for x in range(0, image.width(), 2) for y in range(0, image.height(), 2)
    }
    assert up in sample
    assert down in sample


def test_clear_and_refill_resets_view(chart: CandleChart, cols) -> None:
    chart.store.clear()
    chart.refresh()
    assert chart.readout_text() == ""
    chart.store.extend_arrays(*(c[:300] for c in cols))
    chart.refresh()
    x0, x1 = chart.x_range()
    assert x0 < 299 < x1
    assert "C " in chart.readout_text()


def test_live_updates_of_forming_candle_redraw(chart: CandleChart) -> None:
    last = chart.store.last()
    assert last is not None
    chart.store.append(Candle(last.timestamp, last.o, last.h * 1.05, last.l, last.h * 1.04, last.v))
    assert chart.refresh() is True
    _y0, y1 = chart.y_range()
    assert y1 >= last.h * 1.05
    close = last.h * 1.04
    assert f"C {close:,.{price_decimals(close)}f}" in chart.readout_text()


@pytest.mark.parametrize("width", [360, 520, 1000])
def test_time_labels_never_overlap(qtbot, width: int) -> None:
    """Across zoom levels and at both edges of the data, drawn time labels keep apart."""
    cols = random_walk(3000, seed=9, start=START, interval=60.0)
    store = CandleStore()
    store.extend_arrays(*cols)
    chart = CandleChart(store, tz=UTC)
    qtbot.addWidget(chart)
    chart.resize(width, 400)
    chart.show()
    qtbot.waitExposed(chart)
    axis = chart.volume_plot.getAxis("bottom")
    checked = 0
    for span in (9, 14, 20, 33, 60, 130, 400, 1500, 3000):
        for start in (-8.0, -2.6, -0.4, 0.3, 700.5, 2999 - span + 3.7):
            chart.set_x_range(start, start + span)
            placed = axis.placed_labels()
            for (_, a, _), (_, b, _) in itertools.pairwise(placed):
                assert a.right() < b.left(), (span, start, a, b)
            checked += len(placed)
    assert checked > 50  # labels were drawn at all


@pytest.mark.parametrize("view", [(1900, 2003), (-5, 2005)])
def test_list_fallback_paints_the_same_pixels(
    monkeypatch: pytest.MonkeyPatch, chart: CandleChart, view: tuple[int, int]
) -> None:
    """Batches drawn through a pointer to numpy memory and through the QLineF/QRectF
    list fallback (for a binding that refuses the pointer overload) look the same."""
    from app.ui.chart import batch

    chart.set_x_range(*view)
    fast = chart.grab().toImage()
    assert batch.POINTER_CALLS is True  # this PySide6 takes the pointer path
    monkeypatch.setattr(batch, "POINTER_CALLS", False)
    # Refilled buffers must not be the reason the images match.
    chart._candles._filled = None
    chart._volume._filled = None
    slow = chart.grab().toImage()
    assert fast == slow
    # Not a blank chart: both colours are in it.
    up = QColor(chart.style_.up).rgb()
    assert any(slow.pixel(x, y) == up for x in range(0, 900, 2) for y in range(50, 450, 2))


def test_price_labels_under_the_last_price_tag_are_hidden(chart: CandleChart) -> None:
    axis = chart._price_axis
    rect = axis.mapRectFromParent(axis.geometry())
    lo, hi = axis.range
    close = float(chart.store.c[-1])
    tag_y = rect.bottom() - (close - lo) * rect.height() / (hi - lo)
    assert rect.top() <= tag_y <= rect.bottom()
    assert axis.covered(tag_y + 3, 6.5)
    assert not axis.covered(tag_y + 40, 6.5)
    assert not chart.volume_plot.getAxis("right").covered(tag_y, 6.5)
