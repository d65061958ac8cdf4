"""Per-session state shown as text (link state), how a spec becomes an init request, and the
banner texts for every server problem the issue names (pure logic, no server)."""

from __future__ import annotations

import pytest

from app.api.errors import (
    APIConnectionError,
    AuthenticationError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from app.core.problems import Problem
from app.core.server import ServerState
from app.core.session import LinkInfo, SessionSpec


def test_link_state_text_counts_down_and_says_why() -> None:
    link = LinkInfo(status="reconnecting", reason="server closed the socket", retry_at=103.2)
    assert link.describe(now=100.0) == "reconnecting in 3 s (server closed the socket)"
    assert link.describe(now=110.0) == "reconnecting in 0 s (server closed the socket)"
    assert LinkInfo(status="reconnecting").describe() == "reconnecting"
    assert LinkInfo(status="closed", reason="session deleted").describe() == (
        "closed: session deleted")
    assert LinkInfo(status="closed").describe() == "closed"
    assert LinkInfo(status="open").describe() == "open"


def test_spec_becomes_the_init_request_and_omits_unset_fields() -> None:
    spec = SessionSpec(type="iot", prompt="sys", context=2048, window_size=50,
                       flash=("a?", "b?"), flash_max_tokens=6, mark_prefix=False)
    assert spec.create_kwargs() == {
        "type": "iot", "prompt": "sys", "context": 2048, "window_size": 50,
        "mark_prefix": False,
        "flash": [{"query": "a?", "max_tokens": 6}, {"query": "b?", "max_tokens": 6}],
    }
    assert SessionSpec().create_kwargs() == {"type": "ohlcv", "mark_prefix": True}
    # A recreate passes the queries the session has now, not the ones it started with.
    assert spec.create_kwargs([{"query": "c?", "max_tokens": 3}])["flash"] == [
        {"query": "c?", "max_tokens": 3}]


@pytest.mark.parametrize(
    ("exc", "problem", "words"),
    [
        (APIConnectionError("connection refused"), Problem.UNREACHABLE, "unreachable at"),
        (AuthenticationError("invalid key", status=401), Problem.AUTH, "(401): key missing"),
        (PermissionDeniedError("expired", status=403), Problem.AUTH, "(403): key not allowed"),
        (ServiceUnavailableError("loading", status=503), Problem.LOADING, "still loading (503)"),
    ],
)
def test_each_problem_has_its_banner_and_recovery_clears_it(
    exc: Exception, problem: Problem, words: str
) -> None:
    state = ServerState("http://127.0.0.1:9")
    banner = state.set_problem(exc, retry_in=4.0)
    assert banner.problem is problem and words in banner.title
    assert state.banner is banner and not state.ok
    version = state.version
    state.set_ok(model="smol")
    assert state.banner is None and state.ok and state.version > version
