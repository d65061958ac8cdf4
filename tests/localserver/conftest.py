"""Helpers for the bundled server's tests: an HTTP client on the shared real server,
sessions that are deleted after each test, and condition waits with deadlines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer

WAIT = 90.0  # generous: two cores are shared with other test runs


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "condition"
             ) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # polling interval while waiting on a deadline
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def candles(n: int, start: float = 100.0, t0: int = 1_733_000_000) -> list[dict[str, Any]]:
    return [{"o": start + i, "h": start + i + 1.5, "l": start + i - 1, "c": start + i + 0.5,
             "v": 1000 + 10 * i, "timestamp": t0 + 60 * i, "sym": "AAPL"} for i in range(n)]


class Api:
    """Thin test helper over httpx for the session endpoints."""

    def __init__(self, client: httpx.Client) -> None:
        self.http = client
        self.created: list[str] = []

    def init(self, **body: Any) -> dict[str, Any]:
        body.setdefault("type", "ohlcv")
        r = self.http.post("/v1/sessions/init", json=body)
        assert r.status_code == 200, r.text
        self.created.append(r.json()["session_id"])
        return r.json()  # type: ignore[no-any-return]

    def push(self, sid: str, data: list[dict[str, Any]]) -> dict[str, Any]:
        r = self.http.post(f"/v1/sessions/{sid}/stream/push", json={"data": data})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def status(self, sid: str) -> dict[str, Any]:
        return self.http.get(f"/v1/sessions/{sid}/stream/status").json()  # type: ignore[no-any-return]

    def wait_ingested(self, sid: str, total_enqueued: int) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            st = self.status(sid)
            ok = (st["streaming"]["queue_size"] == 0
                  and st["statistics"]["items_processed"] >= total_enqueued)
            return st if ok else None
        return wait_for(done, what="ingest")  # type: ignore[no-any-return]

    def push_wait(self, sid: str, data: list[dict[str, Any]]) -> dict[str, Any]:
        return self.wait_ingested(sid, self.push(sid, data)["total_enqueued"])

    def state(self, sid: str) -> dict[str, Any]:
        r = self.http.get(f"/v1/sessions/{sid}/state")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def flash_list(self, sid: str) -> dict[str, Any]:
        return self.http.get(f"/v1/sessions/{sid}/flash").json()  # type: ignore[no-any-return]

    def wait_flash(self, sid: str, data_version: int) -> list[dict[str, Any]]:
        def done() -> list[dict[str, Any]] | None:
            items = self.flash_list(sid)["flash_queries"]
            ok = items and all(f["has_answer"] and f["data_version"] >= data_version
                               for f in items)
            return items if ok else None
        return wait_for(done, what="flash answers")  # type: ignore[no-any-return]

    def generate(self, sid: str, **body: Any) -> dict[str, Any]:
        r = self.http.post(f"/v1/sessions/{sid}/generate", json=body)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def cleanup(self) -> None:
        for sid in self.created:
            self.http.delete(f"/v1/sessions/{sid}")


@pytest.fixture
def http(local_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_server.url, timeout=120.0) as client:
        yield client


@pytest.fixture
def api(http: httpx.Client) -> Iterator[Api]:
    helper = Api(http)
    yield helper
    helper.cleanup()


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "code", "param"}
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and err["type"]
    if param is not None:
        assert err["param"] == param, err
    return err  # type: ignore[no-any-return]
