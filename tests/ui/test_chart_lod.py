"""Level-of-detail bins and time ticks of the chart, checked against brute force (no Qt events)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import pytest

from app.feeds import random_walk
from app.streams.candles import Candle, CandleStore
from app.ui.chart.axes import ValueAxis
from app.ui.chart.lod import CandleLod, level_for
from app.ui.chart.time_axis import clock_ticks, time_ticks


def _brute(store: CandleStore, level: int, i0: int, i1: int) -> np.ndarray:
    """(o, h, l, c, v) per bin of 2**level candles aligned to absolute indices."""
    k = 1 << level
    n = len(store)
    rows = []
    for b in range(i0 // k, (min(i1, n) - 1) // k + 1):
        s, e = b * k, min(n, (b + 1) * k)
        rows.append(
            (store.o[s], store.h[s:e].max(), store.l[s:e].min(), store.c[e - 1], store.v[s:e].sum())
        )
    return np.array(rows)


def _as_rows(bins: object) -> np.ndarray:
    return np.column_stack([bins.o, bins.h, bins.l, bins.c, bins.v])  # type: ignore[attr-defined]


@pytest.mark.parametrize("level", [0, 1, 3, 6])
def test_bins_match_brute_force_and_are_index_aligned(level: int) -> None:
    store = CandleStore()
    store.extend_arrays(*random_walk(5003, seed=2))
    lod = CandleLod(store)
    lod.sync()
    for i0, i1 in [(0, 5003), (17, 999), (4990, 5003), (1000, 1001)]:
        bins = lod.bins(level, i0, i1)
        np.testing.assert_allclose(_as_rows(bins), _brute(store, level, i0, i1))
        k = 1 << level
        # Bar centres sit on absolute multiples of 2**level: panning cannot reshuffle bins.
        assert np.all((bins.x - (k - 1) / 2) % k == 0)


def test_bins_follow_appends_and_replacement_of_last_candle() -> None:
    store = CandleStore()
    cols = random_walk(3000, seed=4)
    store.extend_arrays(*(c[:1000] for c in cols))
    lod = CandleLod(store)
    lod.sync()
    lod.bins(5, 0, 1000)  # build levels 1..5 now, so the rest is incremental
    for i in range(1000, 3000, 7):
        store.extend_arrays(*(c[i : i + 7] for c in cols))
        last = store.last()
        assert last is not None
        # The forming candle is updated in place (same timestamp): bins must see it.
        store.append(Candle(last.timestamp, last.o, last.h + 5, last.l, last.c, last.v + 1))
        lod.sync()
        n = len(store)
        for level in (3, 5):  # the first cached level (built from raw) and one above
            np.testing.assert_allclose(_as_rows(lod.bins(level, 0, n)), _brute(store, level, 0, n))
    np.testing.assert_allclose(_as_rows(lod.bins(2, 0, 3000)), _brute(store, 2, 0, 3000))
    store.clear()
    store.extend_arrays(*(c[:50] for c in cols))
    lod.sync()
    np.testing.assert_allclose(_as_rows(lod.bins(3, 0, 50)), _brute(store, 3, 0, 50))


def test_level_keeps_bars_at_least_three_pixels_wide() -> None:
    assert level_for(0.1) == 0
    assert level_for(1 / 3) == 0
    assert level_for(1.0) == 2  # 4 candles per bar at 1 candle/px -> 4 px
    for per_px in (0.5, 1.0, 7.3, 833.0):
        lvl = level_for(per_px)
        assert (1 << lvl) / per_px >= 3.0
        assert lvl == 0 or (1 << (lvl - 1)) / per_px < 3.0


def test_million_candles_zoomed_out_draw_few_bars() -> None:
    store = CandleStore()
    store.extend_arrays(*random_walk(1_000_000, seed=1))
    lod = CandleLod(store)
    lod.sync()
    width_px = 1100
    level = level_for(1_000_000 / width_px)
    bins = lod.bins(level, 0, 1_000_000)
    assert len(bins) <= width_px / 3 + 1
    assert bins.h.max() == store.h.max()
    assert bins.l.min() == store.l.min()
    assert lod.nbytes / len(store) < 48


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_time_ticks_minutes_show_times_and_date_on_day_change() -> None:
    t = _utc(2024, 3, 4, 22, 0) + 60.0 * np.arange(240)  # 22:00 .. 01:59 next day
    ticks = time_ticks(t, 0, 239, 1000, UTC)
    labels = [label for _, label in ticks]
    assert 4 <= len(ticks) <= 11
    assert "Mar 5" in labels  # midnight shows the date
    assert all(":" in lb for lb in labels if lb != "Mar 5")
    for i, label in ticks:
        when = datetime.fromtimestamp(t[i], UTC)
        assert label in ("Mar 5", when.strftime("%H:%M"))
        assert when.minute % 5 == 0


def test_clock_ticks_sit_on_round_times_about_the_asked_spacing_apart() -> None:
    """The cockpit graphs' x axis plots unix time itself: 5 minutes over 500 px."""
    t0 = _utc(2024, 3, 4, 23, 57, 20)
    ticks = clock_ticks(t0, t0 + 300, 500, UTC, min_px=80)
    assert 2 <= len(ticks) <= 6
    steps = {b - a for (a, _), (b, _) in itertools.pairwise(ticks)}
    assert len(steps) == 1 and steps.pop() * 500 / 300 >= 80
    assert all(t0 <= t <= t0 + 300 and t % 60 == 0 for t, _ in ticks)
    assert "Mar 5" in [label for _, label in ticks]  # midnight shows the date
    assert clock_ticks(t0, t0, 500) == [] and clock_ticks(t0, t0 + 300, 0) == []


def test_value_axis_ticks_are_round_and_cover_the_range(qapp: object) -> None:
    from PySide6.QtGui import QFont

    axis = ValueAxis("left", text="#ffffff", line="#000000", font=QFont(), min_px=22.0)
    ticks = axis.ticks(-0.04, 1.0, 80)
    assert [v for v, _ in ticks] == [0.0, 0.5, 1.0]
    assert [label for _, label in axis.ticks(0, 4400, 60)] == ["0", "2k", "4k"]


def test_time_ticks_daily_data_over_years() -> None:
    days = np.arange(0, 3 * 365) * 86400.0 + _utc(2022, 1, 3)
    labels = [lb for _, lb in time_ticks(days, 0, len(days) - 1, 1200, UTC)]
    assert "2023" in labels and "2024" in labels
    assert any(lb in ("Apr", "Jul", "Oct") for lb in labels)


def test_time_ticks_skip_gaps_without_crowding() -> None:
    # Two trading days with a night gap: ticks land on real candles only.
    day1 = _utc(2024, 3, 4, 9, 30) + 60.0 * np.arange(390)
    day2 = _utc(2024, 3, 5, 9, 30) + 60.0 * np.arange(390)
    t = np.concatenate([day1, day2])
    ticks = time_ticks(t, 0, len(t) - 1, 1200, UTC)
    idx = [i for i, _ in ticks]
    assert idx == sorted(set(idx))
    assert all(0 <= i < len(t) for i in idx)
    assert any(lb.startswith("Mar 5") for _, lb in ticks)


def test_pyramid_costs_few_bytes_per_candle() -> None:
    """Levels 1-2 are merged per frame, not cached: the cache stays far below the store."""
    store = CandleStore()
    store.extend_arrays(*random_walk(200_000, seed=1))
    lod = CandleLod(store)
    lod.sync()
    lod.bins(16, 0, 200_000)  # builds every cached level
    assert lod.nbytes / len(store) <= 12
