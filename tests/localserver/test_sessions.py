"""Session lifecycle: init, list, state, append, mark_prefix, delete, unknown ids."""

from __future__ import annotations

import httpx
import pytest

from tests.localserver.conftest import Api, assert_error


def test_init_answers_protocol_fields(api: Api) -> None:
    info = api.init(type="iot", prompt="Sensor log:\n", window_size=10,
                    flash=[{"query": "Any breach?", "max_tokens": 4}])
    assert set(info) >= {"session_id", "type", "n_tokens", "context", "window_size",
                         "flash_queries", "pos_max"}
    assert info["type"] == "iot"
    assert info["n_tokens"] > 0 and info["pos_max"] == info["n_tokens"] - 1
    assert info["context"] == 4096 and info["window_size"] == 10
    assert info["flash_queries"] == 1


def test_context_is_clamped_to_server_ctx_size(api: Api) -> None:
    assert api.init(context=100_000)["context"] == 4096
    assert api.init(context=512)["context"] == 512


def test_list_and_state(api: Api, http: httpx.Client) -> None:
    sid = api.init(prompt="You are a trading analyst.\n")["session_id"]
    listing = http.get("/v1/sessions").json()
    assert listing["max_sessions"] == 8 and listing["count"] == len(listing["sessions"])
    summary = next(s for s in listing["sessions"] if s["session_id"] == sid)
    assert set(summary) == {"session_id", "n_tokens", "context", "prefix_end",
                            "last_inject_us", "cache_usage", "created_at", "last_used_at",
                            "in_use"}
    state = api.state(sid)
    assert state["type"] == "ohlcv" and state["pos_min"] == 0
    assert state["pos_next"] == state["n_tokens"] == state["pos_max"] + 1
    assert state["cache_usage"] == pytest.approx(state["n_tokens"] / 4096)
    assert state["data_region"] == {"start": state["n_tokens"], "end": state["n_tokens"]}
    assert state["data_count"] == 0
    assert state["context_text"] == "You are a trading analyst.\n"
    assert state["in_use"] is False


def test_append_and_mark_prefix(api: Api, http: httpx.Client) -> None:
    info = api.init(prompt="System.")
    sid = info["session_id"]
    r = http.post(f"/v1/sessions/{sid}/append", json={"text": " More context here."})
    body = r.json()
    assert r.status_code == 200
    assert body["n_tokens_added"] > 0
    assert body["total_tokens"] == info["n_tokens"] + body["n_tokens_added"]
    assert body["pos_max"] == body["total_tokens"] - 1
    mark = http.post(f"/v1/sessions/{sid}/mark_prefix", json={}).json()
    assert mark["prefix_end"] == body["total_tokens"] and mark["message"]
    state = api.state(sid)
    assert state["prefix_end"] == body["total_tokens"]
    assert state["context_text"] == "System. More context here."


def test_append_bad_body(api: Api, http: httpx.Client) -> None:
    sid = api.init()["session_id"]
    assert_error(http.post(f"/v1/sessions/{sid}/append", json={"text": 3}), 422, param="text")
    assert_error(http.post(f"/v1/sessions/{sid}/append", json={}), 400, param="text")


def test_delete_frees_and_later_calls_404(api: Api, http: httpx.Client) -> None:
    sid = api.init()["session_id"]
    assert http.delete(f"/v1/sessions/{sid}").status_code == 200
    assert_error(http.get(f"/v1/sessions/{sid}/state"), 404)
    assert_error(http.delete(f"/v1/sessions/{sid}"), 404)
    ids = [s["session_id"] for s in http.get("/v1/sessions").json()["sessions"]]
    assert sid not in ids


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "state", None), ("POST", "append", {"text": "x"}), ("POST", "mark_prefix", {}),
    ("POST", "generate", {"prompt": "x"}), ("POST", "stream/push", {"data": []}),
    ("GET", "stream/status", None), ("GET", "stats", None), ("GET", "flash", None),
    ("POST", "flash", {"query": "q"}), ("DELETE", "flash/1", None), ("GET", "events", None),
])
def test_unknown_session_is_404(http: httpx.Client, method: str, path: str,
                                body: dict[str, object] | None) -> None:
    r = http.request(method, f"/v1/sessions/sess_missing/{path}", json=body)
    assert assert_error(r, 404)["code"] == "session_not_found"
