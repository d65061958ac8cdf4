"""Fault injection over HTTP: what a real server will not do on demand.

Every peer here is a deliberately misbehaving raw-socket fake (tests/api/fakes.py);
each test's docstring says which fault it injects and why a fake is needed.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from app.api import Backoff, LayerScale
from app.api.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    LayerScaleError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from tests.api.fakes import FakePeer, FakeRequest, http_response, wait_disconnect, wait_for

pytestmark = pytest.mark.anyio

KEY = "LS-fault-injection-secret-key"
FAST = Backoff(base=0.01, cap=0.05)
STATUS_OK = {
    "type": "ohlcv",
    "streaming": {
        "initialized": True,
        "running": True,
        "error": None,
        "queue_size": 0,
        "queue_capacity": 1024,
        "window_size": 0,
        "process_interval_us": 1000,
    },
    "statistics": {
        "total_enqueued": 0,
        "total_dropped": 0,
        "batches_processed": 0,
        "items_processed": 0,
        "total_process_time_us": 0,
        "avg_process_time_us": 0,
    },
    "data": {"initialized": True, "data_count": 0, "total_data_tokens": 0, "pos_next": 0},
}


def client_for(peer: FakePeer, **kw: object) -> LayerScale:
    opts: dict[str, object] = {"api_key": KEY, "backoff": FAST, "timeout": 10}
    opts.update(kw)
    return LayerScale(peer.url, **opts)  # type: ignore[arg-type]


def replies(*responses: bytes):  # type: ignore[no-untyped-def]
    """A handler answering successive requests with the given raw responses (last repeats)."""
    queue = list(responses)

    async def handler(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
        writer.write(queue.pop(0) if len(queue) > 1 else queue[0])

    return handler


async def test_malformed_json_on_success_is_protocol_error() -> None:
    """Fake peer: answers 200 with half a JSON object, which a real server never sends.
    The client must raise ProtocolError (a LayerScaleError), not a JSONDecodeError."""
    async with (
        FakePeer(replies(http_response(200, '{"status": "ok", '))) as peer,
        client_for(peer) as client,
    ):
        with pytest.raises(ProtocolError) as info:
            await client.health()
    assert "not valid JSON" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_wrong_shape_is_protocol_error_and_extra_fields_kept() -> None:
    """Fake peer: a 200 body missing required fields (and one with extra ones), which only a
    foreign server would send; missing fields fail clearly, extra fields are kept."""
    bad = http_response(200, {"object": "list"})
    good = http_response(200, {"object": "list", "data": [{"id": "m", "shiny": 1}], "x": 2})
    async with FakePeer(replies(bad, good)) as peer, client_for(peer) as client:
        with pytest.raises(ProtocolError, match="data"):
            await client.models()
        models = await client.models()
    assert models.data[0].id == "m"
    assert models.data[0].model_extra == {"shiny": 1}
    assert models.x == 2  # type: ignore[attr-defined]


async def test_non_json_error_body_gives_clear_error() -> None:
    """Fake peer: a proxy-style HTML 502 page instead of the protocol's JSON error body."""
    page = "<html><body><h1>502 Bad Gateway</h1>\n nginx </body></html>"
    headers = {"Content-Type": "text/html"}
    async with (
        FakePeer(replies(http_response(502, page, headers=headers))) as peer,
        client_for(peer, max_retries=0) as client,
    ):
        with pytest.raises(ServerError) as info:
            await client.models()
    err = info.value
    assert err.status == 502
    assert err.body == page
    assert "HTTP 502" in err.message and "502 Bad Gateway" in err.message


async def test_protocol_error_body_is_parsed() -> None:
    """Fake peer: a 422 with the protocol's error body, naming the bad field (the real
    server's wording may differ, so the exact fields are injected here)."""
    body = {
        "error": {
            "message": "entry 3: h < l",
            "type": "invalid_request_error",
            "code": "invalid_entry",
            "param": "data[3].h",
        }
    }
    async with FakePeer(replies(http_response(422, body))) as peer, client_for(peer) as client:
        with pytest.raises(UnprocessableEntityError) as info:
            await client.sessions.push("s1", [{"o": 1, "h": 0, "l": 2, "c": 1, "v": 1}])
    err = info.value
    assert (err.status, err.message, err.code, err.param, err.error_type) == (
        422,
        "entry 3: h < l",
        "invalid_entry",
        "data[3].h",
        "invalid_request_error",
    )
    assert err.body == body


async def test_truncated_body_is_connection_error() -> None:
    """Fake peer: promises 400 bytes, sends 20, hangs up - a crash mid-response."""

    async def handler(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(200, '{"text": "partial an', content_length=400))
        await writer.drain()
        writer.close()

    async with FakePeer(handler) as peer, client_for(peer) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.sessions.query("s1", prompt="hi")
    assert len(peer.requests) == 1  # generate is never retried
    assert "POST /v1/sessions/s1/generate" in str(info.value)


async def test_429_retry_after_is_honoured_on_get() -> None:
    """Fake peer: 429 with Retry-After: 1 then success; the real server only rate-limits
    under load we cannot produce deterministically."""
    limited = http_response(
        429, {"error": {"message": "slow down", "type": "rate_limit"}}, headers={"Retry-After": "1"}
    )
    async with (
        FakePeer(replies(limited, http_response(200, {"status": "ok"}))) as peer,
        client_for(peer) as client,
    ):
        health = await client.health(max_retries=2)
    assert health.status == "ok"
    assert len(peer.requests) == 2
    gap = peer.requests[1].received_at - peer.requests[0].received_at
    assert gap >= 0.95, f"retried after {gap:.3f}s despite Retry-After: 1"


async def test_429_with_retry_after_beyond_deadline_fails_fast() -> None:
    """Fake peer: 429 with Retry-After: 30 while the call has a 2 s timeout; the client
    must raise RateLimitError (with retry_after) at once rather than sleep past it."""
    limited = http_response(429, {"error": {"message": "busy"}}, headers={"Retry-After": "30"})
    async with FakePeer(replies(limited)) as peer, client_for(peer) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RateLimitError) as info:
            await client.sessions.list(timeout=2)
        elapsed = loop.time() - started
    assert info.value.retry_after == 30
    assert elapsed < 1.0
    assert len(peer.requests) == 1


async def test_5xx_retried_on_get_and_delete() -> None:
    """Fake peer: 500, 503, then success - a flaky server; GET and DELETE are idempotent
    so the client retries them with backoff."""
    fail = http_response(500, {"error": {"message": "boom"}})
    unavailable = http_response(503, "not ready", headers={"Content-Type": "text/plain"})
    async with (
        FakePeer(replies(fail, unavailable, http_response(200, STATUS_OK))) as peer,
        client_for(peer) as client,
    ):
        status = await client.sessions.stream_status("s1")
    assert status.streaming.queue_capacity == 1024
    assert [r.method for r in peer.requests] == ["GET", "GET", "GET"]

    ok = http_response(200, {"success": True})
    async with FakePeer(replies(fail, ok)) as peer, client_for(peer) as client:
        result = await client.sessions.delete("s1")
    assert result.success is True
    assert [r.method for r in peer.requests] == ["DELETE", "DELETE"]


async def test_5xx_not_retried_on_push_or_generate() -> None:
    """Fake peer: always 500. push and generate are not idempotent: exactly one request
    each must reach the server, never a retry that could ingest data twice."""
    fail = http_response(500, {"error": {"message": "boom"}})
    async with FakePeer(replies(fail)) as peer, client_for(peer, max_retries=5) as client:
        with pytest.raises(ServerError):
            await client.sessions.push("s1", [{"o": 1, "h": 1, "l": 1, "c": 1, "v": 1}])
        with pytest.raises(ServerError):
            await client.sessions.query("s1", prompt="x")
    assert [(r.method, r.path) for r in peer.requests] == [
        ("POST", "/v1/sessions/s1/stream/push"),
        ("POST", "/v1/sessions/s1/generate"),
    ]


async def test_retries_exhausted_raise_last_error() -> None:
    """Fake peer: permanently 503 (a server stuck loading)."""
    stuck = http_response(
        503, {"error": {"message": "model loading"}}, headers={"Retry-After": "0"}
    )
    async with FakePeer(replies(stuck)) as peer, client_for(peer, max_retries=3) as client:
        with pytest.raises(ServiceUnavailableError, match="model loading"):
            await client.sessions.list()
    assert len(peer.requests) == 4


async def test_connect_error_retried_on_get_only() -> None:
    """No peer at all (a closed port): GET retries then raises APIConnectionError."""
    async with FakePeer(replies(b"")) as peer:
        url = peer.url
    async with LayerScale(url, backoff=FAST, max_retries=2) as client:
        with pytest.raises(APIConnectionError):
            await client.models()
        with pytest.raises(APIConnectionError):
            await client.sessions.push("s", [])


async def test_per_call_timeout_and_client_default() -> None:
    """Fake peer: accepts the request and never answers (a hung server)."""

    async def hang(req: FakeRequest, reader: asyncio.StreamReader, writer: object) -> None:
        await asyncio.Event().wait()

    async with FakePeer(hang) as peer:
        async with client_for(peer, max_retries=0) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(APITimeoutError, match=r"timed out after 0\.3"):
                await client.sessions.query("s", prompt="x", timeout=0.3)
            assert 0.25 < loop.time() - started < 2.0
        async with client_for(peer, timeout=0.2, max_retries=0) as client:
            with pytest.raises(APITimeoutError):
                await client.models()
    assert isinstance(APITimeoutError("x"), LayerScaleError)


async def test_timeout_zero_disables() -> None:
    """Fake peer: answers only after 0.5 s; with timeout=0 the client must wait for it."""

    async def slow(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.5)  # the injected fault: a slow server
        writer.write(http_response(200, {"status": "ok"}))

    async with FakePeer(slow) as peer, client_for(peer, timeout=0) as client:
        assert client.timeout is None
        assert (await client.health()).status == "ok"
        with pytest.raises(APITimeoutError):
            await client.health(timeout=0.1)


async def test_cancellation_aborts_request() -> None:
    """Fake peer: never answers; cancelling the caller's task must end the call at once and
    drop the connection (the peer sees the disconnect)."""

    async def hang(req: FakeRequest, reader: asyncio.StreamReader, writer: object) -> None:
        await wait_disconnect(reader)

    async with FakePeer(hang) as peer, client_for(peer) as client:
        task = asyncio.create_task(client.sessions.query("s", prompt="x"))
        await wait_for(lambda: len(peer.requests) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(peer.disconnected.wait(), 5)


async def test_key_only_in_header_and_never_in_errors_or_reprs() -> None:
    """Fake peer: echoes the Authorization header back inside a 401 error message - a
    careless server; the key must still not appear in the exception or any repr."""

    async def echo(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
        auth = req.headers.get("authorization", "")
        writer.write(http_response(401, {"error": {"message": f"bad key {auth}"}}))

    async with FakePeer(echo) as peer:
        client = client_for(peer)
        async with client:
            with pytest.raises(AuthenticationError) as info:
                await client.sessions.get("s1")
            text = " ".join(
                [
                    str(info.value),
                    repr(info.value),
                    json.dumps(info.value.body),
                    repr(client),
                    repr(client.sessions.stream("s1")),
                ]
            )
    assert KEY not in text
    assert "***" in str(info.value)
    req = peer.requests[0]
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in req.path


async def test_redirect_is_not_followed_to_another_origin() -> None:
    """Fake peers: one redirects to a second origin; the key must never reach the second."""

    async def target(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(200, {"status": "ok"}))

    async with FakePeer(target) as other:
        redirect = http_response(307, b"", headers={"Location": f"{other.url}/v1/health"})
        async with FakePeer(replies(redirect)) as peer, client_for(peer) as client:
            with pytest.raises(LayerScaleError) as info:
                await client.health()
    assert info.value.status == 307
    assert other.requests == []


async def test_session_id_cannot_escape_its_path_segment() -> None:
    """Fake peer: records paths; a hostile session id must stay one encoded segment."""
    async with (
        FakePeer(replies(http_response(404, {"error": {"message": "nope"}}))) as peer,
        client_for(peer) as client,
    ):
        with pytest.raises(NotFoundError):
            await client.sessions.get("../../v1/models?x=1#frag")
    assert peer.requests[0].path == "/v1/sessions/..%2F..%2Fv1%2Fmodels%3Fx%3D1%23frag/state"


async def test_health_while_loading() -> None:
    """Fake peer: a server still loading its model (503 + health body). The real server is
    only in that state for a moment at start-up, too briefly to test against."""
    loading = http_response(503, {"status": "loading", "uptime": 0.2})
    async with FakePeer(replies(loading)) as peer, client_for(peer) as client:
        with pytest.raises(ServiceUnavailableError) as info:
            await client.health()
    assert info.value.message == "server not ready (status: loading)"
    assert info.value.body == {"status": "loading", "uptime": 0.2}
    assert len(peer.requests) == 1  # a probe reports the state now, it does not retry


async def test_create_with_mark_prefix_failure_deletes_the_new_session() -> None:
    """Fake peer: init succeeds, mark_prefix fails with 500 (a server fault we cannot make
    the real one produce); the half-made session must be deleted, the error raised."""
    init = {
        "session_id": "s9",
        "type": "ohlcv",
        "n_tokens": 3,
        "context": 512,
        "window_size": 0,
        "flash_queries": 0,
        "pos_max": 2,
    }

    async def handler(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
        if req.path.endswith("/init"):
            writer.write(http_response(200, init))
        elif req.path.endswith("/mark_prefix"):
            writer.write(http_response(500, {"error": {"message": "decode failed"}}))
        else:
            writer.write(http_response(200, {"success": True}))

    async with FakePeer(handler) as peer, client_for(peer) as client:
        with pytest.raises(ServerError, match="decode failed"):
            await client.sessions.create(type="ohlcv", prompt="p", mark_prefix=True)
    assert [(r.method, r.path) for r in peer.requests] == [
        ("POST", "/v1/sessions/init"),
        ("POST", "/v1/sessions/s9/mark_prefix"),
        ("DELETE", "/v1/sessions/s9"),
    ]
    assert peer.requests[0].json() == {"type": "ohlcv", "prompt": "p"}  # no client-only keys


def test_backoff_and_retry_after_parsing() -> None:
    """Pure functions, no peer: the delay schedule and both Retry-After forms."""
    import random

    from app.api.backoff import Backoff, parse_retry_after

    b = Backoff(base=0.5, cap=4.0, jitter=0.5)
    rng = random.Random(1)
    delays = [b.delay(n, rng) for n in range(8)]
    assert all(0.25 <= d <= 0.5 for d in delays[:1])
    assert all(d <= 4.0 for d in delays) and max(delays) > 2.0
    assert Backoff(jitter=0.0).delay(2) == 2.0
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0
