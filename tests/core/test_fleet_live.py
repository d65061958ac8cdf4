"""Fleet core against real servers: figures from /metrics, keys from the real keyring, a
server that never answers delaying nobody, settings and bad input."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.fleet import SETTINGS_KEY, Fleet, FleetError, figures_from_metrics
from app.secrets import KeyStore, resolve_key_async
from app.settings import Settings, SettingsError
from tests.conftest import TEST_KEY
from tests.core.live import until
from tests.localserver.conftest import candles
from tests.support.server import RunningServer


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A real TCP listener that never accepts: connections hang, like a wedged server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        # Fill the backlog so later connects hang instead of completing in the kernel.
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(sock.getsockname())
            fillers.append(s)
        yield sock.getsockname()[1]
        for s in fillers:
            s.close()


def test_a_silent_server_never_slows_the_others(local_server: RunningServer,
                                                silent_port: int) -> None:
    async def scenario() -> None:
        fleet = Fleet(None, interval=0.3, timeout=1.5)
        live = fleet.add(local_server.url, "live")
        silent = fleet.add(f"http://127.0.0.1:{silent_port}", "silent")
        fleet.start()
        try:
            await until(lambda: silent.status == "unreachable", 30, "silent unreachable")
            assert silent.detail.startswith("no answer within 1.5")
            start = live.polls
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await until(lambda: live.polls >= start + 6, 30, "live rows updating")
            # Six polls at 0.3 s: a couple of seconds, however long the silent one hangs
            # (each of its attempts waits 1.5 s, then backs off).
            assert loop.time() - t0 < 15
            assert live.status == "ok" and live.has_metrics
            assert silent.polls == 0 and silent.retry_at is not None
        finally:
            await fleet.stop()

    asyncio.run(scenario())


def test_figures_match_the_server(local_server: RunningServer) -> None:
    async def scenario() -> None:
        fleet = Fleet(None, interval=0.3, timeout=5.0)
        row = fleet.add(local_server.url)
        fleet.start()
        try:
            await until(lambda: row.polls >= 1, 60, "first poll")
            async with httpx.AsyncClient(base_url=local_server.url, timeout=60) as http:
                sid = (await http.post("/v1/sessions/init", json={
                    "type": "ohlcv", "prompt": "Candles."})).json()["session_id"]
                try:
                    await http.post(f"/v1/sessions/{sid}/stream/push",
                                    json={"data": candles(5)})
                    listed = (await http.get("/v1/sessions")).json()["count"]
                    await until(lambda: row.sessions == listed, 60, "sessions counted")
                    await until(lambda: bool(row.tokens_rate), 60, "tokens/s measured")
                    text = (await http.get("/metrics")).text
                finally:
                    await http.delete(f"/v1/sessions/{sid}")
            f = figures_from_metrics(text)
            # The row's quick line scan reads what a full exposition parser reads.
            full = {s.name: s.value for fam in text_string_to_metric_families(text)
                    for s in fam.samples if not s.labels}
            assert (f.sessions, f.sessions_max, f.queue, f.dropped, f.processed, f.tokens) == \
                tuple(int(full[n]) for n in (
                    "layerscale_sessions", "layerscale_sessions_max", "layerscale_queue_entries",
                    "layerscale_entries_dropped_total", "layerscale_entries_processed_total",
                    "layerscale_ingest_tokens_total"))
            assert f.sessions_max == 8 and f.model and row.model == f.model
            assert row.generation == "API gen 1"
            assert row.ingest_rate is not None and row.ingest_rate >= 0
        finally:
            await fleet.stop()

    asyncio.run(scenario())


def test_keys_come_from_the_keyring(keyed_server: RunningServer, tmp_path: Path) -> None:
    store = KeyStore()
    url = keyed_server.url

    async def scenario() -> None:
        fleet = Fleet(Settings(tmp_path / "settings.json"), key_lookup=resolve_key_async,
                      interval=0.3, timeout=5.0)
        row = fleet.add(url)
        fleet.start()
        try:
            # No key stored: /metrics refuses, the row says so.
            await until(lambda: row.status == "auth", 60, "key rejected")
            assert "401" in row.detail
            store.set(url, TEST_KEY)
            # Looked up again after the refusal: recovers by itself.
            await until(lambda: row.status == "ok" and row.has_metrics, 60, "key used")
        finally:
            await fleet.stop()

    try:
        asyncio.run(scenario())
    finally:
        store.delete(url)
    saved = (tmp_path / "settings.json").read_text()
    assert TEST_KEY not in saved and url in saved


def test_settings_and_bad_input(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "settings.json")
    fleet = Fleet(settings)
    fleet.add("localhost:8080/", "desk")
    with pytest.raises(FleetError, match="already in the fleet"):
        fleet.add("http://127.0.0.1:8080")
    with pytest.raises(FleetError, match="http:// or https://"):
        fleet.add("ftp://box")
    with pytest.raises(FleetError, match="not a Prometheus URL"):
        fleet.set_prometheus("prometheus")
    fleet.set_prometheus("http://127.0.0.1:9090/")
    again = Fleet(Settings(settings.path))
    assert [(s.url, s.label) for s in again.servers] == [("http://127.0.0.1:8080", "desk")]
    assert again.prometheus_url == "http://127.0.0.1:9090"
    assert settings.get(SETTINGS_KEY)["servers"] == [{"url": "http://127.0.0.1:8080",
                                                      "label": "desk"}]
    with pytest.raises(SettingsError):  # a key typed into the label never reaches the file
        fleet.add("http://10.0.0.2:8080", "LS-secret-key-0001")


def test_a_generation_2_server_has_its_row_too(gen2_server: RunningServer) -> None:
    async def scenario() -> None:
        fleet = Fleet(None, interval=0.3, timeout=5.0)
        row = fleet.add(gen2_server.url, "gen2")
        fleet.start()
        try:
            await until(lambda: row.polls >= 2 and row.generation is not None, 60,
                        "gen-2 row read")
            assert row.status == "ok" and row.has_metrics
            assert row.generation == "API gen 2"
            assert row.sessions is not None and row.sessions_max is not None
            assert row.model and "SmolLM2" in row.model
        finally:
            await fleet.stop()

    asyncio.run(scenario())


def test_a_server_without_metrics_is_read_through_its_api(local_server: RunningServer
                                                          ) -> None:
    """The row as a server without /metrics gets it (a real gen-1 LayerScale server): the
    real bundled server, read through its session list and stream status instead."""
    async def scenario() -> None:
        fleet = Fleet(None, interval=0.3, timeout=5.0)
        row = fleet.add(local_server.url)
        row.has_metrics = False  # as a poll finding no /metrics leaves it
        fleet.start()
        try:
            async with httpx.AsyncClient(base_url=local_server.url, timeout=60) as http:
                sid = (await http.post("/v1/sessions/init", json={
                    "type": "ohlcv", "prompt": "Candles."})).json()["session_id"]
                try:
                    await http.post(f"/v1/sessions/{sid}/stream/push",
                                    json={"data": candles(3)})
                    listed = (await http.get("/v1/sessions")).json()["count"]
                    await until(lambda: row.sessions == listed and row.queue is not None
                                and row.ingest_rate is not None, 60, "API figures")
                finally:
                    await http.delete(f"/v1/sessions/{sid}")
            assert row.status == "ok" and row.has_metrics is False
            assert row.drops is not None and row.tokens_rate is None  # no token counter
            assert row.sessions_max is None  # the API does not say: shown as "—"
        finally:
            await fleet.stop()

    asyncio.run(scenario())
