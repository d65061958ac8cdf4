"""Session events over SSE and WebSocket: connected, data_updated, flash_ready, push, ping."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.localserver.conftest import WAIT, Api, candles
from tests.support.server import RunningServer

QUESTION = "\nQuestion: Is the last close above the first open?\nAnswer:"


def _ws_url(server: RunningServer, sid: str) -> str:
    return server.url.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"


def _recv_until(ws: ClientConnection, kind: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        seen.append(frame)
        if frame["type"] == kind:
            return frame  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} frame; saw {[f['type'] for f in seen]}")


def test_sse_streams_connected_data_updated_and_flash_ready(
        api: Api, local_server: RunningServer) -> None:
    sid = api.init(prompt="Prices:\n", flash=[{"query": QUESTION, "max_tokens": 3}])["session_id"]
    events: list[dict[str, Any]] = []
    names: list[str] = []
    opened = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=local_server.url, timeout=WAIT) as client, \
                client.stream("GET", f"/v1/sessions/{sid}/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            opened.set()
            for line in r.iter_lines():
                if line.startswith("event: "):
                    names.append(line[7:])
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if events[-1]["type"] == "flash_ready":
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert opened.wait(WAIT)
    api.push(sid, candles(2))
    thread.join(WAIT)
    assert not thread.is_alive(), f"SSE events so far: {events}"
    kinds = [e["type"] for e in events]
    assert kinds[0] == "connected" and "data_updated" in kinds and kinds[-1] == "flash_ready"
    assert names == kinds
    connected = events[0]
    assert connected["data_version"] == 0 and connected["flash_queries"] == 1
    updated = next(e for e in events if e["type"] == "data_updated")
    assert updated["data_version"] == 1 and updated["data_count"] == 2
    assert updated["pos_next"] == api.state(sid)["pos_next"]
    ready = events[-1]
    assert set(ready) == {"type", "id", "query", "value", "data_version", "confidence",
                          "evaluated_at"}
    assert ready["query"] == QUESTION and ready["data_version"] == 1 and ready["value"]


def test_websocket_push_ping_events(api: Api, local_server: RunningServer) -> None:
    sid = api.init(prompt="Prices:\n", flash=[{"query": QUESTION, "max_tokens": 3}])["session_id"]
    seen: list[dict[str, Any]] = []
    with connect(_ws_url(local_server, sid)) as ws:
        connected = json.loads(ws.recv(timeout=WAIT))
        assert connected["type"] == "connected"
        assert set(connected["data"]) == {"session_id", "data_version", "streaming",
                                          "flash_queries"}
        assert connected["data"]["session_id"] == sid and connected["data"]["data_version"] == 0
        ws.send(json.dumps({"type": "ping"}))
        assert _recv_until(ws, "pong", seen)["type"] == "pong"
        ws.send(json.dumps({"type": "push", "data": candles(2)}))
        ack = _recv_until(ws, "push_ack", seen)["data"]
        assert ack["pushed"] == 2 and ack["dropped"] == 0 and "queue_size" in ack
        updated = _recv_until(ws, "data_updated", seen)["data"]
        assert updated["data_version"] == 1 and updated["data_count"] == 2
        ready = _recv_until(ws, "flash_ready", seen)["data"]
        assert ready["query"] == QUESTION and ready["data_version"] == 1
        bad = candles(1)
        del bad[0]["c"]
        ws.send(json.dumps({"type": "push", "data": bad}))
        err = _recv_until(ws, "error", seen)["data"]
        # code is an integer status (the official client's type), error_code the reason.
        assert "data[0].c" in err["message"] and err["code"] == 422
        assert err["error_code"] == "missing_field"
        ws.send("not json")
        err = _recv_until(ws, "error", seen)["data"]
        assert err["code"] == 400 and err["error_code"] == "invalid_json"
        ws.send(json.dumps({"type": "dance"}))
        err = _recv_until(ws, "error", seen)["data"]
        assert err["code"] == 400 and err["error_code"] == "unknown_type"
    assert api.state(sid)["data_count"] == 2  # the bad push added nothing


def test_websocket_closes_4404_on_delete_and_unknown(api: Api, http: httpx.Client,
                                                      local_server: RunningServer) -> None:
    sid = api.init()["session_id"]
    with connect(_ws_url(local_server, sid)) as ws:
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"
        assert http.delete(f"/v1/sessions/{sid}").status_code == 200
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
    with connect(_ws_url(local_server, "sess_missing")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


def test_sse_ends_when_session_is_deleted(api: Api, http: httpx.Client,
                                          local_server: RunningServer) -> None:
    sid = api.init()["session_id"]
    lines: list[str] = []
    with httpx.Client(base_url=local_server.url, timeout=WAIT) as client, \
            client.stream("GET", f"/v1/sessions/{sid}/events") as r:
        it = r.iter_lines()
        lines.append(next(it))
        assert http.delete(f"/v1/sessions/{sid}").status_code == 200
        lines.extend(it)  # ends because the server closes the stream
    assert lines[0] == "event: connected"


def test_websocket_answers_every_frame_of_a_fast_client(api: Api,
                                                       local_server: RunningServer) -> None:
    """A client that sends faster than the server answers gets backpressure, not a dropped
    socket or lost replies (replies once shared a bounded queue that could overflow)."""
    sid = api.init(prompt="Prices:\n")["session_id"]
    frames = 20_000
    pongs = 0
    with connect(_ws_url(local_server, sid)) as ws:
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"

        def send_all() -> None:
            for _ in range(frames):
                ws.send('{"type": "ping"}')

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        deadline = time.monotonic() + WAIT
        while pongs < frames and time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            pongs += frame["type"] == "pong"
        sender.join(timeout=WAIT)
    assert pongs == frames
