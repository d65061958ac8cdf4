"""What the dashboard shows is true (issue: truthful freshness, backpressure, full context),
against the real bundled server on loopback, with a small ingest queue so that a feed far
faster than the model overflows it within seconds."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import httpx
import pytest

from app.core.dashboard import Dashboard
from app.core.progress import Freshness
from app.core.session import SessionSpec
from app.feeds import SyntheticFeed
from tests.core.live import TEST_PROMPT, until
from tests.support.server import RunningServer, start_server

QUEUE = 16  # the server's per-session ingest queue in this module


@pytest.fixture(scope="module")
def small_queue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("truth-server"), extra_args=[
        "--ctx-size", "2048", "--pool-size", "4", "--queue-capacity", str(QUEUE)])
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)


def spec(flash: tuple[str, ...] = (), window: int | None = 12, context: int = 2048
         ) -> SessionSpec:
    return SessionSpec(type="ohlcv", prompt=TEST_PROMPT, context=context, window_size=window,
                       flash=flash, flash_max_tokens=2, mark_prefix=True)


def status(url: str, sid: str) -> dict:
    return httpx.get(f"{url}/v1/sessions/{sid}/stream/status", timeout=30).json()


async def started(url: str) -> Dashboard:
    d = Dashboard(url, poll_interval=0.5)
    d.start()
    await until(lambda: d.server.ok, 60, "server ok")
    return d


def test_a_fast_replay_shows_queued_entries_and_never_calls_a_stale_answer_fresh(
        small_queue_server: RunningServer) -> None:
    n = 40

    async def scenario() -> None:
        d = await started(small_queue_server.url)
        try:
            model = await d.create_session(spec(flash=("Is the trend bullish?",)))
            d.attach_feed(model, SyntheticFeed(seed=3, count=n, speed=math.inf), "fast")
            saw_queued = saw_stale_behind = False
            saw_fresh = False
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 240
            while loop.time() < deadline:
                p = model.progress
                assert 0 <= p.ingested <= p.stored == len(model.store)
                saw_queued |= p.queued > 0
                for q in model.board.queries.values():
                    if q.latest is None:
                        continue
                    v = model.verdict(q.latest.data_version)
                    if v.state is Freshness.FRESH:
                        # fresh: computed at the newest version, nothing drawn is unread
                        assert p.queued == 0 and q.latest.data_version >= model.data_version
                        saw_fresh = True
                    else:
                        assert v.state is Freshness.STALE
                        saw_stale_behind |= v.behind_entries > 0
                if (len(model.store) == n and p.ingested == n and saw_fresh
                        and not p.queued):
                    break
                await asyncio.sleep(0.02)
            assert saw_queued, "the split between queued and read entries was never visible"
            assert saw_stale_behind, "no answer was ever reported behind the data"
            assert saw_fresh and model.progress.ingested == n
            st = status(small_queue_server.url, model.session_id)["statistics"]
            assert st["total_enqueued"] == n and st["items_processed"] == n
            await d.delete_session(model.session_id)
        finally:
            await d.stop()

    asyncio.run(scenario())


def test_hold_loses_no_candle_far_faster_than_the_server_reads(
        small_queue_server: RunningServer) -> None:
    n = 120  # unpaced: thousands a second against the model's few

    async def scenario() -> None:
        d = await started(small_queue_server.url)
        try:
            model = await d.create_session(spec())
            assert model.policy == "hold"
            feed = SyntheticFeed(seed=5, count=n, speed=math.inf)
            expected = [c.timestamp for c in SyntheticFeed(seed=5, count=n).skip(n)]
            d.attach_feed(model, feed, "fast")
            await until(lambda: model.progress.ingested == n, 300, "every candle read")
            st = status(small_queue_server.url, model.session_id)
            assert st["statistics"]["total_dropped"] == 0
            assert st["statistics"]["total_enqueued"] == n
            assert list(model.store.t) == expected  # each once, in order
            assert model.progress.dropped == 0
            await d.delete_session(model.session_id)
        finally:
            await d.stop()

    asyncio.run(scenario())


def test_latest_wins_lets_the_server_drop_and_counts_every_drop(
        small_queue_server: RunningServer) -> None:
    n = 100

    async def scenario() -> None:
        d = await started(small_queue_server.url)
        try:
            model = await d.create_session(spec(), open_view=True)
            model.policy = "latest"
            d.attach_feed(model, SyntheticFeed(seed=6, count=n, speed=math.inf), "fast")
            await until(lambda: model.feed.done and not len(model.outbox)
                        and len(model.store) + model.progress.dropped == n, 60,
                        "every candle pushed once")
            st = status(small_queue_server.url, model.session_id)["statistics"]
            assert model.progress.dropped > 0
            assert st["total_dropped"] == model.progress.dropped  # shown as the server counts
            assert st["total_enqueued"] == len(model.store)  # drawn: only what it took
            await d.delete_session(model.session_id)
        finally:
            await d.stop()

    asyncio.run(scenario())


def test_a_full_context_stops_the_feed_and_recreating_with_a_window_goes_on(
        small_queue_server: RunningServer) -> None:
    async def scenario() -> None:
        d = await started(small_queue_server.url)
        try:
            model = await d.create_session(spec(flash=("Is the trend bullish?",), window=None,
                                                context=384))
            runner = d.runner_for(model)
            d.attach_feed(model, SyntheticFeed(seed=7, count=400, speed=200.0), "feed")
            await until(lambda: bool(model.progress.context_full), 120, "context full")
            assert "full" in model.progress.context_full
            await until(lambda: model.feed.paused, 10, "feed paused")
            held = len(model.outbox)
            assert held > 0 and model.rejected == 0  # kept, not thrown away as refused
            q = next(iter(model.board.queries.values()))
            if q.latest is not None:
                assert model.verdict(q.latest.data_version).state is Freshness.FULL
            drawn = len(model.store)
            old = model.session_id
            await runner.recover_from_full("window", 6)
            assert model.session_id != old and model.spec.window_size == 6
            assert not model.progress.context_full and not model.feed.paused
            assert [x.query for x in model.board.queries.values()] == ["Is the trend bullish?"]
            gone = httpx.get(f"{small_queue_server.url}/v1/sessions/{old}/state", timeout=30)
            assert gone.status_code == 404
            await until(lambda: len(model.store) > drawn + 10, 120, "the feed goes on")
            assert not model.progress.context_full
            runner.stop_feed()
            await d.delete_session(model.session_id)
        finally:
            await d.stop()

    asyncio.run(scenario())
