"""The cockpit's Qt-free parts: bounded series, ingest rates and warning, link timings,
context marks, "not offered" detection, console input checks."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from app.api.errors import NotFoundError
from app.api.models import DataUpdatedEvent, FlashReadyEvent, SessionState, StreamStatus
from app.core.cockpit import IngestMetrics, Poller, context_marks, is_unsupported, offers
from app.core.console import InputError, parse_messages, parse_tools
from app.core.latency import LinkTimes
from app.core.timeseries import Series, SeriesSet


def test_series_keeps_five_minutes_at_full_rate_and_an_hour_downsampled() -> None:
    s = Series()
    for i in range(2 * 3600):  # two hours at 1 Hz
        s.add(float(i), float(i % 100))
    now = 2 * 3600 - 1.0
    xs, ys = s.window(300, now)
    assert len(xs) == 301 and xs[0] == now - 300  # every sample of the last 5 minutes
    xs, ys = s.window(3600, now)
    assert xs[0] >= now - 3600 and len(xs) < 700  # older part at one mean per 10 s
    assert all(b > a for a, b in itertools.pairwise(xs))  # no overlap, ordered
    assert len(s) <= 300 * 4 + 1 + 361  # bounded whatever ran before
    coarse_means = ys[:-301]
    assert all(0 <= y <= 99 for y in coarse_means)


def test_series_set_exports_csv_rows() -> None:
    ss = SeriesSet(("queue", "drops"))
    ss.add(1.0, queue=3, drops=0)
    ss.add(2.0, queue=5)
    lines = ss.to_csv().splitlines()
    assert lines == ["time,queue,drops", "1.000,3,0", "2.000,5,"]


def _status(queue: int, cap: int, enq: int, dropped: int, batches: int, items: int,
            spent_us: float) -> StreamStatus:
    return StreamStatus.model_validate({
        "type": "ohlcv",
        "streaming": {"initialized": True, "running": True, "queue_size": queue,
                      "queue_capacity": cap},
        "statistics": {"total_enqueued": enq, "total_dropped": dropped,
                       "batches_processed": batches, "items_processed": items,
                       "total_process_time_us": spent_us,
                       "avg_process_time_us": spent_us / max(batches, 1)},
        "data": {"initialized": True, "data_count": items, "total_data_tokens": 0,
                 "pos_next": 0}})


def test_ingest_rates_and_warning() -> None:
    m = IngestMetrics()
    m.add(_status(0, 100, 10, 0, 2, 10, 2000.0), 100.0)
    assert not m.warning
    m.add(_status(10, 100, 40, 0, 4, 30, 6000.0), 102.0)
    assert m.series["items_per_s"].last == 10.0
    assert m.series["enqueued_per_s"].last == 15.0
    assert m.series["recent_ms"].last == 2.0  # 4000 us over 2 batches
    assert not m.warning
    m.add(_status(80, 100, 120, 0, 4, 30, 6000.0), 103.0)
    assert m.warning  # 80 % full
    m.add(_status(10, 100, 130, 5, 10, 120, 9000.0), 104.0)
    assert m.series["drops_per_s"].last == 5.0 and m.warning  # drops rising
    m.add(_status(10, 100, 140, 5, 12, 130, 9500.0), 105.0)
    assert not m.warning


def test_link_times_measure_push_to_update_and_update_to_flash() -> None:
    t = LinkTimes()
    t.pushed(now=10.0)
    t.pushed(now=10.5)
    t.observe(DataUpdatedEvent(data_version=3), now=11.0)
    assert sorted(t.push_to_update.values) == [0.5, 1.0]
    t.observe(FlashReadyEvent(id=1, query="q", value="yes", data_version=3), now=11.25)
    t.observe(FlashReadyEvent(id=2, query="r", value="no", data_version=9), now=11.5)
    assert list(t.update_to_flash.values) == [0.25]  # version 9 never seen: no sample
    csv = t.flash_csv().splitlines()
    assert csv[0].startswith("received_at,query_id") and len(csv) == 3
    assert csv[1].endswith(",250.0")


def test_context_marks_find_prefix_and_data_lines() -> None:
    prompt = "You watch candles.\nAnswer yes or no.\n"
    lines = "".join(f"c{i} o=1 h=2 l=0 c=1\n" for i in range(5))
    text = prompt + lines
    state = SessionState.model_validate({
        "session_id": "s", "n_tokens": 60, "context": 512, "prefix_end": 12,
        "cache_usage": 0.1, "created_at": 0, "last_used_at": 0, "in_use": False,
        "type": "ohlcv", "pos_min": 0, "pos_max": 59, "pos_next": 60,
        "data_region": {"start": 12, "end": 60}, "data_count": 5, "context_text": text})
    prefix, start, end = context_marks(state)
    assert text[:prefix] == prompt
    assert text[start:end] == lines


def test_not_offered_is_told_from_a_missing_session() -> None:
    assert is_unsupported(NotFoundError("no such route", status=404,
                                        body={"error": {"code": "route_not_found"}}))
    assert not is_unsupported(NotFoundError("gone", status=404,
                                            body={"error": {"code": "session_not_found"}}))

    class Caps:
        stream_status = False

    class Client:
        capabilities = Caps()

    assert offers(Client(), "stream_status") is False
    assert offers(object(), "stream_status") is None


def test_poller_reports_not_offered_and_polls_only_while_wanted() -> None:
    """A fetch that raises the server's "no such route" (fault injection, no server)."""
    calls = []

    async def fetch() -> None:
        calls.append(1)
        raise NotFoundError("no such route", status=404,
                            body={"error": {"code": "route_not_found"}})

    async def go() -> None:
        p = Poller(fetch, interval=0.01)
        await p.poll_once()
        assert p.unsupported and p.error is None
        p.want(False)
        assert not p.wanted
        p.want(True)
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        p.want(False)
        await asyncio.sleep(0.05)  # let an in-flight poll finish
        seen = len(calls)
        for _ in range(10):
            await asyncio.sleep(0.01)
        assert len(calls) == seen  # nothing while not wanted
        await p.stop()

    asyncio.run(go())


def test_console_input_is_checked() -> None:
    assert parse_messages('[{"role": "user", "content": "hi"}]')[0]["role"] == "user"
    with pytest.raises(InputError, match="not JSON"):
        parse_messages("[{")
    with pytest.raises(InputError, match="role"):
        parse_messages('[{"content": "hi"}]')
    assert parse_tools("  ") is None
    assert parse_tools('{"type": "function", "function": {"name": "f"}}')[0]["type"]
    with pytest.raises(InputError, match="tools"):
        parse_tools("[1, 2]")
