"""Licence-key auth (keyed server), the readiness line, and the exposure warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import TEST_KEY
from tests.localserver.conftest import WAIT, assert_error, wait_for
from tests.support.server import ROOT, RunningServer, free_port, start_server


def test_keyed_server_requires_the_key_everywhere_but_health(keyed_server: RunningServer
                                                             ) -> None:
    url = keyed_server.url
    assert httpx.get(f"{url}/v1/health").status_code == 200
    err = assert_error(httpx.get(f"{url}/v1/models"), 401)
    assert err["type"] == "authentication_error"
    assert_error(httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer LS-wrong"}),
                 401)
    assert_error(httpx.post(f"{url}/v1/sessions/init", json={"type": "ohlcv"}), 401)
    assert_error(httpx.get(f"{url}/v1/nope"), 401)  # no route discovery without a key
    ok = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {TEST_KEY}"})
    assert ok.status_code == 200
    assert httpx.get(f"{url}/v1/models", headers={"x-api-key": TEST_KEY}).status_code == 200


def test_keyed_websocket_refuses_with_4401(keyed_server: RunningServer) -> None:
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    sid = httpx.post(f"{keyed_server.url}/v1/sessions/init", json={"type": "iot"},
                     headers=headers).json()["session_id"]
    ws_url = keyed_server.url.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"
    try:
        with connect(ws_url) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        with connect(ws_url, additional_headers=headers) as ws:
            assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"
    finally:
        httpx.delete(f"{keyed_server.url}/v1/sessions/{sid}", headers=headers)


def test_key_never_appears_in_the_log(keyed_server: RunningServer) -> None:
    httpx.get(f"{keyed_server.url}/v1/models", headers={"x-api-key": "LS-wrong-key"})
    log = keyed_server.log()
    assert "listening on http://127.0.0.1:" in log
    assert TEST_KEY not in log and "LS-wrong-key" not in log
    assert "LS-" not in " ".join(keyed_server.args)


def test_readiness_line_and_open_server_has_no_auth(local_server: RunningServer) -> None:
    assert f"listening on http://127.0.0.1:{local_server.port}, model SmolLM2" in \
        local_server.log()
    assert httpx.get(f"{local_server.url}/v1/models").status_code == 200


def test_binding_all_interfaces_without_key_logs_a_warning(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "exposed.log"
    env = {k: v for k, v in os.environ.items() if k != "LAYERSCALE_LICENSE_KEY"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.localserver", "--host", "0.0.0.0", "--port", str(port),
             "--ctx-size", "256", "--pool-size", "1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "listening on http://0.0.0.0" in log_path.read_text(), what="ready")
        assert "WARNING" in log_path.read_text()
        assert "without LAYERSCALE_LICENSE_KEY" in log_path.read_text()
    finally:
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0


def test_pool_limit_is_429_and_frees_on_delete_with_json_logs(tmp_path: Path) -> None:
    server = start_server(tmp_path, extra_args=["--ctx-size", "256", "--pool-size", "2",
                                                "--log-format", "json"])
    try:
        with httpx.Client(base_url=server.url, timeout=WAIT) as http:
            ids = [http.post("/v1/sessions/init", json={"type": "ohlcv"}).json()["session_id"]
                   for _ in range(2)]
            refused = http.post("/v1/sessions/init", json={"type": "ohlcv"})
            err = assert_error(refused, 429)
            assert err["code"] == "session_limit"
            # Clients honour Retry-After on 429 (before: none was sent).
            assert float(refused.headers["retry-after"]) > 0
            assert http.get("/v1/sessions").json()["count"] == 2
            assert http.delete(f"/v1/sessions/{ids[0]}").status_code == 200
            again = http.post("/v1/sessions/init", json={"type": "ohlcv"})
            assert again.status_code == 200
    finally:
        server.stop()
    assert server.process.returncode == 0
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert any(r["msg"].startswith("listening on http://127.0.0.1:") for r in records)
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)


def test_missing_model_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "app.localserver", "--model",
                          str(tmp_path / "nope.gguf"), "--port", str(free_port())],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "model file not found" in run.stdout + run.stderr


def test_unloadable_model_exits_1_after_logging_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    run = subprocess.run([sys.executable, "-m", "app.localserver", "--model", str(bad),
                          "--port", str(free_port())],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "listening on http://127.0.0.1:" in out and "model failed to load" in out


def test_sigterm_closes_sockets_1001_and_exits_0(tmp_path: Path) -> None:
    server = start_server(tmp_path, extra_args=["--ctx-size", "256", "--pool-size", "1"])
    try:
        sid = httpx.post(f"{server.url}/v1/sessions/init", json={"type": "vitals"}
                         ).json()["session_id"]
        ws_url = server.url.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"
        with connect(ws_url) as ws:
            assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"
            server.stop()
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    finally:
        server.stop()
    assert server.process.returncode == 0
