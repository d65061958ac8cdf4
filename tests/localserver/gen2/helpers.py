"""Raw HTTP, SSE and WebSocket helpers for the generation-2 tests (no client library)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.localserver.conftest import WAIT, wait_for
from tests.support.server import RunningServer

__all__ = ["WAIT", "new_session", "push_wait", "sse_frames", "wait_for", "ws", "ws_next"]


def new_session(http: httpx.Client, **body: Any) -> str:
    body.setdefault("id", f"t-{uuid.uuid4().hex[:12]}")
    r = http.post("/v1/sessions", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def push_wait(http: httpx.Client, sid: str, data: str | list[str]) -> dict[str, Any]:
    """Push, then wait as the official client's `wait=True` does; the session afterwards."""
    ack = http.post(f"/v1/sessions/{sid}/push", json={"data": data}).json()

    def settled() -> dict[str, Any] | None:
        s = http.get(f"/v1/sessions/{sid}").json()
        ok = (s["pending"] == 0 and s["data_version"] > ack["data_version"]
              and s["kv_tokens"] + 1 >= s["data_end"])
        return s if ok else None
    return wait_for(settled, what="ingest")  # type: ignore[no-any-return]


def sse_frames(response: httpx.Response) -> Iterator[tuple[str | None, str, list[str]]]:
    """(event name, data, comment lines before it) per SSE frame, read line by line."""
    event: str | None = None
    data: list[str] = []
    comments: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event, "\n".join(data), comments
                comments = []
            event, data = None, []
        elif line.startswith(":"):
            comments.append(line)
            if not data:
                yield None, "", comments
                comments = []
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


def ws(server: RunningServer, sid: str, **kw: Any) -> ClientConnection:
    url = server.url.replace("http://", "ws://") + f"/v1/sessions/{sid}/ws"
    return connect(url, open_timeout=WAIT, max_size=None, **kw)


def ws_next(sock: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(sock.recv(timeout=WAIT))
        if frame["type"] == kind:
            return frame  # type: ignore[no-any-return]


def json_of(raw: str) -> Any:
    return json.loads(raw)
