"""Delete ordered against everything in flight: a sequence id is never reused while
anything may still decode into it, and no session is ever touched by another's work.

These run on a server of their own with a small pool, so that a new session is sure to
get the sequence id the deleted one had.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.localserver.conftest import WAIT, Api, assert_error, wait_for
from tests.support.server import RunningServer, start_server

PROMPT = "Prices, one candle per line:\n"
QUESTION = {"prompt": "\nThe last close was", "max_tokens": 6}
# CI keeps this bounded; LS_RACE_ROUNDS=1000 runs a long one locally.
ROUNDS = int(os.environ.get("LS_RACE_ROUNDS", "16"))
CHECK_EVERY = 40  # rounds between comparisons: the survivors' data must fit 2048 tokens


def small(n: int, start: int = 100) -> list[dict[str, Any]]:
    """Candles of a few tokens each: the model ingests ~90 tokens/s on one thread."""
    return [{"o": start + i, "h": start + i + 2, "l": start + i - 1, "c": start + i + 1,
             "v": 10 + i} for i in range(n)]


@pytest.fixture(scope="module")
def pool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("pool"),
                          extra_args=["--ctx-size", "2048", "--pool-size", "4"])
    yield server
    server.stop()


@pytest.fixture
def papi(pool_server: RunningServer) -> Iterator[Api]:
    with httpx.Client(base_url=pool_server.url, timeout=WAIT) as client:
        helper = Api(client)
        yield helper
        helper.cleanup()


class SlowBody:
    """POST whose body stops after a few bytes until released: the request is routed
    (its session looked up) while the rest of the body is still on its way."""

    def __init__(self, server: RunningServer, path: str, body: dict[str, Any]) -> None:
        self.server, self.path = server, path
        self.raw = json.dumps(body).encode()
        self.release = threading.Event()
        self.response: httpx.Response | None = None
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _chunks(self) -> Iterator[bytes]:
        yield self.raw[:3]
        self.release.wait(WAIT)
        yield self.raw[3:]

    def _send(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=WAIT) as client:
            self.response = client.post(self.path, content=self._chunks(),
                                        headers={"content-type": "application/json"})

    def start(self) -> None:
        lines_before = self.server.log().count(f"request started: POST {self.path}")
        self.thread.start()
        # The request-started line is written as the request is routed; the handler
        # then waits for the body without yielding in between.
        wait_for(lambda: self.server.log().count(f"request started: POST {self.path}")
                 > lines_before, what=f"{self.path} routed")

    def finish(self) -> httpx.Response:
        self.release.set()
        self.thread.join(WAIT)
        assert self.response is not None
        return self.response


def _fed(api: Api, n: int) -> tuple[str, dict[str, Any]]:
    sid = api.init(prompt=PROMPT)["session_id"]
    api.push_wait(sid, small(n))
    return sid, api.generate(sid, **QUESTION)


@pytest.mark.parametrize("op,body", [
    ("generate", QUESTION),
    ("append", {"text": "\nappended while deleted"}),
    ("stream/push", {"data": small(3, start=900)}),
])
def test_request_whose_session_is_deleted_while_its_body_arrives(
        pool_server: RunningServer, papi: Api, op: str, body: dict[str, Any]) -> None:
    """Before: the late generate/append decoded into the sequence the next session had
    been given, and its cleanup removed that session's positions ("could not decode the
    prompt" from then on); a late push answered 200 and its data was lost."""
    victim = papi.init(prompt=PROMPT)["session_id"]
    papi.push_wait(victim, small(1))
    slow = SlowBody(pool_server, f"/v1/sessions/{victim}/{op}", body)
    slow.start()
    assert papi.http.delete(f"/v1/sessions/{victim}").status_code == 200
    heir, before = _fed(papi, 6)  # gets the victim's sequence id, holds more tokens
    state = papi.state(heir)
    assert assert_error(slow.finish(), 404)["code"] == "session_not_found"
    assert papi.state(heir)["context_text"] == state["context_text"]
    assert papi.generate(heir, **QUESTION) == before
    _, answer = _fed(papi, 6)
    assert answer["text"] == before["text"]


def test_deletes_racing_generates_appends_and_pushes(papi: Api) -> None:
    """Many rounds of: a victim session gets a generate, an append and a push while it is
    deleted, and two survivors get pushes, appends and generates at the same moment.
    Every CHECK_EVERY rounds, each survivor must be exactly what a fresh session fed the
    same data is; then new survivors take over (so any number of rounds fits a context)."""
    done = 0
    while done < ROUNDS:
        rounds = min(CHECK_EVERY, ROUNDS - done)
        _race_then_compare(papi, range(done, done + rounds))
        done += rounds


def _race_then_compare(papi: Api, rounds: range) -> None:
    pusher = papi.init(prompt=PROMPT)["session_id"]
    writer = papi.init(prompt="Notes:\n")["session_id"]
    pushed: list[list[dict[str, Any]]] = []
    appended: list[str] = []
    failures: list[str] = []

    def call(method: str, path: str, body: dict[str, Any] | None, ok: set[int]) -> None:
        try:
            r = papi.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            failures.append(f"{method} {path}: {exc!r}")
            return
        if r.status_code not in ok:
            failures.append(f"{method} {path}: {r.status_code} {r.text[:200]}")

    for round_ in rounds:
        victim = papi.http.post("/v1/sessions/init", json={
            "type": "ohlcv", "prompt": f"Victim {round_}:\n"}).json()["session_id"]
        batch = small(1, start=100 + round_)
        text = f" tick {round_}."
        pushed.append(batch)
        appended.append(text)
        v = f"/v1/sessions/{victim}"
        jobs = [
            ("POST", f"{v}/generate", {"prompt": " go", "max_tokens": 2}, {200, 404}),
            ("POST", f"{v}/append", {"text": " more"}, {200, 404}),
            ("POST", f"{v}/stream/push", {"data": small(2)}, {200, 404}),
            ("DELETE", v, None, {200}),
            ("POST", f"/v1/sessions/{pusher}/stream/push", {"data": batch}, {200}),
            ("POST", f"/v1/sessions/{writer}/append", {"text": text}, {200}),
            ("POST", f"/v1/sessions/{pusher}/generate", {"prompt": " ok", "max_tokens": 1},
             {200}),
            ("POST", f"/v1/sessions/{writer}/generate", {"prompt": " ok", "max_tokens": 1},
             {200}),
        ]
        if round_ % 2:  # the writer's appends must stay in order: one per round
            jobs.reverse()
        threads = [threading.Thread(target=call, args=job, daemon=True) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        assert not failures, failures
    total = sum(len(b) for b in pushed)
    papi.wait_ingested(pusher, total)
    assert papi.http.get("/v1/sessions").json()["count"] == 2  # every victim is gone

    fresh_pusher = papi.init(prompt=PROMPT)["session_id"]
    for batch in pushed:
        papi.push(fresh_pusher, batch)
    papi.wait_ingested(fresh_pusher, total)
    fresh_writer = papi.init(prompt="Notes:\n")["session_id"]
    for text in appended:
        papi.http.post(f"/v1/sessions/{fresh_writer}/append", json={"text": text})
    for survivor, fresh in ((pusher, fresh_pusher), (writer, fresh_writer)):
        got, want = papi.state(survivor), papi.state(fresh)
        assert got["context_text"] == want["context_text"]
        assert (got["n_tokens"], got["data_count"]) == (want["n_tokens"], want["data_count"])
        assert papi.generate(survivor, **QUESTION)["text"] == \
            papi.generate(fresh, **QUESTION)["text"]
    for sid in (pusher, writer, fresh_pusher, fresh_writer):
        assert papi.http.delete(f"/v1/sessions/{sid}").status_code == 200
