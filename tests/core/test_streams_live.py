"""Every stream type through the dashboard core against the real bundled server: a session
per type, fed by its synthetic feed, gets data_updated and flash_ready; its store holds
exactly what the server acknowledged, nothing lost or doubled across a server kill and
restart; the statistics it shows equal what the pushed entries imply (computed here,
independently of the registry and the server); a refused entry is reported in the
server's own words.

Uses a private bundled server (tests.support.server.start_server) because it kills it.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from pathlib import Path
from typing import Any

import pytest

from app.core.dashboard import Dashboard
from app.core.session import SessionModel, SessionSpec
from app.feeds import SyntheticFeed
from app.streams import registry
from app.streams.iot import IotEntry
from tests.core.live import until
from tests.support.server import RunningServer, start_server

START = 1_700_000_000.0
FIRST, MORE = 24, 16
WINDOW = 20


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)


def spec(name: str) -> SessionSpec:
    stream = registry.get(name)
    # Room for the whole window: a sliding server keeps only the newest entries that fit.
    return SessionSpec(type=name, prompt=stream.demo_prompt(), context=4096, window_size=WINDOW,
                       flash=stream.demo_questions(), flash_max_tokens=4, mark_prefix=True)


def feed(name: str, start_index: int, count: int) -> SyntheticFeed:
    """The type's synthetic entries [start_index, start_index + count) of one seeded run."""
    stream = registry.get(name)
    f = SyntheticFeed(stream=name, seed=4, start=START, interval=stream.interval,
                      speed=math.inf, count=count, **stream.demo_params)
    f.backlog(start_index)  # skip what an earlier feed already sent (count is what follows)
    return f


def expected_wire(name: str, n: int) -> list[dict[str, Any]]:
    stream = registry.get(name)
    f = SyntheticFeed(stream=name, seed=4, start=START, interval=stream.interval,
                      **stream.demo_params)
    return [stream.to_wire(e) for e in f.backlog(n)]


def stored(model: SessionModel) -> list[dict[str, Any]]:
    return [model.stream.to_wire(model.store[i]) for i in range(len(model.store))]


def independent_stats(name: str, window: list[dict[str, Any]]) -> dict[str, Any]:
    """A few statistics per type straight from their definitions in PROTOCOL.md."""
    last = window[-1]
    if name == "ohlcv":
        return {"count": len(window), "last_close": last["c"], "first_open": window[0]["o"],
                "max_high": max(e["h"] for e in window), "min_low": min(e["l"] for e in window)}
    if name == "iot":
        return {"count": len(window), "last_sensor": last["sid"],
                "max_value": max(e["val"] for e in window),
                "threshold_breaches": sum(not e["lo"] <= e["val"] <= e["hi"] for e in window)}
    if name == "spatial":
        return {"count": len(window), "current_speed": last["spd"],
                "max_speed": max(e["spd"] for e in window),
                "total_distance": sum(math.dist((a["x"], a["y"], a["z"]), (b["x"], b["y"], b["z"]))
                                      for a, b in itertools.pairwise(window))}
    if name == "event":
        return {"count": len(window), "total_event_count": sum(e["cnt"] for e in window),
                "critical_events": sum(e["sev"] >= 4 for e in window),
                "unique_sources": len({e["src"] for e in window})}
    hr = [e["hr"] > 100 for e in window]
    return {"count": len(window), "avg_heart_rate": sum(e["hr"] for e in window) / len(window),
            "min_spo2": min(e["spo2"] for e in window),
            "alerts.tachycardia_episodes": sum(f and (i == 0 or not hr[i - 1])
                                               for i, f in enumerate(hr))}


def stats_match(model: SessionModel, expected: dict[str, Any]) -> bool:
    stats = model.stats
    if stats is None:
        return False
    for key, want in expected.items():
        if key.startswith("alerts."):
            got = (stats.alerts or {}).get(key.split(".", 1)[1])
        else:
            got = getattr(stats, key)
        if got != pytest.approx(want):
            return False
    return True


def test_every_type_end_to_end_across_a_server_restart(tmp_path: Path) -> None:
    servers: list[RunningServer] = [start_server(tmp_path)]
    port = servers[0].port
    names = registry.names()

    async def scenario() -> None:
        d = Dashboard(servers[0].url, poll_interval=0.5)
        d.start()
        try:
            await until(lambda: d.server.ok, 20, "server ok")
            models = {n: await d.create_session(spec(n)) for n in names}
            for n, m in models.items():
                d.attach_feed(m, feed(n, 0, FIRST), "synthetic")
                m.stats_wanted = True
            for n, m in models.items():
                await until(lambda m=m: len(m.store) == FIRST, 60, f"{n}: {FIRST} acknowledged")
                assert stored(m) == expected_wire(n, FIRST) and m.acked == FIRST
            for n, m in models.items():
                await until(lambda m=m: m.data_version > 0 and m.data_count == WINDOW, 120,
                            f"{n}: data_updated")
                await until(lambda m=m: len(m.board) == 2 and all(
                    q.latest is not None for q in m.board.queries.values()), 240,
                    f"{n}: flash_ready for both queries")
                window = expected_wire(n, FIRST)[-WINDOW:]
                await until(lambda m=m, n=n, w=window: stats_match(m, independent_stats(n, w)),
                            30, f"{n}: stats of the window")
            # Kill the server; the feeds go on into the outbox meanwhile.
            first_ids = {n: m.session_id for n, m in models.items()}
            await asyncio.to_thread(servers[0].stop)
            for n, m in models.items():
                d.attach_feed(m, feed(n, FIRST, MORE), "more")
            await until(lambda: all(m.feed.done and m.feed.emitted == MORE and
                                    m.link.status != "open" for m in models.values()), 20,
                        "feeds done while the server is down")
            assert all(len(m.store) == FIRST for m in models.values())  # nothing acked meanwhile
            servers.append(await asyncio.to_thread(start_server, tmp_path, port=port))
            for n, m in models.items():
                await until(lambda m=m: len(m.store) == FIRST + MORE and m.recreated == 1,
                            120, f"{n}: recreated and caught up")
                # In order, none lost, none twice, after a recreate.
                assert stored(m) == expected_wire(n, FIRST + MORE)
                assert m.session_id != first_ids[n] and len(m.outbox) == 0
                status = await d.client.sessions.stream_status(m.session_id)
                # The re-seed (the window) plus what waited in the outbox, once each.
                assert status.statistics.total_enqueued == WINDOW + MORE
                await until(lambda m=m: m.data_count == WINDOW, 120, f"{n}: window refilled")
                window = expected_wire(n, FIRST + MORE)[-WINDOW:]
                try:
                    await until(lambda m=m, n=n, w=window: stats_match(
                        m, independent_stats(n, w)), 120, f"{n}: stats after the restart")
                except AssertionError:
                    raise AssertionError(f"{n}: {m.stats!r} {m.stats_error} vs "
                                         f"{independent_stats(n, window)} "
                                         f"v{m.data_version} n={m.data_count}") from None
        finally:
            await d.stop()

    try:
        asyncio.run(scenario())
    finally:
        for s in servers:
            s.stop()


def test_a_refused_entry_is_reported_in_the_servers_words(local_server: RunningServer) -> None:
    async def scenario() -> None:
        d = Dashboard(local_server.url, poll_interval=0.5)
        d.start()
        try:
            await until(lambda: d.server.ok, 20, "server ok")
            model = await d.create_session(spec("iot"), open_view=True)
            await until(lambda: model.link.status == "open", 20, "link open")
            # An entry without its value: what a buggy producer would hand the outbox.
            model.outbox.put_nowait(IotEntry.model_construct(timestamp=START, sid="boiler-1",
                                                             lo=60.0, hi=80.0))
            await until(lambda: model.rejected == 1, 20, "refusal settled")
            assert "field 'val' is required for iot entries" in model.refusal
            assert any(model.refusal in n.text and n.level == "error" for n in model.notes)
            assert len(model.store) == 0 and model.acked == 0
            await d.delete_session(model.session_id)
        finally:
            await d.stop()

    asyncio.run(scenario())
