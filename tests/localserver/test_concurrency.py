"""Model work is serialised on one worker while HTTP stays responsive."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.localserver.conftest import WAIT, Api, candles, wait_for


def test_http_answers_while_a_generation_runs(api: Api) -> None:
    busy = api.init(prompt="Once upon a time")["session_id"]
    other = api.init(prompt="Prices:\n")["session_id"]
    result: dict[str, Any] = {}

    def long_generation() -> None:
        result["out"] = api.generate(busy, max_tokens=64, stop=["\u0000"])
        result["finished_at"] = time.monotonic()

    thread = threading.Thread(target=long_generation, daemon=True)
    thread.start()
    wait_for(lambda: any(s["in_use"] for s in api.http.get("/v1/sessions").json()["sessions"]
                         if s["session_id"] == busy), what="generation to start")
    started = time.monotonic()
    assert api.http.get("/v1/health").status_code == 200
    ack = api.push(other, candles(2))
    assert ack["pushed"] == 2
    state = api.state(other)
    answered_at = time.monotonic()
    assert answered_at - started < 5.0
    thread.join(WAIT)
    assert "out" in result and result["out"]["n_tokens"] >= 1
    if result["out"]["n_tokens"] == 64:
        # The 64-token generation was still running when the other calls were answered.
        assert answered_at <= result["finished_at"]
    assert state["session_id"] == other
    assert api.wait_ingested(other, 2)["data"]["data_count"] == 2


def test_two_sessions_generate_at_once(api: Api) -> None:
    a = api.init(prompt="Alpha:")["session_id"]
    b = api.init(prompt="Beta:")["session_id"]
    outs: dict[str, dict[str, Any]] = {}
    threads = [threading.Thread(target=lambda s=s: outs.__setitem__(s, api.generate(
        s, prompt=" one two", max_tokens=4)), daemon=True) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert set(outs) == {a, b}
    alone = api.generate(a, prompt=" one two", max_tokens=4)
    assert outs[a]["text"] == alone["text"]  # interleaving does not leak between sessions
