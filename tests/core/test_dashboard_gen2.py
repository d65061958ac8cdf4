"""The dashboard's core against an API generation-2 server (`--api 2`), and a link that
survives a dropped socket on both generations."""

from __future__ import annotations

import asyncio

import pytest

from app.api.generation import NOT_OFFERED, Generation
from app.core.dashboard import Dashboard
from app.core.session import Mode, SessionSpec
from app.feeds import SyntheticFeed
from app.streams import registry
from tests.core.live import FLASH, TEST_PROMPT, small_spec, until
from tests.support.server import RunningServer


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)


def gen2_spec(session_id: str) -> SessionSpec:
    return SessionSpec(type="ohlcv", prompt=TEST_PROMPT, flash=FLASH, flash_max_tokens=4,
                       session_id=session_id, window_tokens=1536, pre_decode=False)


def test_dashboard_on_gen2_lists_creates_feeds_answers_deletes(
        gen2_server: RunningServer) -> None:
    start = 1_700_000_000.0

    async def scenario() -> None:
        d = Dashboard(gen2_server.url, poll_interval=0.3)
        d.start()
        try:
            await until(lambda: d.server.ok and d.server.metrics, 30, "server ok, metrics read")
            assert d.generation is Generation.V2 and d.server.generation_label() == "API gen 2"
            details = dict(d.server.details())
            assert details["API"].startswith("API gen 2") and "warm turns" in details["offers"]
            assert "stream status" in details["not offered"]
            assert "uptime_ms" in d.server.counters and d.server.context_limit == 2048

            model = await d.create_session(gen2_spec("desk-gen2"))
            assert model.session_id == "desk-gen2" and model.mode is Mode.OWNED
            await until(lambda: "desk-gen2" in d.sessions.rows, 10, "new session listed")
            row = d.sessions.rows["desk-gen2"]
            assert row.generation == 2 and row.window == 1536 and row.type == "ohlcv"
            await until(lambda: row.flash_count == 2, 10, "flash count read")

            d.attach_feed(model, SyntheticFeed(seed=3, start=start, speed=float("inf"),
                                               count=20), "synthetic")
            await until(lambda: len(model.store) == 20, 60, "20 candles acknowledged")
            assert model.acked == 20 and len(model.outbox) == 0
            ledger = d._ledgers["desk-gen2"]
            assert ledger.entries == 20 and ledger.offset == 1 and ledger.twice == 0
            await until(lambda: row.data_version is not None and row.data_version >= 1
                        and row.kv_tokens and row.pending == 0, 60, "row shows ingest")
            assert row.evicted is not None and "KV-resident" in row.tooltip()
            # Entries held, counted from our acks (gen 2's data_updated says only tokens).
            await until(lambda: model.data_count == 20, 60, "20 entries held")
            board = model.board
            await until(lambda: len(board) == 2 and all(
                q.latest is not None for q in board.queries.values()), 120, "flash answers")
            assert all(q.latest.data_version >= 1 for q in board.queries.values() if q.latest)

            model.stats_wanted = True  # a panel shows statistics: gen 2 has none to give
            await until(lambda: model.stats_error is not None, 10, "stats answer")
            assert model.stats_error.endswith(NOT_OFFERED) and model.stats is None

            await d.delete_session("desk-gen2")
            await until(lambda: "desk-gen2" not in d.sessions.rows, 10, "deleted session gone")
        finally:
            await d.stop()

    asyncio.run(scenario())


def test_rendered_lines_are_the_bundled_servers_rendering() -> None:
    from app.core.gen2_compat import Ledger, render_lines
    from app.streams import rendering

    ohlcv = registry.get("ohlcv")
    entries = ohlcv.generator(seed=1, start=1_700_000_000.0, interval=60.0).take(6)
    wire = [ohlcv.to_wire(e) for e in entries]
    assert render_lines(ohlcv, entries) == rendering.render_lines("ohlcv", wire)
    # Pushed in two batches, the second follows the first as one run would.
    ledger = Ledger()
    lines = render_lines(ohlcv, wire[:3], ledger) + render_lines(ohlcv, entries[3:], ledger)
    assert lines == rendering.render_lines("ohlcv", wire)
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)


@pytest.mark.parametrize("generation", [1, 2], ids=["gen1", "gen2"])
def test_link_survives_a_dropped_socket(generation: int, request: pytest.FixtureRequest) -> None:
    """Fault injection: the session's TCP connection is aborted under the runner (a real
    server does not drop sockets on demand). The link reconnects and every candle is
    drawn exactly once, in order, on either generation."""
    server: RunningServer = request.getfixturevalue(
        "local_server" if generation == 1 else "gen2_server")
    start = 1_700_000_000.0

    async def scenario() -> None:
        d = Dashboard(server.url, poll_interval=0.5)
        d.start()
        try:
            await until(lambda: d.server.ok, 30, "server ok")
            # The same spec on both: gen 2 turns its window in entries into 3/4 of the context.
            model = await d.create_session(small_spec(flash=()))
            if generation == 2:
                sid = model.session_id
                await until(lambda: sid in d.sessions.rows, 10, "listed")
                assert d.sessions.rows[sid].window == int(0.75 * 2048)
            runner = d.runner_for(model)
            d.attach_feed(model, SyntheticFeed(seed=9, start=start, speed=float("inf"),
                                               count=10), "first")
            await until(lambda: len(model.store) == 10, 60, "10 candles acknowledged")
            stream = runner._stream
            assert stream is not None and stream._socket is not None
            stream._socket._ws.transport.abort()  # the fault: the connection just dies
            await until(lambda: model.link.reconnects >= 1 and model.link.status == "open",
                        60, "link reconnected")
            d.attach_feed(model, SyntheticFeed(seed=9, start=start + 600.0,
                                               speed=float("inf"), count=10), "second")
            await until(lambda: len(model.store) == 20, 60, "20 candles acknowledged")
            times = list(model.store.t)
            assert times == sorted(times) and len(set(times)) == 20
            await d.delete_session(model.session_id)
        finally:
            await d.stop()

    asyncio.run(scenario())
