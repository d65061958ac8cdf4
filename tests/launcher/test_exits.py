"""A server's end in words: which signal killed it, and what it was doing."""

from __future__ import annotations

from app.launcher.exits import describe_exit, last_request


def test_a_signal_death_is_named_with_its_number_and_the_last_request() -> None:
    line = "2026-12-01 09:00:00 INFO layerscale.localserver: request started: POST /v1/x/generate"
    assert last_request(line) == "POST /v1/x/generate"
    assert last_request("2026-12-01 INFO model loaded") is None
    assert describe_exit(-11, "POST /v1/x/generate") == (
        "killed by SIGSEGV (signal 11); the last request it started was POST /v1/x/generate")
    assert describe_exit(-4) == "killed by SIGILL (signal 4)"
    assert describe_exit(3) == "exited with code 3"
