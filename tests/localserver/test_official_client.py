"""The official generation-1 Python client (layerscale 0.2.1) over every method against
the bundled server: each answer and event must validate against its pydantic models."""

from __future__ import annotations

from tests.support.peers import run_gen1
from tests.support.server import RunningServer


def test_http_endpoints(local_server: RunningServer) -> None:
    out = run_gen1(local_server.url, "http")
    assert out["client_version"] == "0.2.1"
    assert out["health_ok"] is True and out["model"].startswith("SmolLM2")
    assert out["chat"] and out["chat_stream"] == out["chat"]
    assert "Paris" in out["completion"] and out["message"]
    assert out["message_events"][0] == "message_start"
    assert out["message_events"][-1] == "message_stop"


def test_session_lifecycle_push_wait_query_and_flash(local_server: RunningServer) -> None:
    """Before: push(wait=True), stream_status, get and list failed validation (float
    timestamps, a string or null streaming.error, null confidence before an answer)."""
    out = run_gen1(local_server.url, "session")
    assert out["created"] == {"window_size": 0, "flash_queries": 1}
    assert out["unanswered"] == [False]
    assert out["ack_pushed"] == 5
    assert out["status"] == {"error": False, "items_processed": 5, "data_count": 5}
    assert 1 <= out["answer"]["n_tokens"] <= 8
    assert out["stream_done"] == "GenerateStreamDone" and out["stream_tokens"] >= 1
    assert out["state"] == {"data_count": 5, "prefix_end": out["state"]["prefix_end"],
                            "created_at_type": "int", "in_list": True}
    assert out["state"]["prefix_end"] > 0
    assert out["appended"] > 0
    assert out["flash"] == {"count": 2, "answered": [True, True], "evaluated_at_type": "int"}
    assert out["unflash_remaining"] == 1 and out["deleted"] is True


def test_stats_of_all_five_types_empty_and_filled(local_server: RunningServer) -> None:
    """Before: every empty window answered nulls, which the client's models refuse."""
    out = run_gen1(local_server.url, "stats")
    names = {"ohlcv": "OHLCVStats", "iot": "IoTStats", "spatial": "SpatialStats",
             "event": "EventStats", "vitals": "VitalsStats"}
    for kind, model in names.items():
        filled = 5 if kind == "ohlcv" else 2
        assert out[kind] == {"empty": [model, 0], "filled": [model, filled]}, kind


def test_sse_events_validate(local_server: RunningServer) -> None:
    """Before: `connected` carried a list of queries where the client wants a count."""
    out = run_gen1(local_server.url, "events")
    events = out["events"]
    assert events[0] == "connected" and "data_updated" in events
    assert events[-1] == "flash_ready"


def test_websocket_events_validate(local_server: RunningServer) -> None:
    """Before: the client's WebSocket iterator yielded nothing (connected had a list of
    queries; error frames a string code where it wants an integer)."""
    out = run_gen1(local_server.url, "ws")
    events = out["events"]
    assert events[0] == "connected"
    assert {"pong", "error", "push_ack", "data_updated"} <= set(events)
    assert events[-1] == "flash_ready"
    assert out["error_code"] == 422


def test_tool_calls_validate(local_server: RunningServer) -> None:
    out = run_gen1(local_server.url, "tools")
    assert out["chat_tool"] == "get_price"
    assert "tool_use" in out["message_blocks"]
    assert out["query_finish"] in {"stop", "length", "tool_calls"}
    assert (out["query_tool_calls"] > 0) == (out["query_finish"] == "tool_calls")
    assert out["stream_done"] == "GenerateStreamDone"
