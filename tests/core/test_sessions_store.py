"""The sessions listing diffed into stable rows (pure logic, no server)."""

from __future__ import annotations

from typing import Any

from app.api.models import SessionSummary
from app.core.sessions import SessionsStore


def summary(sid: str, n: int = 10, in_use: bool = False, **extra: Any) -> SessionSummary:
    return SessionSummary.model_validate(
        {"session_id": sid, "n_tokens": n, "context": 100, "cache_usage": n / 100,
         "created_at": 1.0, "last_used_at": 2.0, "in_use": in_use, **extra})


def test_rows_keep_their_index_and_only_changes_are_reported() -> None:
    store = SessionsStore()
    d = store.apply([summary("a"), summary("b")], max_sessions=8)
    assert d.added == ["a", "b"] and not d.removed and not d.changed
    assert store.max_sessions == 8
    row_b = store.rows["b"]
    d = store.apply([summary("a"), summary("b", n=20)])
    assert d.added == [] and d.changed == ["b"]
    assert store.rows["b"] is row_b and row_b.cache_usage == 0.2
    d = store.apply([summary("b", n=20), summary("a")])  # server order changed: no-op
    assert not d and store.order == ["a", "b"]
    d = store.apply([summary("b", n=20), summary("c")])
    assert d.removed == ["a"] and d.added == ["c"] and store.order == ["b", "c"]
    assert store.order.index("c") == 1
    assert len(store.take_pending()) == 3 and store.take_pending() == []


def test_type_and_flash_count_from_summary_extras_or_details() -> None:
    store = SessionsStore()
    store.known_types["x"] = "iot"
    store.apply([summary("x"), summary("y", type="ohlcv", flash_queries=[1, 2])])
    assert store.rows["x"].type == "iot"
    assert store.rows["y"].type == "ohlcv" and store.rows["y"].flash_count == 2
    assert store.update_details("x", "iot", 3) is True
    assert store.update_details("x", "iot", 3) is False
    assert store.rows["x"].flash_count == 3
    assert store.update_details("gone", "iot", 1) is False
