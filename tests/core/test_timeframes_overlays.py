"""Timeframe aggregation and overlays equal a plain numpy recomputation on the same
data, whether built at once or followed candle by candle (with forming-bar updates)."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.overlays import EMA, SMA, VWAP, Bollinger, make_overlay
from app.core.timeframes import TIMEFRAMES, TimeframeView, aggregate
from app.streams.candles import Candle, CandleStore

T0 = 1_709_510_400.0  # a UTC midnight


def candles(n: int, seed: int = 3, gaps: bool = True) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    step = np.full(n, 60.0)
    if gaps:  # nights and missing minutes: buckets are by time, not by count
        step[rng.choice(n, n // 50, replace=False)] = 60.0 * rng.integers(2, 900, n // 50)
    t = T0 + np.cumsum(step) - 60.0
    c = 100 + np.cumsum(rng.normal(0, 0.2, n))
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(o, c) + rng.uniform(0, 0.3, n)
    low = np.minimum(o, c) - rng.uniform(0, 0.3, n)
    v = rng.uniform(1, 500, n)
    return t, o, h, low, c, v


def naive_bars(cols: tuple[np.ndarray, ...], seconds: float) -> list[tuple[float, ...]]:
    """One bar per bucket, by a plain loop over the candles."""
    t, o, h, low, c, v = cols
    out: dict[float, list[float]] = {}
    for i in range(len(t)):
        key = np.floor(t[i] / seconds) * seconds
        if key not in out:
            out[key] = [key, o[i], h[i], low[i], c[i], v[i]]
        else:
            b = out[key]
            b[2], b[3], b[4], b[5] = max(b[2], h[i]), min(b[3], low[i]), c[i], b[5] + v[i]
    return [tuple(b) for b in out.values()]


@pytest.mark.parametrize("name", ["5m", "15m", "1h", "1d"])
def test_aggregation_equals_a_plain_loop(name: str) -> None:
    cols = candles(3000)
    bars = np.array(aggregate(*cols, TIMEFRAMES[name])).T
    expected = np.array(naive_bars(cols, TIMEFRAMES[name]))
    assert bars.shape == expected.shape
    np.testing.assert_allclose(bars, expected, rtol=0, atol=1e-9)


def test_live_timeframe_view_follows_candles_and_forming_bar_updates() -> None:
    cols = candles(1500)
    src = CandleStore()
    view = TimeframeView(src, TIMEFRAMES["15m"])
    t, o, h, low, c, v = cols
    for i in range(len(t)):
        if i % 7 == 3:  # a forming candle first, then its final values
            src.append(Candle(t[i], o[i], o[i], o[i], o[i], 1.0))
            view.sync()
        src.append(Candle(t[i], o[i], h[i], low[i], c[i], v[i]))
        view.sync()
    got = np.array(view.store.columns()).T
    np.testing.assert_allclose(got, np.array(naive_bars(cols, 900.0)), rtol=0, atol=1e-9)
    # Switching is a rebuild from memory; switching back shows the kept bars.
    view.set_timeframe(TIMEFRAMES["1h"])
    np.testing.assert_allclose(np.array(view.store.columns()).T,
                               np.array(naive_bars(cols, 3600.0)), rtol=0, atol=1e-9)
    view.set_timeframe(None)
    assert view.store is src
    view.set_timeframe(60.0)  # the candles' own interval: shown as they are
    assert view.store is src


def naive_overlays(cols: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
    t, _, h, low, c, v = cols
    n = len(c)
    sma = np.full(n, np.nan)
    mid, up, lo = (np.full(n, np.nan) for _ in range(3))
    for i in range(19, n):
        w = c[i - 19 : i + 1]
        sma[i] = w.mean()
        mid[i], up[i], lo[i] = w.mean(), w.mean() + 2 * w.std(), w.mean() - 2 * w.std()
    ema = np.empty(n)
    a = 2 / 51
    ema[0] = c[0]
    for i in range(1, n):
        ema[i] = a * c[i] + (1 - a) * ema[i - 1]
    tp = (h + low + c) / 3
    vwap = np.empty(n)
    day = np.floor(t / 86400)
    for i in range(n):
        same = day == day[i]
        same[i + 1 :] = False
        vwap[i] = (tp[same] * v[same]).sum() / v[same].sum()
    return {"SMA 20": sma, "EMA 50": ema, "VWAP": vwap, "mid": mid, "upper": up, "lower": lo}


def overlays() -> list:
    return [SMA(20), EMA(50), VWAP(), Bollinger(20, 2)]


def check(ovs: list, expected: dict[str, np.ndarray]) -> None:
    for ov in ovs:
        names = ov.lines if isinstance(ov, Bollinger) else (ov.name,)
        for line, name in zip(ov.lines, names, strict=False):
            np.testing.assert_allclose(ov.line(line), expected[name], rtol=1e-9, atol=1e-9,
                                       err_msg=f"{ov.name} {line}")


def test_overlays_in_bulk_equal_plain_numpy() -> None:
    cols = candles(2500)
    store = CandleStore()
    store.extend_arrays(*cols)
    ovs = overlays()
    for ov in ovs:
        assert ov.sync(store)
    check(ovs, naive_overlays(cols))


def test_overlays_followed_candle_by_candle_equal_plain_numpy() -> None:
    cols = candles(1200, seed=9)
    t, o, h, low, c, v = cols
    store = CandleStore()
    store.extend_arrays(*(x[:300] for x in cols))  # history at once, then live candles
    ovs = overlays()
    for ov in ovs:
        ov.sync(store)
    versions = [ov.version for ov in ovs]
    for i in range(300, len(t)):
        if i % 5 == 0:  # the forming bar first: the overlay follows the replacement
            store.append(Candle(t[i], o[i], o[i] + 5, o[i] - 5, o[i] + 3, 1.0))
            for ov in ovs:
                ov.sync(store)
        store.append(Candle(t[i], o[i], h[i], low[i], c[i], v[i]))
        for ov in ovs:
            ov.sync(store)
    assert all(ov.version > old for ov, old in zip(ovs, versions, strict=True))
    assert not ovs[0].sync(store)  # nothing new: no work
    check(ovs, naive_overlays(cols))


def test_overlay_names_parse_or_say_why() -> None:
    assert make_overlay("sma 10").name == "SMA 10"
    assert make_overlay("BB 20 2.5").name == "BB 20 2.5"
    with pytest.raises(ValueError, match="unknown overlay"):
        make_overlay("RSI 14")
    with pytest.raises(ValueError, match="numbers"):
        make_overlay("EMA fast")
