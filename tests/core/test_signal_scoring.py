"""Signal scoring: exact hit rates on a constructed series, calibration buckets, the
follow-the-signal return, and no look-ahead (pure logic, no server)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.core.scoring import Direction, ScoreSpec, score
from app.core.signals import SignalLog, VersionLedger

T0 = 1_709_546_400.0
CLOSES = [100, 101, 103, 102, 100, 98, 99, 101, 104, 104, 103, 101]
P55, P75, P95 = math.log(0.55 / 0.45), math.log(3.0), math.log(19.0)  # gaps giving those p
# (candle index, answer, gap): with "yes" = up over 2 candles the hits are marked.
ANSWERS = [
    (0, "Yes", P95),  # 100 -> 103 up: hit
    (1, "Yes.", P95),  # 101 -> 102 up: hit
    (2, "No", P75),  # 103 -> 100 down: hit
    (3, "Yes", P75),  # 102 -> 98: miss
    (5, "No", P55),  # 98 -> 101: miss
    (6, "Yes, rising", P95),  # 99 -> 104: hit
    (7, "Maybe", P95),  # neither: counted, not scored
    (8, "Yes", P55),  # 104 -> 103: miss
    (9, "No", P75),  # 104 -> 101: hit
    (10, "Yes", P95),  # its outcome (candle 12) has not come: pending
]


def series() -> tuple[np.ndarray, np.ndarray]:
    t = T0 + 60.0 * np.arange(len(CLOSES))
    return t, np.array(CLOSES, dtype=np.float64)


def log_of(answers: list[tuple[int, str, float]], t: np.ndarray) -> SignalLog:
    log = SignalLog()
    for version, (i, value, gap) in enumerate(answers, start=1):
        log.add(1, value, gap, version, float(t[i]), True, received_at=float(t[i]) + 30)
    return log


def test_hit_rates_on_a_constructed_series_are_exact() -> None:
    t, c = series()
    sigs = log_of(ANSWERS, t).for_query(1)
    s = score(sigs, t, c, ScoreSpec(Direction.UP, 2))
    assert (s.answers, s.signals, s.hits, s.pending, s.other) == (10, 8, 5, 1, 1)
    assert s.hit_rate == 5 / 8
    by = {(b.lo, b.hi): (b.signals, b.hits) for b in s.buckets}
    assert by == {(0.5, 0.6): (2, 0), (0.6, 0.7): (0, 0), (0.7, 0.8): (3, 2),
                  (0.8, 0.9): (0, 0), (0.9, 1.0): (3, 3)}
    assert s.buckets[4].mean_p == pytest.approx(0.95)
    # "yes" meaning down turns every scored call around (no flat moves here).
    down = score(sigs, t, c, ScoreSpec(Direction.DOWN, 2))
    assert (down.signals, down.hits) == (8, 3)


def test_follow_the_signal_return_compounds_only_later_candles() -> None:
    t, c = series()
    sigs = log_of(ANSWERS, t).for_query(1)
    s = score(sigs, t, c, ScoreSpec(Direction.UP, 2))
    # Position held over candle j -> j+1: the latest answer about candle <= j.
    pos = {0: 1, 1: 1, 2: -1, 3: 1, 4: 1, 5: -1, 6: 1, 7: 0, 8: 1, 9: -1, 10: 1}
    expected = 1.0
    for j, p in pos.items():
        expected *= 1 + p * (CLOSES[j + 1] / CLOSES[j] - 1)
    assert s.strategy_return == pytest.approx(expected - 1, abs=1e-12)
    assert s.hold_return == pytest.approx(CLOSES[-1] / CLOSES[0] - 1)


def test_an_answer_about_candle_t_is_never_scored_against_candle_t_or_earlier() -> None:
    """The model sees a jump at candle t; its answer (received after t) must not be
    credited for that jump, only for what follows t."""
    t = T0 + 60.0 * np.arange(8)
    c = np.array([100, 100, 100, 110, 109, 108, 107, 106], dtype=np.float64)  # jump at 3
    ledger = VersionLedger()
    ledger.record(7, float(t[3]), exact=True)  # data version 7 ended with candle 3
    log = SignalLog()
    ts, exact = ledger.candle_for(7)
    log.add(1, "Yes", P95, 7, ts, exact, received_at=float(t[3]) + 20)
    s = score(log.for_query(1), t, c, ScoreSpec(Direction.UP, 1))
    assert (s.signals, s.hits) == (1, 0)  # 110 -> 109: the jump to 110 is not its to claim
    assert s.strategy_return == pytest.approx(c[-1] / c[3] - 1)  # long from 110, not from 100
    # Whatever happened up to candle t (before the jump) changes nothing.
    rng = np.random.default_rng(5)
    for _ in range(20):
        c2 = c.copy()
        c2[:3] = rng.uniform(50, 150, 3)
        again = score(log.for_query(1), t, c2, ScoreSpec(Direction.UP, 1))
        assert (again.signals, again.hits, again.strategy_return) == (
            s.signals, s.hits, s.strategy_return)


def test_scores_use_candles_strictly_after_each_answer_on_random_series() -> None:
    rng = np.random.default_rng(11)
    n, horizon = 400, 3
    t = T0 + 60.0 * np.arange(n)
    c = 100 + np.cumsum(rng.normal(0, 1, n))
    at = np.sort(rng.choice(n, 60, replace=False))
    answers = [(int(i), "Yes" if rng.random() < 0.5 else "No", P75) for i in at]
    sigs = log_of(answers, t).for_query(1)
    base = score(sigs, t, c, ScoreSpec(Direction.UP, horizon))
    for k, (i, _, _) in enumerate(answers):
        # Changing only candles after answer k's outcome candle never changes its verdict
        # counted so far: rescoring the first k+1 answers on a series cut at i + horizon.
        cut = i + horizon + 1
        s_cut = score(sigs[: k + 1], t[:cut], c[:cut], ScoreSpec(Direction.UP, horizon))
        s_full = score(sigs[: k + 1], t, c, ScoreSpec(Direction.UP, horizon))
        assert s_cut.hits == s_full.hits and s_cut.signals == s_full.signals
    assert base.signals == sum(i + horizon < n for i, _, _ in answers)


def test_signal_log_keeps_candles_in_order_and_ignores_repeats() -> None:
    log = SignalLog()
    assert log.add(1, "Yes", 1.0, 3, 200.0, True, 0.0) is not None
    assert log.add(1, "Yes", 1.0, 3, 200.0, True, 1.0) is None  # the same answer again
    assert log.add(1, "No", 1.0, 2, 100.0, True, 2.0) is None  # an older version
    later = log.add(1, "No", 1.0, 4, 150.0, False, 3.0)  # a bound earlier than the last one
    assert later is not None and later.candle_ts == 200.0


def test_ledger_keeps_the_earliest_bound_and_prefers_exact() -> None:
    led = VersionLedger()
    led.record(5, 300.0)
    led.record(5, 240.0)
    assert led.candle_for(5) == (240.0, False)
    led.record(5, 180.0, exact=True)
    led.record(5, 120.0)  # a bound never overrides an exact record
    assert led.candle_for(5) == (180.0, True)
    assert led.candle_for(4) is None


def test_bad_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ScoreSpec(Direction.UP, 0)
    with pytest.raises(ValueError):
        ScoreSpec("sideways", 3)  # type: ignore[arg-type]
