"""Feeds as async iterators: content, pacing by speed, pause/resume, stop."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.feeds import CsvReplayFeed, Feed, SyntheticFeed, random_walk
from app.streams.candles import Candle, CandleStore

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).parents[2] / "resources" / "sample_data" / "synthetic_1m.csv"


async def _take(feed: Feed, n: int, timeout: float = 10.0) -> list[Candle]:
    async def run() -> list[Candle]:
        out: list[Candle] = []
        async for candle in feed:
            out.append(candle)
            if len(out) == n:
                break
        return out

    return await asyncio.wait_for(run(), timeout)


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def test_random_walk_is_seeded_and_consistent() -> None:
    a = random_walk(5000, seed=7)
    b = random_walk(5000, seed=7)
    c = random_walk(5000, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[4], c[4])
    t, o, h, lo, cl, v = a
    assert np.all(np.diff(t) == 60.0)
    assert np.all(h >= np.maximum(o, cl))
    assert np.all(lo <= np.minimum(o, cl))
    assert np.all(lo > 0)
    assert np.all(v > 0)
    assert np.array_equal(o[1:], cl[:-1])


def test_synthetic_feed_is_a_feed_and_repeats_by_seed() -> None:
    async def go() -> tuple[list[Candle], list[Candle]]:
        f1 = SyntheticFeed(seed=3, interval=300, start=1_000_000.0, speed=math.inf, count=5000)
        f2 = SyntheticFeed(seed=3, interval=300, start=1_000_000.0, speed=math.inf)
        assert isinstance(f1, Feed)
        got = await _take(f1, 6000)
        return got, await _take(f2, 5000)

    first, second = asyncio.run(go())
    assert len(first) == 5000  # count ends the feed
    assert first == second
    times = [c.timestamp for c in first]
    assert times[0] == 1_000_000.0
    assert np.all(np.diff(times) == 300.0)  # also across the generator's blocks
    store = CandleStore()
    assert store.extend(first) == 5000


def test_speed_paces_candles_per_second() -> None:
    async def go() -> float:
        feed = SyntheticFeed(speed=40.0)
        start = time.monotonic()
        await _take(feed, 9)  # first at once, then 8 periods of 25 ms
        return time.monotonic() - start

    elapsed = asyncio.run(go())
    assert 0.18 <= elapsed < 2.0


def test_speed_change_applies_to_a_pending_wait() -> None:
    async def go() -> float:
        feed = SyntheticFeed(speed=0.05)  # one candle per 20 s
        await _take(feed, 1)
        start = time.monotonic()
        waiting = asyncio.ensure_future(_take(feed, 1))
        await _until(lambda: feed.waiting)  # the feed is in its 20 s wait
        feed.speed = 1000.0
        await asyncio.wait_for(waiting, 5.0)
        return time.monotonic() - start

    assert asyncio.run(go()) < 2.0


def test_pause_holds_candles_until_resume() -> None:
    async def go() -> tuple[int, int]:
        feed = SyntheticFeed(speed=math.inf)
        await _take(feed, 3)
        feed.pause()
        assert feed.paused
        waiting = asyncio.ensure_future(_take(feed, 1))
        # While paused, nothing arrives even though the feed is unpaced.
        done, _ = await asyncio.wait({waiting}, timeout=0.3)
        held = len(done)
        feed.resume()
        got = await asyncio.wait_for(waiting, 5.0)
        return held, len(got)

    held, got = asyncio.run(go())
    assert held == 0
    assert got == 1


def test_speed_must_be_positive() -> None:
    feed = SyntheticFeed()
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="speed"):
            feed.speed = bad
    assert feed.speed == 1.0


def test_stop_ends_iteration() -> None:
    async def go() -> list[Candle]:
        feed = SyntheticFeed(speed=0.01)
        await _take(feed, 1)
        waiting = asyncio.ensure_future(_take(feed, 10))
        await _until(lambda: feed.waiting)
        feed.stop()
        return await asyncio.wait_for(waiting, 5.0)

    assert asyncio.run(go()) == []


def test_csv_replay_plays_good_rows_and_keeps_problems() -> None:
    async def go() -> tuple[CsvReplayFeed, list[Candle]]:
        feed = await CsvReplayFeed.open(DATA / "bad_rows.csv", speed=math.inf)
        got = await _take(feed, 100)
        return feed, got

    feed, got = asyncio.run(go())
    assert [p.line for p in feed.problems] == [3, 4, 6, 7, 9, 10, 12]
    assert [c.c for c in got] == [1.2, 1.6, 1.9]
    assert feed.done
    assert feed.position == feed.total == 3


def test_csv_replay_constructor_reads_file() -> None:
    feed = CsvReplayFeed(DATA / "yahoo_daily.csv", speed=2.0)
    assert feed.problems == []
    assert feed.total == 3
    assert feed.speed == 2.0
    assert not feed.done


def test_sample_data_file_replays_cleanly() -> None:
    feed = CsvReplayFeed(SAMPLE, speed=math.inf)
    assert feed.problems == []
    assert feed.total >= 300
    got = asyncio.run(_take(feed, 10_000))
    assert len(got) == feed.total
    assert all(b.timestamp - a.timestamp == 60 for a, b in itertools.pairwise(got))


@pytest.mark.parametrize("n", [0, 1, 2, 63, 64, 65])
def test_random_walk_short_lengths(n: int) -> None:
    cols = random_walk(n, seed=1)
    assert [c.shape for c in cols] == [(n,)] * 6
    if n:
        _t, o, h, lo, cl, _v = cols
        assert np.all(h >= np.maximum(o, cl)) and np.all(lo <= np.minimum(o, cl))
        assert np.all(np.isfinite(cl))


def test_random_walk_rejects_negative_length() -> None:
    with pytest.raises(ValueError, match="n must be"):
        random_walk(-1)


@pytest.mark.parametrize("paused", [False, True])
def test_cancelling_a_waiting_feed_ends_at_once(paused: bool) -> None:
    """A consumer blocked in the feed's pacing wait (or in a pause) is cancellable
    within one pass of the loop, and the feed is usable afterwards."""

    async def go() -> tuple[int, bool, bool, int]:
        feed = SyntheticFeed(speed=0.01)  # one candle per 100 s
        await _take(feed, 1)
        if paused:
            feed.pause()
        task = asyncio.ensure_future(feed.__anext__())
        await _until(lambda: feed.waiting)
        task.cancel()
        passes = 0
        while not task.done() and passes < 50:
            await asyncio.sleep(0)
            passes += 1
        feed.resume()
        feed.speed = math.inf
        again = await _take(feed, 1)
        return passes, task.cancelled(), feed.waiting, len(again)

    passes, cancelled, waiting, again = asyncio.run(go())
    assert cancelled
    assert passes <= 1
    assert not waiting
    assert again == 1
