"""Each difference PROTOCOL-2 lists against generation 1, pinned over loopback with raw
httpx and websockets against `--api 2`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support.server import RunningServer

from .conftest import GEN2_KEY
from .helpers import WAIT, new_session, push_wait, sse_frames, wait_for, ws, ws_next

QUESTION = "\nQuestion: Is the temperature rising? Answer yes or no.\nAnswer:"
LINES = ["t=1 temp=20C", "t=2 temp=22C", "t=3 temp=25C"]


def openai_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    assert {"message", "type"} <= set(body["error"]) <= {"message", "type", "param", "code"}
    assert "retry-after" not in r.headers  # gen 2 never sends it
    return body["error"]  # type: ignore[no-any-return]


def anthropic_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"type", "error", "request_id"} and body["type"] == "error", body
    assert set(body["error"]) == {"type", "message"}
    return body["error"]  # type: ignore[no-any-return]


# -- detection: what a read-only probe sees ------------------------------------------------


def test_probes_tell_generation_2(http2: httpx.Client) -> None:
    health = http2.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert isinstance(health.json()["uptime_ms"], int)
    assert http2.get("/healthz").json()["status"] == "ok"
    listing = http2.get("/v1/sessions").json()
    assert listing["object"] == "list" and isinstance(listing["data"], list)
    assert "sessions" not in listing and "max_sessions" not in listing
    models = http2.get("/v1/models").json()
    assert {"has_more", "first_id", "last_id"} <= set(models) and len(models["data"]) == 1
    model = models["data"][0]
    assert model["max_input_tokens"] == model["max_tokens"] == model["max_model_len"] - 1
    assert http2.get(f"/v1/models/{model['id'].upper()}").json()["id"] == model["id"]
    openai_error(http2.get("/v1/models/other-model"), 404)
    metrics = http2.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'generation="2"' in metrics.text


def test_generation_1_routes_are_gone(http2: httpx.Client) -> None:
    sid = new_session(http2)
    for method, path in (("POST", "/v1/completions"), ("POST", "/v1/sessions/init"),
                         ("GET", f"/v1/sessions/{sid}/state"),
                         ("POST", f"/v1/sessions/{sid}/append"),
                         ("POST", f"/v1/sessions/{sid}/mark_prefix"),
                         ("POST", f"/v1/sessions/{sid}/stream/push"),
                         ("GET", f"/v1/sessions/{sid}/stream/status"),
                         ("GET", f"/v1/sessions/{sid}/stats")):
        r = http2.request(method, path, json={})
        assert r.status_code in {404, 405}, (method, path, r.status_code)
        openai_error(r, r.status_code)
    assert http2.post("/health").status_code == 405  # health and metrics are GET-only
    assert http2.post("/metrics").status_code == 405
    http2.delete(f"/v1/sessions/{sid}")


def test_generation_1_bodies_are_refused(http2: httpx.Client) -> None:
    """Generate is prompt-only and push takes raw text: gen 1's fields are named 400s."""
    sid = new_session(http2)
    for field, value in (("messages", [{"role": "user", "content": "hi"}]),
                         ("clear_after", False), ("tools", [])):
        err = openai_error(http2.post(f"/v1/sessions/{sid}/generate", json={
            "prompt": "hi", field: value}), 400)
        assert err["param"] == field
    openai_error(http2.post(f"/v1/sessions/{sid}/generate", json={"prompt": ""}), 400)
    err = openai_error(http2.post(f"/v1/sessions/{sid}/push", json={
        "data": [{"o": 1, "h": 1, "l": 1, "c": 1, "v": 1}]}), 400)
    assert err["param"].startswith("data")
    err = openai_error(http2.post("/v1/sessions", json={"type": "ohlcv"}), 400)
    assert err["param"] == "type"
    assert http2.get(f"/v1/sessions/{sid}").json()["pending"] == 0  # nothing was queued
    http2.delete(f"/v1/sessions/{sid}")


# -- error envelopes -----------------------------------------------------------------------


def test_error_envelopes(http2: httpx.Client) -> None:
    err = openai_error(http2.get("/v1/sessions/nope"), 404)
    assert "nope" in err["message"] and err["type"] == "not_found_error"
    err = openai_error(http2.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "hi"}], "frequency_penalty": 1}), 400)
    assert err["param"] == "frequency_penalty"  # an unsupported parameter is named
    err = openai_error(http2.post("/v1/sessions", json={"id": "bad id!"}), 400)
    assert err["param"] == "id"
    err = anthropic_error(http2.post("/v1/messages", json={
        "messages": [{"role": "user", "content": "hi"}]}), 400)
    assert "max_tokens" in err["message"]
    anthropic_error(http2.post("/v1/messages", json={
        "messages": [{"role": "system", "content": "hi"}], "max_tokens": 2}), 400)
    anthropic_error(http2.post("/v1/messages/count_tokens", json={
        "messages": [{"role": "user", "content": "hi"}], "top_k": 3}), 400)
    image = {"role": "user", "content": [{"type": "text", "text": "What is this?"}, {
        "type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}
    err = openai_error(http2.post("/v1/chat/completions", json={"messages": [image]}), 400)
    assert "images" in err["message"]
    err = openai_error(http2.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {
            "enable_thinking": False, "other": 1}}), 400)
    assert err["param"] == "chat_template_kwargs.other"
    err = openai_error(http2.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}),
        400)
    assert err["param"] == "stop"


def test_context_overflow_is_a_400_before_any_byte(http2: httpx.Client) -> None:
    long = "word " * 3000  # more tokens than the 2048-token context
    err = openai_error(http2.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": long}], "stream": True}), 400)
    assert err["code"] == "context_length_exceeded" and err["param"] == "messages"
    err = anthropic_error(http2.post("/v1/messages", json={
        "messages": [{"role": "user", "content": long}], "max_tokens": 2}), 400)
    assert err["message"].startswith("prompt is too long: ")
    assert err["message"].endswith(" tokens > 2047 maximum")
    sid = new_session(http2)
    err = openai_error(http2.post(f"/v1/sessions/{sid}/generate", json={
        "prompt": long, "stream": True}), 400)
    assert err["code"] == "context_length_exceeded" and err["param"] == "prompt"
    http2.delete(f"/v1/sessions/{sid}")


# -- session id in the header, refused in the body ------------------------------------------


def test_session_turn_by_header_refused_in_body(http2: httpx.Client) -> None:
    sid = new_session(http2)
    turn = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 3}
    err = openai_error(http2.post("/v1/chat/completions", json=turn | {"session_id": sid}),
                       400)
    assert err["param"] == "session_id" and "x-layerscale-session-id" in err["message"]
    err = anthropic_error(http2.post("/v1/messages", json=turn | {"session_id": sid}), 400)
    assert "x-layerscale-session-id" in err["message"]
    assert http2.get(f"/v1/sessions/{sid}").json()["turns"] == 0  # nothing ran
    r = http2.post("/v1/chat/completions", json=turn,
                   headers={"x-layerscale-session-id": sid})
    assert r.status_code == 200, r.text
    held = http2.get(f"/v1/sessions/{sid}").json()
    assert held["turns"] == 1 and held["tokens"] == r.json()["usage"]["total_tokens"]
    openai_error(http2.post("/v1/chat/completions", json=turn,
                            headers={"x-layerscale-session-id": "no-such"}), 404)
    http2.delete(f"/v1/sessions/{sid}")


# -- event names only on the event: line; replay; heartbeat --------------------------------


def test_sse_names_on_event_line_and_cached_answers_replayed(http2: httpx.Client) -> None:
    sid = new_session(http2)
    http2.post(f"/v1/sessions/{sid}/flash", json={"query": QUESTION, "max_tokens": 2})
    push_wait(http2, sid, LINES[:2])
    wait_for(lambda: http2.get(f"/v1/sessions/{sid}/flash").json()["data"][0]["fresh"],
             what="first answer")
    seen: list[tuple[str | None, dict[str, Any]]] = []
    with http2.stream("GET", f"/v1/sessions/{sid}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for name, data, _ in sse_frames(r):
            if not data:
                continue
            payload = json.loads(data)
            seen.append((name, payload))
            if len(seen) == 2:
                http2.post(f"/v1/sessions/{sid}/push", json={"data": LINES[2]})
            if name == "flash_ready" and len(seen) > 2:
                break
    names = [n for n, _ in seen]
    assert names[:2] == ["connected", "flash_ready"] and "data_updated" in names
    assert all("type" not in payload for _, payload in seen)  # only on the event: line
    assert seen[0][1] == {"session_id": sid, "data_version": 1, "flash_queries": 1}
    assert set(seen[1][1]) == {"id", "query", "value", "data_version", "confidence"}
    update = next(p for n, p in seen if n == "data_updated")
    assert set(update) == {"data_version", "tokens", "pending"} and update["data_version"] == 2
    http2.delete(f"/v1/sessions/{sid}")


def test_sse_heartbeat_after_quiet_and_end_on_delete(http2: httpx.Client) -> None:
    """A `: heartbeat` comment after 15 s without an event; the stream ends on delete."""
    sid = new_session(http2)
    comments: list[str] = []
    with http2.stream("GET", f"/v1/sessions/{sid}/events") as r:
        frames = sse_frames(r)
        for name, _data, before in frames:
            comments += before
            if comments:
                break
            assert name == "connected"
        assert http2.delete(f"/v1/sessions/{sid}").status_code == 200
        rest = list(frames)  # the stream ends once the session is gone
    assert comments == [": heartbeat"]
    assert all(not data for _, data, _ in rest)


# -- WebSocket: push_ack first, frame limit, graceful close ----------------------------------


def test_ws_push_ack_precedes_the_events_it_causes(gen2_server: RunningServer,
                                                   http2: httpx.Client) -> None:
    sid = new_session(http2)
    http2.post(f"/v1/sessions/{sid}/flash", json={"query": QUESTION, "max_tokens": 2})
    frames: list[dict[str, Any]] = []
    with ws(gen2_server, sid) as sock:
        assert json.loads(sock.recv(timeout=WAIT))["type"] == "connected"
        for line in LINES:
            sock.send(json.dumps({"type": "push", "data": line}))
        while sum(f["type"] == "flash_ready" for f in frames) < 1 or \
                sum(f["type"] == "push_ack" for f in frames) < 3:
            frames.append(json.loads(sock.recv(timeout=WAIT)))
    kinds = [f["type"] for f in frames]
    assert kinds.index("push_ack") < kinds.index("data_updated") < kinds.index("flash_ready")
    acks = [f["data"] for f in frames if f["type"] == "push_ack"]
    assert [a["total_pushed"] for a in acks] == [1, 2, 3]
    assert all("pending_bytes" not in a for a in acks)  # the WS ack lacks it
    assert set(acks[0]) == {"pushed", "dropped", "pending", "total_pushed", "total_dropped",
                            "data_version"}
    http2.delete(f"/v1/sessions/{sid}")


def test_ws_frame_limit_is_16_mib(gen2_server: RunningServer, http2: httpx.Client) -> None:
    sid = new_session(http2)
    with ws(gen2_server, sid) as sock:
        ws_next(sock, "connected")
        # 8 MiB: twice gen 1's limit, accepted.
        sock.send(json.dumps({"type": "ping", "pad": "x" * (8 << 20)}))
        assert ws_next(sock, "pong")["data"] is None
        sock.send("x" * ((16 << 20) + 1))  # one byte over: refused unread, dropped
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frame = json.loads(sock.recv(timeout=WAIT))
                assert frame["type"] != "error"  # no error event, the socket just drops
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert http2.get(f"/v1/sessions/{sid}").status_code == 200
    http2.delete(f"/v1/sessions/{sid}")


def test_ws_graceful_close_and_refused_upgrades(gen2_server: RunningServer,
                                                http2: httpx.Client) -> None:
    sid = new_session(http2)
    with ws(gen2_server, sid) as sock:
        ws_next(sock, "connected")
        sock.send(json.dumps({"type": "close"}))
        with pytest.raises(ConnectionClosed):
            sock.recv(timeout=WAIT)
    assert http2.get(f"/v1/sessions/{sid}").status_code == 200  # the session stays
    for path, status in (("no-such", 404), ("bad%20id", 400)):
        with pytest.raises(InvalidStatus) as refused:
            ws(gen2_server, path)
        assert refused.value.response.status_code == status
        assert set(json.loads(refused.value.response.body)) == {"error"}
    http2.delete(f"/v1/sessions/{sid}")


# -- sessions: ids, busy delete, windows, flash cap -----------------------------------------


def test_explicit_ids_and_delete_shapes(http2: httpx.Client) -> None:
    sid = new_session(http2, id="explicit_ID-1")
    err = openai_error(http2.post("/v1/sessions", json={"id": sid}), 409)
    assert err["type"] == "conflict_error"
    made = http2.post("/v1/sessions", json={}).json()["id"]
    assert made.startswith("sess_")
    listed = [s["id"] for s in http2.get("/v1/sessions").json()["data"]]
    assert listed.index(sid) < listed.index(made)  # creation order
    assert http2.delete(f"/v1/sessions/{sid}").json() == {
        "id": sid, "object": "session.deleted", "deleted": True}
    openai_error(http2.get(f"/v1/sessions/{sid}"), 404)
    http2.delete(f"/v1/sessions/{made}")


def test_delete_while_busy_is_409_then_succeeds(http2: httpx.Client) -> None:
    sid = new_session(http2)
    with http2.stream("POST", f"/v1/sessions/{sid}/generate", json={
            "prompt": "Count to fifty:", "max_tokens": 40, "stream": True}) as r:
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert "text" in json.loads(first[6:])
        assert http2.get(f"/v1/sessions/{sid}").json()["busy"] is True
        err = openai_error(http2.delete(f"/v1/sessions/{sid}"), 409)
        assert "busy" in err["message"]
        rest = [line for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]" and json.loads(rest[-2][6:])["done"] is True
    assert http2.get(f"/v1/sessions/{sid}").json()["busy"] is False
    assert http2.delete(f"/v1/sessions/{sid}").status_code == 200


def test_token_window_slides_and_counts_evicted(http2: httpx.Client) -> None:
    sid = new_session(http2, window=48)
    s = push_wait(http2, sid, [f"reading {i}: {20 + i} C" for i in range(30)])
    assert s["window"] == 48 and 0 < s["tokens"] <= 48
    assert s["evicted"] > 0 and s["pending"] == 0
    http2.delete(f"/v1/sessions/{sid}")


def test_flash_cap_of_20_and_duplicates(http2: httpx.Client) -> None:
    sid = new_session(http2)
    for i in range(20):
        r = http2.post(f"/v1/sessions/{sid}/flash", json={"query": f"\nQ{i}?", "max_tokens": 999})
        assert r.status_code == 200 and r.json()["max_tokens"] == 256  # clamped, not refused
    openai_error(http2.post(f"/v1/sessions/{sid}/flash", json={"query": "\nQ20?"}), 400)
    http2.delete(f"/v1/sessions/{sid}/flash/1")
    openai_error(http2.post(f"/v1/sessions/{sid}/flash", json={"query": "\nQ2?"}), 409)
    listed = http2.get(f"/v1/sessions/{sid}/flash").json()
    assert len(listed["data"]) == 19 and listed["data_version"] == 0
    assert all("value" not in q and q["fresh"] is False for q in listed["data"])
    http2.delete(f"/v1/sessions/{sid}")


def test_push_acks_at_once_and_overflow_drops_the_oldest(http2: httpx.Client) -> None:
    """A push beyond the queue's 4096 entries is acked with the oldest dropped, never
    refused; pending_bytes counts what waits."""
    sid = new_session(http2, window=32)
    lines = [f"n{i}" for i in range(4100)]
    ack = http2.post(f"/v1/sessions/{sid}/push", json={"data": lines}).json()
    assert ack["pushed"] == 4100 and ack["dropped"] == 4 and ack["total_dropped"] == 4
    assert ack["pending"] == 4096 and ack["total_pushed"] == 4100
    assert ack["pending_bytes"] == sum(len(x) for x in lines[4:])
    openai_error(http2.post(f"/v1/sessions/{sid}/push", json={"data": []}), 400)
    http2.delete(f"/v1/sessions/{sid}")


# -- warm ------------------------------------------------------------------------------------


def test_warm_prefills_then_covers(http2: httpx.Client) -> None:
    sid = new_session(http2)
    turn = {"messages": [{"role": "user", "content": "Name a colour."}]}
    first = http2.post(f"/v1/sessions/{sid}/warm", json=turn).json()
    assert first["finish_reason"] == "warmed" and first["cached_tokens"] == 0
    again = http2.post(f"/v1/sessions/{sid}/warm", json=turn).json()
    assert again["finish_reason"] == "covered"
    assert again["cached_tokens"] == again["prompt_tokens"] == first["prompt_tokens"]
    assert http2.get(f"/v1/sessions/{sid}").json()["tokens"] == first["prompt_tokens"]
    http2.delete(f"/v1/sessions/{sid}")


# -- --api-key --------------------------------------------------------------------------------


def test_api_key_exemptions(gen2_keyed_server: RunningServer) -> None:
    with httpx.Client(base_url=gen2_keyed_server.url, timeout=WAIT) as http:
        assert http.get("/health").status_code == 200
        assert http.get("/healthz").status_code == 200
        assert http.options("/v1/sessions").status_code != 401  # CORS preflight
        err = openai_error(http.get("/metrics"), 401)
        assert err["type"] == "authentication_error"
        openai_error(http.get("/v1/sessions", headers={"Authorization": "Bearer LSK-wrong"}),
                     401)
        assert http.get("/v1/sessions", headers={"x-api-key": GEN2_KEY}).status_code == 200
        ok = http.get("/metrics", headers={"Authorization": f"Bearer {GEN2_KEY}"})
        assert ok.status_code == 200 and ok.headers["content-type"].startswith(
            "text/plain; version=0.0.4")
        made = http.post("/v1/sessions", json={}, headers={"x-api-key": GEN2_KEY}).json()["id"]
    url = gen2_keyed_server.url.replace("http://", "ws://") + f"/v1/sessions/{made}/ws"
    with pytest.raises(InvalidStatus) as refused:  # refused before the handshake
        connect(url, open_timeout=WAIT)
    assert refused.value.response.status_code == 401
    with connect(url, open_timeout=WAIT,
                 additional_headers={"Authorization": f"Bearer {GEN2_KEY}"}) as sock:
        assert ws_next(sock, "connected")["data"]["session_id"] == made


# -- /health counters --------------------------------------------------------------------------


def test_health_counters_follow_the_work(http2: httpx.Client) -> None:
    before = http2.get("/health").json()
    sid = new_session(http2)
    turn = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 2}
    assert http2.post("/v1/chat/completions", json=turn).status_code == 200
    assert http2.post(f"/v1/sessions/{sid}/warm", json=turn).status_code == 200
    r = http2.post("/v1/chat/completions", json=turn, headers={"x-layerscale-session-id": sid})
    cached = r.json()["usage"]["prompt_tokens_details"]["cached_tokens"]
    openai_error(http2.post("/v1/chat/completions", json=turn | {"ignore_eos": True}), 400)
    after = http2.get("/health").json()
    http2.delete(f"/v1/sessions/{sid}")
    delta = {k: after[k] - before[k] for k in before if isinstance(before[k], int)}
    assert delta["requests_started"] == delta["requests_ok"] == 3  # the 400 ran nothing
    assert delta["requests_failed"] == delta["requests_cancelled"] == 0
    assert delta["session_turns"] == 1 and delta["session_warm_turns"] == 1
    assert delta["session_cached_tokens"] == cached > 0  # the turn resumed the warm prefill
    assert 2 <= delta["generated_tokens"] <= 4 and delta["prompt_tokens"] > 0
    assert after["queued"] == after["running"] == 0  # nothing left on the worker
    assert delta["connections"] == 0  # (other tests' streams may still be open: a delta)
    assert after["sessions"] == before["sessions"] + 1
    assert not {"kv_pages_total", "steps", "preemptions"} & set(after)  # not claimed
