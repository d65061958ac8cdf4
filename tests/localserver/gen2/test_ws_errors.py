"""Generation 2's WebSocket answers a bad frame with an error frame and stays open, and
closes bare when its session is deleted: pinned over loopback with raw websockets (these
paths share their code with generation 1's socket)."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.server import RunningServer

from .helpers import WAIT, new_session, ws, ws_next


@pytest.mark.parametrize(("frame", "message"), [
    (b'{"type": "ping"}', "binary frames are not supported: send JSON text frames"),
    ('{"type": ', "frame: is not valid JSON"),
    ('{"type": "nope"}', "unknown frame type 'nope'"),
    ('{"type": 7}', "unknown frame type 'int'"),
    ('{"type": "push", "data": []}', "push data must be a string or a non-empty array"),
], ids=["binary", "bad-json", "unknown-type", "non-string-type", "empty-push"])
def test_bad_frame_is_an_error_frame_and_the_socket_stays(
        gen2_server: RunningServer, http2: httpx.Client, frame: str | bytes,
        message: str) -> None:
    sid = new_session(http2)
    with ws(gen2_server, sid) as sock:
        ws_next(sock, "connected")
        sock.send(frame)
        error = ws_next(sock, "error")["data"]
        assert error["code"] == 400
        assert error["message"].startswith(message), error
        sock.send(json.dumps({"type": "ping"}))
        assert ws_next(sock, "pong")["data"] is None
    http2.delete(f"/v1/sessions/{sid}")


def test_delete_closes_the_socket_bare(gen2_server: RunningServer,
                                       http2: httpx.Client) -> None:
    sid = new_session(http2)
    with ws(gen2_server, sid) as sock:
        ws_next(sock, "connected")
        assert http2.delete(f"/v1/sessions/{sid}").status_code == 200
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                sock.recv(timeout=WAIT)
    # Gen 1 closes with 4404 and a reason; gen 2 with a plain normal closure.
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1000, "")
