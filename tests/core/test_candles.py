"""CandleStore: columns, dedupe rule, growth, lookups (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from app.streams.candles import AppendResult, Candle, CandleStore


def _candle(t: float, c: float = 100.0) -> Candle:
    return Candle(t, c - 1, c + 2, c - 3, c, 10.0)


def test_append_exposes_columns_as_views() -> None:
    store = CandleStore()
    for i in range(5):
        assert store.append(_candle(60.0 * i, 100 + i)) is AppendResult.APPENDED
    assert len(store) == 5
    assert store.t.tolist() == [0.0, 60.0, 120.0, 180.0, 240.0]
    assert store.c.tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert store.last_timestamp == 240.0
    # Views, not copies: they share memory with the store's buffer.
    assert np.shares_memory(store.t, store.columns()[0])
    assert store.t.base is not None
    assert store[-1] == _candle(240.0, 104)
    assert store.last() == store[4]


def test_version_bumps_on_every_change_only() -> None:
    store = CandleStore()
    v0 = store.version
    store.append(_candle(1.0))
    v1 = store.version
    assert v1 > v0
    # Identical re-delivery (e.g. after a reconnect) changes nothing.
    assert store.append(_candle(1.0)) is AppendResult.UNCHANGED
    assert store.version == v1
    assert store.append(_candle(1.0, 105)) is AppendResult.REPLACED
    assert store.version > v1
    assert len(store) == 1
    assert store.c[0] == 105.0


def test_older_candle_is_refused_and_store_unchanged() -> None:
    store = CandleStore()
    store.append(_candle(10.0))
    store.append(_candle(20.0))
    version = store.version
    assert store.append(_candle(15.0)) is AppendResult.STALE
    assert store.append(_candle(5.0)) is AppendResult.STALE
    assert store.version == version
    assert store.t.tolist() == [10.0, 20.0]


def test_nonfinite_timestamp_rejected() -> None:
    store = CandleStore()
    with pytest.raises(ValueError, match="finite"):
        store.append(_candle(float("nan")))
    assert len(store) == 0


def test_growth_keeps_data_and_slack_under_64_bytes() -> None:
    store = CandleStore(capacity=4)
    n = 200_000
    t = np.arange(n, dtype=np.float64)
    for start in range(0, n, 7_000):
        part = t[start : start + 7_000]
        store.extend_arrays(part, part + 1, part + 3, part - 1, part + 2, part * 0 + 5)
    assert len(store) == n
    assert np.array_equal(store.t, t)
    assert np.array_equal(store.c, t + 2)
    assert store.nbytes / len(store) <= 64


def test_extend_from_candles_applies_dedupe_rule() -> None:
    store = CandleStore()
    store.extend([_candle(1.0), _candle(2.0), _candle(3.0)])
    # Overlapping batch: 2 is stale, 3 replaces the last bar, 4 and 5 are new.
    added = store.extend([_candle(2.0, 50), _candle(3.0, 60), _candle(4.0), _candle(5.0)])
    assert added == 2
    assert store.t.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert store.c[1] == 100.0
    assert store.c[2] == 60.0
    # A batch out of order inside itself is still never drawn twice.
    store.extend([_candle(7.0), _candle(6.0), _candle(7.0), _candle(8.0)])
    assert store.t.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0]
    assert np.all(np.diff(store.t) > 0)


def test_reserve_avoids_reallocation() -> None:
    store = CandleStore()
    store.reserve(10_000)
    buf_t = store.columns()[0]
    store.extend_arrays(*(np.arange(10_000, dtype=float),) * 6)
    assert np.shares_memory(buf_t.base, store.t)
    assert store.capacity == 10_000


def test_index_range_and_index_at_use_sorted_times() -> None:
    store = CandleStore()
    t = np.arange(0, 1000, 10, dtype=float)
    store.extend_arrays(t, t, t, t, t, t)
    assert store.index_range(95, 205) == (10, 21)
    assert store.index_range(-50, -1) == (0, 0)
    assert store.index_range(2000, 3000) == (100, 100)
    assert store.index_at(15) == 1
    assert store.index_at(-1) is None
    assert store.index_at(5000) == 99


def test_entry_round_trip_and_validation() -> None:
    candle = Candle(1_700_000_000.0, 1.0, 2.0, 0.5, 1.5, 100.0)
    entry = candle.to_entry("BTCUSD")
    assert entry == {
        "timestamp": 1_700_000_000.0,
        "o": 1.0,
        "h": 2.0,
        "l": 0.5,
        "c": 1.5,
        "v": 100.0,
        "sym": "BTCUSD",
    }
    assert "sym" not in candle.to_entry()
    assert Candle.from_entry(entry) == candle
    with pytest.raises(ValueError, match="'h'"):
        Candle.from_entry({"timestamp": 1, "o": 1, "h": "x", "l": 1, "c": 1, "v": 1})
    with pytest.raises(ValueError, match="timestamp"):
        Candle.from_entry({"o": 1, "h": 1, "l": 1, "c": 1, "v": 1})
    assert (
        Candle.from_entry({"o": 1, "h": 1, "l": 1, "c": 1, "v": 1}, default_timestamp=5.0).timestamp
        == 5.0
    )


def test_clear_bumps_version() -> None:
    store = CandleStore()
    store.append(_candle(1.0))
    v = store.version
    e = store.epoch
    store.clear()
    assert len(store) == 0
    assert store.version > v
    assert store.epoch == e + 1
    assert store.last_timestamp is None


def test_candle_stays_a_frozen_value_despite_its_fast_init() -> None:
    """Candle's __init__ is replaced for speed (app.streams.candles._fast_init):
    it must still set every field, by position and keyword, and stay frozen."""
    import dataclasses

    a = Candle(1.0, 2.0, 3.0, 0.5, 2.5, 9.0)
    b = Candle(timestamp=1.0, o=2.0, h=3.0, l=0.5, c=2.5, v=9.0)
    assert a == b and hash(a) == hash(b)
    assert (a.timestamp, a.o, a.h, a.l, a.c, a.v) == (1.0, 2.0, 3.0, 0.5, 2.5, 9.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.c = 4.0  # type: ignore[misc]
    assert dataclasses.replace(a, c=4.0).c == 4.0
    with pytest.raises(TypeError):
        Candle(1.0, 2.0, 3.0)  # type: ignore[call-arg]
