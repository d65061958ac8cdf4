"""Flash answers: confidence mapping, freshness, history and flips (pure logic, no server)."""

from __future__ import annotations

import math

import pytest

from app.core.confidence import Level, describe, level, odds
from app.core.flash import FLIPS_KEPT, HISTORY, FlashBoard, answer_key


def test_odds_maps_logit_gap_to_top_token_probability() -> None:
    assert odds(0.0) == pytest.approx(0.5)
    assert odds(math.log(3)) == pytest.approx(0.75)
    assert odds(1000.0) == 1.0
    assert odds(-2.0) == pytest.approx(0.5)  # a gap is never negative; clamp bad input


def test_levels_and_description() -> None:
    assert level(None) is Level.LOW
    assert level(0.1) is Level.LOW
    assert level(1.0) is Level.MEDIUM
    assert level(5.0) is Level.HIGH
    assert describe(2.0) == "2.00 (p 0.88)"
    assert describe(None) == "–"


def test_answer_key_compares_verdicts_not_wording() -> None:
    assert answer_key("Yes, the close is higher.") == answer_key("yes")
    assert answer_key("No.") != answer_key("Yes.")
    assert answer_key("The trend is up") != answer_key("The trend is down")


def test_record_keeps_latest_history_and_counts_flips() -> None:
    board = FlashBoard()
    board.set_queries([(1, "Is the trend bullish?", 16)])
    assert board.record(1, "q", "Yes", 2.5, 1, 100.0, now=100.0) is None
    assert board.record(1, "q", "Yes, clearly", 1.5, 2, 101.0, now=101.0) is None
    flip = board.record(1, "q", "No", 0.3, 3, 102.0, now=102.0)
    assert flip is not None
    assert (flip.before, flip.after, flip.data_version) == ("Yes, clearly", "No", 3)
    q = board.queries[1]
    assert q.latest is not None and q.latest.value == "No" and q.latest.level is Level.LOW
    assert [a.value for a in q.history] == ["Yes, clearly", "Yes"]
    assert q.flips == 1
    assert board.flips_since(0) == [flip] and board.flips_since(flip.seq) == []
    assert q.is_fresh(3) and not q.is_fresh(4)
    assert q.age(now=110.0) == pytest.approx(8.0)


def test_older_or_repeated_answers_are_ignored() -> None:
    board = FlashBoard()
    board.record(7, "q", "Yes", 1.0, 5, None, now=1.0)
    v = board.version
    assert board.record(7, "q", "No", 1.0, 4, None, now=2.0) is None  # older version
    assert board.record(7, "q", "Yes", 1.0, 5, None, now=3.0) is None  # replay after reconnect
    assert board.version == v
    assert board.queries[7].latest is not None and board.queries[7].latest.value == "Yes"


def test_history_and_undrained_flips_are_short() -> None:
    board = FlashBoard()
    for version in range(1, FLIPS_KEPT + 10):
        board.record(1, "q", "Yes" if version % 2 else "No", 1.0, version, None)
    assert len(board.queries[1].history) == HISTORY
    # Only the latest flips are kept, newest last, for a view that looks late.
    flips = board.flips_since(0)
    assert len(flips) == FLIPS_KEPT and flips[-1].data_version == FLIPS_KEPT + 9


def test_set_queries_keeps_answers_and_drops_removed() -> None:
    board = FlashBoard()
    board.set_queries([(1, "a", 16), (2, "b", 16)])
    board.record(1, "a", "Yes", 1.0, 1, None)
    board.set_queries([(1, "a", 16)])
    assert list(board.queries) == [1]
    assert board.queries[1].latest is not None
    assert board.specs() == [{"query": "a", "max_tokens": 16}]


def test_newest_is_the_last_answer_taken_of_any_query() -> None:
    board = FlashBoard()
    assert board.newest is None
    board.record(1, "trend?", "Yes", 2.5, 1, 100.0, now=100.0)
    board.record(2, "volume?", "No", 1.0, 1, 100.0, now=100.5)
    board.record(1, "trend?", "Yes", 2.5, 1, 100.0, now=101.0)  # repeated: not taken
    query, answer = board.newest or ("", None)
    assert query == "volume?" and answer is not None and answer.value == "No"
    board.clear()
    assert board.newest is None
