"""Property-based fuzzing of the bundled server: requests generated from its own schemas
(plus hostile values), raw bodies and WebSocket frames. Whatever arrives: never a 500,
every error in the protocol's shape, the server stays up, and a reference session that
no request targets answers exactly as before.

Example counts are fixed and the examples derandomized, so CI time stays flat.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from app.localserver import schemas
from app.localserver.entries import OPTIONAL, REQUIRED, STREAM_TYPES
from tests.localserver.conftest import WAIT, Api, assert_error, candles
from tests.support.fuzzing import ANY_JSON, HOSTILE, entries, from_schema, nested
from tests.support.server import RunningServer, start_server

FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])


# CI runs fixed counts; LS_FUZZ_SCALE=10 runs ten times as many examples locally.
SCALE = float(os.environ.get("LS_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=max(1, int(examples * SCALE)))
QUESTION = {"prompt": "\nIs the last close above the first open?\nAnswer:", "max_tokens": 4}
GENERATING = {"max_tokens": 3, "max_completion_tokens": 3}


@dataclass
class Arena:
    server: RunningServer
    http: httpx.Client
    reference: str
    flash_target: str
    targets: dict[str, str]  # stream type -> session fuzzed with pushes, appends, generates
    snapshot: dict[str, Any]


def _snapshot(api: Api, sid: str) -> dict[str, Any]:
    state = api.state(sid)
    flashes = api.flash_list(sid)["flash_queries"]
    return {
        "state": {k: state[k] for k in ("context_text", "n_tokens", "data_count", "prefix_end",
                                        "data_region", "pos_next")},
        "stats": api.http.get(f"/v1/sessions/{sid}/stats").json(),
        "flash": [(f["query"], f["value"], f["data_version"]) for f in flashes],
        "answer": api.generate(sid, **QUESTION)["text"],
    }


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    server = start_server(tmp_path_factory.mktemp("fuzz"),
                          extra_args=["--ctx-size", "1024", "--pool-size", "10"])
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        api = Api(http)
        reference = api.init(prompt="Reference prices:\n",
                             flash=[{"query": QUESTION["prompt"], "max_tokens": 2}])["session_id"]
        api.push_wait(reference, candles(4))
        api.wait_flash(reference, 1)
        flash_target = api.init(prompt="Flash target.\n")["session_id"]
        targets = {kind: api.init(type=kind, prompt=f"{kind} data:\n", window_size=16)
                   ["session_id"] for kind in STREAM_TYPES}
        yield Arena(server, http, reference, flash_target, targets, _snapshot(api, reference))
    server.stop()


def check(r: httpx.Response) -> None:
    """The properties every answer must have, whatever was asked."""
    assert r.status_code < 500, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    if r.status_code >= 400:
        assert_error(r, r.status_code)
        return
    kind = r.headers.get("content-type", "")
    if kind.startswith("application/json"):
        r.json()
    elif kind.startswith("text/event-stream"):
        for line in r.text.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                json.loads(line[6:])


def _bounded(body: Any, generating: bool) -> Any:
    """Keep generations to a few tokens (the fuzz is about input, not output length)."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    for key, cap in GENERATING.items():
        if _more_than(out.get(key), cap) or (generating and key == "max_tokens"
                                             and key not in out):
            out[key] = cap
    flash = out.get("flash")
    for spec in flash if isinstance(flash, list) else []:
        if isinstance(spec, dict) and _more_than(spec.get("max_tokens"), 2):
            spec["max_tokens"] = 2
    return out


def _more_than(value: Any, cap: int) -> bool:
    """pydantic reads 1e9 and "100000" as integers too: any of them would be a long
    generation once the server clamps it to its maximum."""
    try:
        return float(value) > cap
    except OverflowError:  # an integer of hundreds of digits
        return True
    except (TypeError, ValueError):
        return False


def _segment(value: Any) -> str:
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if set(text) <= {"."} else text or "x"


def _schema(model: type[Any]) -> st.SearchStrategy[Any]:
    return from_schema(model.model_json_schema())


SESSION_ID = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE),
                       st.sampled_from(["sess_0000", "init", "scratch"]))


@st.composite
def requests(draw: st.DrawFn, arena: Arena) -> tuple[str, str, Any]:
    kind = draw(st.sampled_from(STREAM_TYPES))
    target = arena.targets[kind]
    route = draw(st.sampled_from([
        "init", "append", "push", "flash", "generate", "mark_prefix", "chat", "completions",
        "messages", "get", "delete"]))
    if route == "init":
        return "POST", "/v1/sessions/init", _bounded(draw(_schema(schemas.InitRequest)), False)
    if route == "append":
        return "POST", f"/v1/sessions/{target}/append", draw(_schema(schemas.AppendRequest))
    if route == "push":
        data = draw(st.one_of(entries(REQUIRED[kind], OPTIONAL[kind]), ANY_JSON))
        return "POST", f"/v1/sessions/{target}/stream/push", {"data": data}
    if route == "flash":
        body = draw(_schema(schemas.FlashRequest))
        if isinstance(body, dict):
            body = body | {"max_tokens": 1}  # registered queries are re-answered
        return "POST", f"/v1/sessions/{arena.flash_target}/flash", body
    if route == "generate":
        body = _bounded(draw(_schema(schemas.GenerateRequest)), True)
        return "POST", f"/v1/sessions/{target}/generate", body
    if route == "mark_prefix":
        return "POST", f"/v1/sessions/{target}/mark_prefix", draw(st.one_of(
            st.just({}), ANY_JSON))
    if route in {"chat", "completions", "messages"}:
        model = {"chat": schemas.ChatCompletionRequest, "completions": schemas.CompletionRequest,
                 "messages": schemas.MessagesRequest}[route]
        body = _bounded(draw(_schema(model)), True)
        if isinstance(body, dict) and body.get("session_id") is not None:
            body["session_id"] = draw(st.sampled_from([target, str(body["session_id"])]))
        path = {"chat": "/v1/chat/completions", "completions": "/v1/completions",
                "messages": "/v1/messages"}[route]
        return "POST", path, body
    sid = _segment(draw(st.one_of(st.just(target), SESSION_ID)))
    if route == "get":
        tail = draw(st.sampled_from(["state", "stream/status", "stats", "flash", "events?x"]))
        if tail.startswith("events"):  # an SSE stream never ends: not for an unknown id
            sid = _segment(draw(SESSION_ID)) + "x"
        return "GET", f"/v1/sessions/{sid}/{tail.split('?')[0]}", None
    qid = _segment(draw(st.one_of(st.integers(-3, 40), SESSION_ID)))
    if sid == target:
        return "DELETE", f"/v1/sessions/{sid}/flash/{qid}", None
    return "DELETE", draw(st.sampled_from([f"/v1/sessions/{sid}",
                                           f"/v1/sessions/{sid}/flash/{qid}"])), None


def _cleanup_created(arena: Arena, r: httpx.Response) -> None:
    if r.request.url.path == "/v1/sessions/init" and r.status_code == 200:
        assert arena.http.delete(f"/v1/sessions/{r.json()['session_id']}").status_code == 200


@fuzz(200)
@given(data=st.data())
def test_requests_generated_from_the_schemas(arena: Arena, data: st.DataObject) -> None:
    method, path, body = data.draw(requests(arena))
    content = None if body is None else json.dumps(body).encode()
    r = arena.http.request(method, path, content=content,
                           headers={"content-type": "application/json"})
    check(r)
    _cleanup_created(arena, r)


KNOWN_BAD = st.sampled_from([
    b"{", b'{"a":', b"[]", b"null", b'"\\ud800"', b"\xff\xfe", b"NaN", b"1e999",
    b'{"data": [' + b"1," * 2000 + b"1]}", json.dumps(nested(70)).encode(),
    b'{"x": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"type": "ohlcv", "context": ' + b"7" * 4400 + b"}",
    b'{"prompt": "\\udc00", "text": "\\ud800", "query": "\\ud800", "type": "ohlcv"}',
    b'{"data": [{"o": 1e400, "h": 1, "l": 1, "c": 1, "v": 1}]}',
])
RAW = st.one_of(
    KNOWN_BAD, KNOWN_BAD,
    st.binary(max_size=64),
    st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
POSTS = ["/v1/sessions/init", "/v1/chat/completions", "/v1/completions", "/v1/messages",
         "append", "stream/push", "flash", "generate", "mark_prefix"]


@fuzz(50)
@given(raw=RAW, where=st.sampled_from(POSTS),
       content_type=st.sampled_from(["application/json", "text/plain", "", "x/\u00ff"]))
def test_raw_bodies(arena: Arena, raw: bytes, where: str, content_type: str) -> None:
    path = where if where.startswith("/") else f"/v1/sessions/{arena.targets['ohlcv']}/{where}"
    headers = {"content-type": content_type.encode("latin-1")}  # bytes: any octet goes
    r = arena.http.post(path, content=raw, headers=headers)
    check(r)
    _cleanup_created(arena, r)


FRAMES = st.one_of(
    st.builds(lambda d: json.dumps({"type": "push", "data": d}),
              entries(REQUIRED["spatial"], OPTIONAL["spatial"])),
    st.builds(lambda d: json.dumps({"type": "push", "data": d}), ANY_JSON),
    st.builds(json.dumps, ANY_JSON),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.sampled_from(['{"type": "ping"}',
                     '{"type": "push", "data": ' + "[" * 5000 + "]" * 5000 + "}",
                     '{"type": "push", "data": [{"x": ' + "1" * 500 + "}]}"]),
)


@fuzz(50)
@given(frames=st.lists(FRAMES, min_size=1, max_size=3))
def test_websocket_frames(arena: Arena, frames: list[str | bytes]) -> None:
    url = arena.server.url.replace("http://", "ws://") + \
        f"/v1/sessions/{arena.targets['spatial']}/ws"
    with connect(url, open_timeout=WAIT, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "connected"
        for frame in frames:
            ws.send(frame)
        ws.send('{"type": "ping"}')
        # Exactly one reply per frame, in order, then the pong: none lost, none fatal.
        replies: list[dict[str, Any]] = []
        while len(replies) < len(frames) + 1:
            reply = json.loads(ws.recv(timeout=WAIT))
            if reply["type"] in {"push_ack", "error", "pong"}:
                replies.append(reply)
    assert replies[-1]["type"] == "pong"
    for reply in replies:
        if reply["type"] == "error":
            data = reply["data"]
            assert isinstance(data["code"], int) and 400 <= data["code"] < 500, data
            assert isinstance(data["message"], str) and data["message"]


def test_after_the_fuzz_the_server_is_up_and_the_reference_unchanged(arena: Arena) -> None:
    """Runs last in this module (pytest keeps file order)."""
    assert arena.http.get("/v1/health").json()["status"] == "ok"
    api = Api(arena.http)
    assert _snapshot(api, arena.reference) == arena.snapshot
    for sid in arena.targets.values():  # fuzzed sessions still ingest
        before = api.status(sid)["statistics"]["total_enqueued"]
        ack = api.push(sid, _good_entry(api, sid))
        assert ack["pushed"] == 1 and ack["total_enqueued"] == before + 1
        api.wait_ingested(sid, ack["total_enqueued"])
    log = arena.server.log()
    assert "internal error" not in log and "Traceback" not in log


GOOD = {"ohlcv": candles(1)[0], "iot": {"sid": "s", "val": 1, "lo": 0, "hi": 2},
        "spatial": {"x": 1, "y": 2, "z": 3, "spd": 4, "hdg": 5},
        "event": {"src": "a", "sev": 1, "cat": "c", "cnt": 1},
        "vitals": {"hr": 70, "bp_s": 120, "bp_d": 80, "spo2": 98, "temp": 37}}


def _good_entry(api: Api, sid: str) -> list[dict[str, Any]]:
    return [GOOD[api.state(sid)["type"]]]
