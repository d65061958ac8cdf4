"""GET /metrics: the Prometheus exposition of the real bundled server.

Counters are shared with every other test on the shared server, so each test compares
a scrape before with a scrape after its own requests.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from app.localserver.config import ServerConfig
from app.localserver.state import ServerState
from tests.conftest import TEST_KEY
from tests.localserver.conftest import Api, candles, wait_for
from tests.support.server import RunningServer

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def scrape(http: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = http.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_exposition_passes_promtool_check_metrics(api: Api, http: httpx.Client) -> None:
    session = api.init(prompt="Candles.", flash=[{"query": "Up?", "max_tokens": 2}])
    sid = session["session_id"]
    api.push_wait(sid, candles(3))
    api.wait_flash(sid, 1)
    api.generate(sid, prompt="Why?", max_tokens=2)
    text = http.get("/metrics").text
    assert 'layerscale_server_info{generation="1"' in text
    # Every family the issue asks for is there, with samples after real work.
    for name in ("layerscale_sessions", "layerscale_session_tokens", "layerscale_tokens",
                 "layerscale_queue_entries", "layerscale_entries_dropped_total",
                 "layerscale_ingest_tokens_total", "layerscale_ingest_tokens_per_second",
                 "layerscale_ingest_batch_seconds_bucket",
                 "layerscale_flash_evaluation_seconds_bucket",
                 "layerscale_query_seconds_bucket", "layerscale_requests_total"):
        assert f"\n{name}" in text, name
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
    assert check.returncode == 0, (check.stdout + check.stderr).decode()


def test_gen2_exposition_passes_promtool_check_metrics(gen2_server: RunningServer) -> None:
    with httpx.Client(base_url=gen2_server.url, timeout=60) as http:
        assert http.get("/health").status_code == 200
        r = http.get("/metrics")
    assert r.status_code == 200
    assert 'layerscale_server_info{generation="2"' in r.text
    assert 'layerscale_requests_total{method="GET",route="/health",status="200"}' in r.text
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=r.content,
                           capture_output=True, timeout=60)
    assert check.returncode == 0, (check.stdout + check.stderr).decode()


def test_pushes_flash_and_queries_are_counted(api: Api, http: httpx.Client) -> None:
    before = scrape(http)
    session = api.init(prompt="Candles.", flash=[{"query": "Up?", "max_tokens": 2}])
    sid = session["session_id"]
    api.push_wait(sid, candles(5))
    api.wait_flash(sid, 1)
    api.generate(sid, prompt="Why?", max_tokens=2)
    assert http.get("/v1/sessions/sess_nope/stream/status").status_code == 404
    after = scrape(http)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("layerscale_entries_pushed_total") == 5
    assert delta("layerscale_entries_processed_total") == 5
    assert delta("layerscale_ingest_tokens_total") > 5 * 10  # a candle is dozens of tokens
    assert delta("layerscale_ingest_batch_seconds_count") >= 1
    assert delta("layerscale_flash_evaluation_seconds_count") >= 1
    assert delta("layerscale_query_seconds_count") == 1
    push = "/v1/sessions/{session_id}/stream/push"
    assert delta("layerscale_requests_total", method="POST", route=push, status="200") == 1
    assert delta("layerscale_requests_total", method="GET",
                 route="/v1/sessions/{session_id}/stream/status", status="404") == 1
    state = api.state(sid)
    assert value(after, "layerscale_session_tokens", session=sid, type="ohlcv") == \
        state["n_tokens"]
    assert value(after, "layerscale_session_context_tokens", session=sid) == state["context"]
    assert value(after, "layerscale_sessions") >= 1


def test_totals_never_go_down_when_a_session_is_deleted(api: Api, http: httpx.Client
                                                        ) -> None:
    sid = api.init(prompt="Candles.")["session_id"]
    api.push_wait(sid, candles(4))
    before = scrape(http)
    assert http.delete(f"/v1/sessions/{sid}").status_code == 200
    after = scrape(http)
    for name in ("layerscale_entries_pushed_total", "layerscale_entries_processed_total"):
        assert value(after, name) >= value(before, name), name
    assert (value(after, "layerscale_session_tokens", session=sid, type="ohlcv") == 0
            and ("layerscale_session_tokens", frozenset({("session", sid), ("type", "ohlcv")}))
            not in after)


def test_queue_depth_is_read_at_scrape_time(api: Api, http: httpx.Client) -> None:
    """A burst bigger than one batch waits in the ring; the gauge shows it, then drains."""
    sid = api.init(prompt="Candles.", window_size=8)["session_id"]
    api.push(sid, candles(600))
    seen = wait_for(lambda: value(scrape(http), "layerscale_session_queue_entries",
                                  session=sid) or None, what="a queue on /metrics")
    assert 0 < seen <= 600
    api.wait_ingested(sid, 600)
    assert value(scrape(http), "layerscale_session_queue_entries", session=sid) == 0


def test_keyed_server_wants_the_key_on_metrics(keyed_server: RunningServer) -> None:
    url = keyed_server.url
    assert httpx.get(f"{url}/metrics").status_code == 401
    r = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TEST_KEY}"})
    assert r.status_code == 200 and "layerscale_sessions_max" in r.text
    # The refusal itself is counted (the metrics middleware sits outside auth).
    assert 'route="/metrics",status="401"' in r.text


def test_each_server_state_has_its_own_registry(tmp_path: Path) -> None:
    """Two servers in one process: separate figures, nothing in the global registry."""
    states = [ServerState(ServerConfig(model=tmp_path / "none.gguf", pool_size=n))
              for n in (2, 5)]
    try:
        a, b = (s.metrics for s in states)
        assert a.registry is not b.registry
        a.requests.labels("GET", "/metrics", "200").inc()
        text_a, text_b = a.exposition().decode(), b.exposition().decode()
        assert "layerscale_sessions_max 2.0" in text_a
        assert "layerscale_sessions_max 5.0" in text_b
        assert 'layerscale_requests_total{method="GET"' in text_a
        assert "layerscale_requests_total{" not in text_b
        assert not any(n.startswith("layerscale") for n in REGISTRY._names_to_collectors)
    finally:
        for s in states:
            s.worker.shutdown()


@pytest.mark.parametrize("path", ["prometheus.yml", "rules.yml"])
def test_monitoring_folder_passes_promtool(path: str) -> None:
    folder = Path(__file__).resolve().parents[2] / "resources" / "monitoring"
    what = "config" if path == "prometheus.yml" else "rules"
    check = subprocess.run([PROMTOOL, "check", what, str(folder / path)],
                           capture_output=True, timeout=60)
    assert check.returncode == 0, (check.stdout + check.stderr).decode()
    assert b"SUCCESS" in check.stdout
