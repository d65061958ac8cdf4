"""One `request started: METHOD PATH` line per request that may run the model and per
WebSocket (the launcher reads the last one after a crash), never a query string, never a
licence key."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import TEST_KEY
from tests.localserver.conftest import WAIT, Api, wait_for
from tests.support.server import RunningServer


def _lines(server: RunningServer) -> list[str]:
    return server.log().splitlines()


def test_every_request_and_socket_logs_its_start(local_server: RunningServer, api: Api
                                                 ) -> None:
    sid = api.init()["session_id"]
    api.generate(sid, prompt="Hello", max_tokens=1)
    url = local_server.url.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"
    with connect(url, open_timeout=WAIT) as ws:
        ws.recv(timeout=WAIT)
    httpx.get(f"{local_server.url}/v1/sessions/{sid}/state")
    wanted = [f"request started: POST /v1/sessions/{sid}/generate",
              f"request started: WS /v1/sessions/{sid}/ws",
              "request started: POST /v1/sessions/init"]
    for line in wanted:
        wait_for(lambda line=line: any(x.endswith(line) for x in _lines(local_server)),
                 what=line)
    # Reads never run the model and are polled all the time: not at the default level.
    assert f"request started: GET /v1/sessions/{sid}/state" not in local_server.log()


def test_paths_are_logged_raw_on_one_line(local_server: RunningServer) -> None:
    httpx.post(f"{local_server.url}/v1/sessions/a%0Aforged%20line/append?x=1", json={})
    wait_for(lambda: any(
        x.endswith("request started: POST /v1/sessions/a%0Aforged%20line/append")
        for x in _lines(local_server)), what="raw path line")
    assert not any(x.startswith("forged") for x in _lines(local_server))
    assert "x=1" not in local_server.log()


def test_key_in_a_websocket_query_string_is_never_logged(keyed_server: RunningServer) -> None:
    """Before: uvicorn's handshake line logged the raw query string, "[accepted]" even for
    a socket auth then refused."""
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    sid = httpx.post(f"{keyed_server.url}/v1/sessions/init", json={"type": "iot"},
                     headers=headers).json()["session_id"]
    base = keyed_server.url.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"
    try:
        for query in (f"?api_key={TEST_KEY}", "?key=LS-query-secret-4711"):
            with connect(base + query, open_timeout=WAIT) as ws, \
                    pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=WAIT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        httpx.post(f"{keyed_server.url}/v1/sessions/{sid}/append?api_key=LS-query-secret-0815",
                   json={"text": "x"}, headers=headers)
        wait_for(lambda: f"request started: POST /v1/sessions/{sid}/append" in keyed_server.log(),
                 what="append line")
        wait_for(lambda: keyed_server.log().count(f"request started: WS /v1/sessions/{sid}/ws")
                 >= 2, what="both socket lines")
    finally:
        httpx.delete(f"{keyed_server.url}/v1/sessions/{sid}", headers=headers)
    log = keyed_server.log()
    assert TEST_KEY not in log
    assert "LS-query-secret" not in log and "api_key" not in log
    assert '"WebSocket ' not in log and "[accepted]" not in log
