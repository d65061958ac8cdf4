"""Hostile WebSocket frames: an error frame (integer code) and the socket stays usable, or
a close with a code and a reason, never a bare drop."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.localserver.conftest import WAIT, Api, candles
from tests.support.server import RunningServer


def _ws(server: RunningServer, sid: str, **kw: Any) -> ClientConnection:
    url = server.url.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"
    return connect(url, open_timeout=WAIT, max_size=None, **kw)


def _next(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.recv(timeout=WAIT))
        if frame["type"] == kind:
            return frame["data"]  # type: ignore[no-any-return]


def _still_usable(ws: ClientConnection) -> None:
    ws.send(json.dumps({"type": "ping"}))
    json.loads(ws.recv(timeout=WAIT))  # pong (or an event), not a closed socket
    ws.send(json.dumps({"type": "push", "data": candles(1)}))
    assert _next(ws, "push_ack")["pushed"] == 1


@pytest.mark.parametrize("frame,status,code", [
    (b'{"type": "ping"}', 400, "binary_frame"),  # before: closed with no code, no frame
    ('{"type": "push", "data": [{"o": ' + "9" * 400 + ', "h": 1, "l": 1, "c": 1, "v": 1}]}',
     422, "value_out_of_range"),  # before: OverflowError, closed with no code
    ('{"type": "push", "data": ' + "[" * 100_000 + "]" * 100_000 + "}",
     400, "invalid_json"),  # before: RecursionError, closed with no code
    ('{"type": "push", "data": [{"o": 1, "h": 1, "l": 1, "c": 1, "v": 1, "timestamp": 1e15}]}',
     422, "value_out_of_range"),
    ('{"type": "push", "data": [{"o": 1, "h": 1, "l": 1, "c": 1, "v": 1, "sym": "\\ud800"}]}',
     400, "invalid_json"),
    ('{"type": ' + '"x"' * 1 + ', "data": "' + "y" * 100 + '"}', 400, "unknown_type"),
    ("[1, 2]", 400, "invalid_frame"),
], ids=["binary", "int-400-digits", "nested-100000", "timestamp-1e15", "lone-surrogate",
        "unknown-type", "not-an-object"])
def test_bad_frame_gets_an_error_frame_and_the_socket_goes_on(
        local_server: RunningServer, api: Api, frame: str | bytes, status: int, code: str
) -> None:
    sid = api.init()["session_id"]
    with _ws(local_server, sid) as ws:
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"
        ws.send(frame)
        err = _next(ws, "error")
        assert err["code"] == status and err["error_code"] == code, err
        assert isinstance(err["message"], str) and err["message"]
        _still_usable(ws)
    assert api.wait_ingested(sid, 1)["data"]["data_count"] == 1


def test_oversized_frame_closes_with_a_code(local_server: RunningServer, api: Api) -> None:
    sid = api.init()["session_id"]
    with _ws(local_server, sid) as ws:
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"
        ws.send('{"type": "push", "data": "' + "x" * (5 * 1024 * 1024) + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert api.state(sid)["session_id"] == sid  # the session is untouched


def test_push_to_a_session_deleted_while_the_socket_is_open(local_server: RunningServer,
                                                            api: Api) -> None:
    sid = api.init()["session_id"]
    with _ws(local_server, sid) as ws:
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"
        assert api.http.delete(f"/v1/sessions/{sid}").status_code == 200
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.send(json.dumps({"type": "push", "data": candles(1)}))
                frame = json.loads(ws.recv(timeout=WAIT))
                # A push that raced the close is refused, never acknowledged.
                assert frame["type"] != "push_ack" or frame["data"]["pushed"] == 0 or \
                    frame["type"] == "error"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
