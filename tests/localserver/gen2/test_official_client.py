"""The official generation-2 client (layerscale 0.8.0) over every method it has against
`--api 2`, with and without `--api-key`: each answer and event must validate against its
pydantic models (tests/support/gen2_driver.py)."""

from __future__ import annotations

from tests.support.peers import run_gen2
from tests.support.server import RunningServer

from .conftest import GEN2_KEY


def test_server_level_methods(gen2_server: RunningServer) -> None:
    out = run_gen2(gen2_server.url, "http")
    assert out["client_version"] == "0.8.0"
    assert out["health"] == [True, 200, "ok", True]
    assert out["metrics_has_requests"] is True
    assert out["models"] == [1, True, True, 2048]
    assert out["missing_model"] == 404
    content, completion_tokens, cached_ok = out["chat"]
    assert content and 1 <= completion_tokens <= 4 and cached_ok
    assert out["chat_stream"] == content  # greedy: the same words streamed
    assert len(out["chat_stream_usage"]) == 1  # one usage chunk, at the end
    assert out["tool_call"] == ["tool_calls", "get_price"]
    assert out["tool_stream"] == [1, 1]  # a call is two chunks: opener, then arguments
    assert out["message"] == ["text"] and out["message_stop"] in {"max_tokens", "end_turn"}
    assert out["message_events"][0] == "message_start"
    assert out["message_events"][-2:] == ["message_delta", "message_stop"]
    # count_tokens counts what the same request runs with.
    assert out["count_tokens"] == out["message_prompt"]


def test_session_methods(gen2_server: RunningServer) -> None:
    out = run_gen2(gen2_server.url, "session")
    assert out["created"] == ["driver-session", 512, 0, False, False]
    assert out["duplicate"] == 409 and out["listed"] is True
    assert out["flash_registered"] == [False, None, True]
    assert out["push"] == [3, 0, 0, True, True]
    assert out["flash_answer"] == [True, True, True, True]
    same, finish, n, cached = out["generate"]
    assert same and finish in {"stop", "length"} and 1 <= n <= 4 and cached > 0
    assert out["fast_answer"] == [True, True]  # threshold 0: every first token is sure
    assert out["flash_hit"] == [True, True, True, None]  # served from the cache, no usage
    assert out["generate_stream"][0] == "GenerationDone" and out["generate_stream"][1] >= 1
    finish_reason, same_session, prompt_tokens, turn_cached = out["warm"]
    assert finish_reason == "warmed" and same_session
    assert turn_cached >= prompt_tokens  # the turn resumed everything warm prefilled
    assert out["second_turn_cached"] > turn_cached  # and the next turn resumed past it
    assert out["turns"][0] == 4 and out["turns"][1] in {"max_tokens", "end_turn"}
    assert out["unflash"] == [True, 0]
    assert out["busy_delete"] == 409 and out["first_chunk"] == "GenerationTextChunk"
    assert out["deleted"] == [True, True]


def test_session_events(gen2_server: RunningServer) -> None:
    out = run_gen2(gen2_server.url, "events")
    assert out["connected"] == ["driver-events", 1]
    # connected, the cached answer replayed, then the live update and its answer.
    assert out["events"][:2] == ["connected", "flash_ready"]
    assert "data_updated" in out["events"] and out["events"][-1] == "flash_ready"


def test_websocket(gen2_server: RunningServer) -> None:
    out = run_gen2(gen2_server.url, "ws")
    events = out["events"]
    assert events[:3] == ["connected", "pong", "error"] and out["error_code"] == 400
    assert events.index("push_ack") < events.index("data_updated") < len(events) - 1
    assert events[-1] == "flash_ready"
    assert out["refused_unknown"] == 404


def test_async_client(gen2_server: RunningServer) -> None:
    out = run_gen2(gen2_server.url, "async")
    assert out["health"] is True and out["ack"] == 2
    assert out["stream_done"] == "GenerationDone" and out["turn_tokens"] > 0
    assert out["count_tokens"] > 0
    assert out["ws"][0] == "connected" and out["ws"][-1] == "flash_ready"
    assert out["ws"].index("push_ack") < out["ws"].index("data_updated")
    assert out["events"] == ["connected", "flash_ready"]  # the cached answer, replayed


def test_api_key(gen2_keyed_server: RunningServer) -> None:
    out = run_gen2(gen2_keyed_server.url, "auth", key=GEN2_KEY)
    assert out["keyed"] == [True, True, 1, "connected"]
    assert out["anonymous"] == {"health": True, "list": 401, "metrics": 401, "chat": 401,
                                "messages": 401, "ws": 401}


def test_open_server_needs_no_key(gen2_server: RunningServer) -> None:
    """Without --api-key the API is open: the auth scenario's keyless calls all succeed
    there, so `anonymous` cannot report 401s."""
    out = run_gen2(gen2_server.url, "auth")
    assert out["keyed"][2:] == [1, "connected"]
    assert out["anonymous"] == {"health": True, "list": None, "metrics": None, "chat": None,
                                "messages": None, "ws": None}
