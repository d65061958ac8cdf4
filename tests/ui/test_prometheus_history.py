"""History from a real Prometheus scraping two real bundled servers.

The test starts Debian's prometheus on a loopback port (temporary storage, 1 s scrapes,
the project's recording rules), pushes known numbers of entries into each server, checks
that PromQL returns exactly those counts per server, and that the dashboard's history
graph draws the points Prometheus holds; the fleet rows get their long-range history too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.fleet import Fleet, FleetServer
from app.core.prometheus_history import PrometheusHistory, instance_of
from app.ui.history_graph import HistoryGraph
from tests.localserver.conftest import candles
from tests.support.prometheus import RunningPrometheus, start_prometheus
from tests.support.server import RunningServer, start_server

SMALL = ["--ctx-size", "1024", "--pool-size", "2", "--threads", "1"]
WAIT_MS = 90_000
PUSHED = (4, 7)  # entries pushed into each server


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[RunningServer]]:
    with ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda _i: start_server(tmp_path, extra_args=SMALL), range(2)))
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def prometheus(tmp_path: Path, two_servers: list[RunningServer]
               ) -> Iterator[RunningPrometheus]:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    running = start_prometheus(folder, [instance_of(s.url) for s in two_servers])
    yield running
    running.stop()


def instant(prom: RunningPrometheus, promql: str) -> dict[str, float]:
    """instance -> value of an instant query, asked with plain httpx (independent of the
    dashboard's client)."""
    body = httpx.get(f"{prom.url}/api/v1/query", params={"query": promql}).json()
    assert body["status"] == "success", body
    return {r["metric"]["instance"]: float(r["value"][1]) for r in body["data"]["result"]}


def test_promql_counts_and_the_history_graph_shows_them(
        qtbot: Any, arun: Any, two_servers: list[RunningServer],
        prometheus: RunningPrometheus) -> None:
    for server, n in zip(two_servers, PUSHED, strict=True):
        sid = httpx.post(f"{server.url}/v1/sessions/init",
                         json={"type": "ohlcv", "prompt": "Candles."}).json()["session_id"]
        r = httpx.post(f"{server.url}/v1/sessions/{sid}/stream/push",
                       json={"data": candles(n)})
        assert r.json()["pushed"] == n
    want = {instance_of(s.url): float(n) for s, n in zip(two_servers, PUSHED, strict=True)}
    qtbot.waitUntil(lambda: instant(prometheus, "layerscale_entries_pushed_total") == want,
                    timeout=WAIT_MS)
    # Ingest finishes on each server and Prometheus sees that too.
    qtbot.waitUntil(lambda: instant(prometheus, "layerscale_entries_processed_total") == want,
                    timeout=WAIT_MS)
    assert instant(prometheus, "layerscale_entries_dropped_total") == dict.fromkeys(want, 0.0)
    assert set(instant(prometheus, "layerscale_sessions").values()) == {1.0}
    # The project's recording rules are loaded and evaluate without error.
    def rules() -> list[dict[str, Any]]:
        return httpx.get(f"{prometheus.url}/api/v1/rules").json()["data"]["groups"]

    assert [g["name"] for g in rules()] == ["layerscale"]
    # Their group runs every 15 s: "unknown" until its first evaluation.
    qtbot.waitUntil(lambda: all(r["health"] == "ok" for r in rules()[0]["rules"]),
                    timeout=WAIT_MS)

    # The dashboard's client gets the same figures over a range.
    source = PrometheusHistory(prometheus.url)
    first = two_servers[0]
    series = arun(source.figure(first.url, "pushed", 300))
    assert series.times and series.values[-1] == PUSHED[0]
    assert all(b > a for a, b in zip(series.times, series.times[1:], strict=False))

    # The history graph draws exactly the points Prometheus holds (asked again here).
    graph = HistoryGraph()
    qtbot.addWidget(graph)
    graph.resize(700, 300)
    graph.show()
    graph.select_figure("pushed")
    graph.select_range(300.0)
    row = FleetServer(first.url, "first")
    graph.show_server(row, source)
    qtbot.waitUntil(lambda: graph.series is not None and bool(graph.series.times),
                    timeout=WAIT_MS)
    xs, ys = graph.curve.getData()
    assert list(ys) == graph.series.values and list(xs) == graph.series.times
    assert ys[-1] == PUSHED[0]
    assert graph.note.isHidden()
    # Prometheus keeps its points: a direct query_range over the graph's span agrees.
    end = xs[-1]
    direct = httpx.get(f"{prometheus.url}/api/v1/query_range", params={
        "query": f'layerscale_entries_pushed_total{{instance="{instance_of(first.url)}"}}',
        "start": xs[0], "end": end, "step": xs[1] - xs[0] if len(xs) > 1 else 1}).json()
    direct_values = [float(v) for _, v in direct["data"]["result"][0]["values"]]
    assert direct_values[-1] == ys[-1] and len(direct_values) == len(ys)

    # The fleet rows get their long-range history (ingest tokens/s) beside the live one.
    # Fresh decoding just before, so a 1-minute rate is positive within the range asked
    # (the first pushes may be minutes old on a slow machine by now).
    for server in two_servers:
        sid = httpx.post(f"{server.url}/v1/sessions/init",
                         json={"type": "ohlcv", "prompt": "Candles."}).json()["session_id"]
        httpx.post(f"{server.url}/v1/sessions/{sid}/stream/push", json={"data": candles(3)})
    fleet = Fleet(None, interval=0.5, timeout=2.0)
    for server in two_servers:
        fleet.add(server.url)
    fleet.set_prometheus(prometheus.url)
    fleet.start()
    try:
        qtbot.waitUntil(lambda: all(r.history is not None and r.history.values
                                    for r in fleet.servers), timeout=WAIT_MS)
        assert all(r.history_error is None for r in fleet.servers)
        # Decoding the pushed candles shows up as a positive rate (the rows ask again
        # every HISTORY_EVERY seconds as Prometheus's rules catch up).
        qtbot.waitUntil(lambda: all(r.history is not None and r.history.values
                                    and max(r.history.values) > 0 for r in fleet.servers),
                        timeout=WAIT_MS)
    finally:
        arun(fleet.stop(), timeout=30)
        arun(source.aclose())


def test_without_prometheus_the_graph_says_so_and_draws_live_figures(qtbot: Any) -> None:
    graph = HistoryGraph()
    qtbot.addWidget(graph)
    graph.show()
    row = FleetServer("http://127.0.0.1:9", "nowhere")
    now = time.time()
    for i, v in enumerate((1.0, 3.0, 2.0)):
        row.spark["tokens_rate"].append(v)
        row.spark_times.append(now - 3 + i)
    row.version += 1
    graph.show_server(row, None)
    graph.refresh()
    assert "No Prometheus URL" in graph.note.text()
    xs, ys = graph.live.getData()
    assert list(ys) == [1.0, 3.0, 2.0] and len(xs) == 3
