"""Core against the real bundled server: connect, list, create, feed, flash answers, delete."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app.core.dashboard import Dashboard
from app.core.session import Mode
from app.feeds import SyntheticFeed
from tests.core.live import small_spec, until
from tests.support.server import RunningServer


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)


def test_connect_list_create_delete(local_server: RunningServer) -> None:
    async def scenario() -> None:
        d = Dashboard(local_server.url, poll_interval=0.3)
        d.start()
        try:
            await until(lambda: d.server.ok, 20, "server ok")
            assert d.server.model and d.server.banner is None
            model = await d.create_session(small_spec(), open_view=False)
            sid = model.session_id
            await until(lambda: sid in d.sessions.rows, 10, "new session listed")
            await until(lambda: d.sessions.rows[sid].flash_count == 2, 10, "details read")
            row = d.sessions.rows[sid]
            assert row.type == "ohlcv" and row.context == 2048
            # the system prompt is decoded into the cache: the row updates in place
            await until(lambda: row.n_tokens > 0, 20, "prompt tokens counted")
            assert d.sessions.rows[sid] is row and 0.0 < row.cache_usage < 1.0
            await d.delete_session(sid)
            await until(lambda: sid not in d.sessions.rows, 10, "deleted session gone")
        finally:
            await d.stop()

    asyncio.run(scenario())


def test_feed_candles_drawn_once_in_order_and_flash_answers_follow_data(
    local_server: RunningServer,
) -> None:
    start = 1_700_000_000.0
    expected = start + 60.0 * np.arange(30)  # SyntheticFeed's timestamps, one interval apart

    async def scenario() -> None:
        d = Dashboard(local_server.url, poll_interval=0.5)
        d.start()
        try:
            await until(lambda: d.server.ok, 20, "server ok")
            model = await d.create_session(small_spec())
            assert model.mode is Mode.OWNED
            d.attach_feed(model, SyntheticFeed(seed=5, start=start, speed=float("inf"), count=20),
                          "synthetic")
            await until(lambda: len(model.store) == 20, 30, "20 candles acknowledged")
            assert np.array_equal(model.store.t, expected[:20])
            assert model.acked == 20 and len(model.outbox) == 0
            board = model.board
            await until(lambda: len(board) == 2 and all(
                q.latest is not None for q in board.queries.values()), 90, "both flash answers")
            first = {qid: q.latest for qid, q in board.queries.items()}
            for a in first.values():
                assert a is not None and a.confidence is not None and a.confidence >= 0
                assert a.data_version >= 1 and 0.5 <= (a.odds or 0) <= 1.0
            v1 = model.data_version
            # More data: the answers are recomputed at a newer data version.
            d.attach_feed(model, SyntheticFeed(seed=5, start=start + 20 * 60.0, speed=float("inf"),
                                               count=5), "more")
            await until(lambda: len(model.store) == 25, 30, "5 more candles")
            await until(lambda: model.data_version > v1, 60, "data version bump")
            await until(lambda: all(q.latest is not None and q.latest.data_version > v1
                                    for q in board.queries.values()), 90, "answers at new version")
            assert all(q.is_fresh(q.latest.data_version) for q in board.queries.values()
                       if q.latest)
            assert all(len(q.history) >= 1 for q in board.queries.values())
            assert model.link.status == "open"
        finally:
            await d.stop()

    asyncio.run(scenario())
