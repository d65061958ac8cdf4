"""The client against both API generations of the bundled server (`--api 1` and `--api 2`).

Parametrized tests (`generation`) run once per generation through the common surface;
the generation-2 rules (SSE type from the `event:` line, push_ack ordering, the 16 MiB
frame limit, the polite close, GET-only retries, 409 on a busy delete, the session
header, /metrics) are pinned against the real gen-2 server, except where a test says it
injects a fault through a loopback peer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from app.api import Backoff, LayerScale
from app.api.errors import (
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    NotOfferedError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from app.api.gen2_ws import Gen2SessionSocket, split_lines
from app.api.generation import GEN1, GEN2, Generation
from app.api.metrics import Metrics
from app.api.models import ConnectedEvent, DataUpdatedEvent, PongEvent, PushAckEvent
from app.api.ws import SocketOptions
from app.core import per_generation
from tests.api.fakes import FakePeer, FakeRequest, http_response
from tests.api.live import CANDLES, any_session, push_candles, until
from tests.conftest import GEN2_KEY, TEST_KEY
from tests.support.server import RunningServer, free_port, start_server

pytestmark = pytest.mark.anyio

GEN2_HEALTH = {"status": "ok", "uptime_ms": 5, "queued": 0, "running": 0}


class Recorder:
    """Every request the client's own httpx client sends (method, path, headers, body)."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.sent.append(request)

    def methods(self) -> list[str]:
        return [r.method for r in self.sent]


def recorded_client(url: str, recorder: Recorder, **kw: Any) -> LayerScale:
    http = httpx.AsyncClient(base_url=url, event_hooks={"request": [recorder]},
                             timeout=httpx.Timeout(None, connect=10.0), follow_redirects=False)
    return LayerScale(url, http_client=http, **kw)


def posts_in_log(server: RunningServer) -> int:
    return server.log().count("request started: POST")


# -- detection ---------------------------------------------------------------------------


async def test_detects_generation_with_reads_only(generation: int,
                                                  any_server: RunningServer) -> None:
    """The right generation, found with GETs only (the client's own record and the
    server's request log agree: no POST), then cached for the connection."""
    rec = Recorder()
    posts_before = posts_in_log(any_server)
    async with recorded_client(any_server.url, rec, api_key=None) as client:
        found = await client.detect()
        assert found.generation is Generation(generation)
        assert client.capabilities is (GEN2 if generation == 2 else GEN1)
        assert rec.sent and set(rec.methods()) == {"GET"}
        probes = len(rec.sent)
        assert await client.generation() is Generation(generation)
        await client.surface()
        assert len(rec.sent) == probes and client.detections == 1  # cached
    assert posts_in_log(any_server) == posts_before


async def test_detection_without_a_key_on_keyed_servers(keyed_server: RunningServer,
                                                        gen2_keyed_server: RunningServer) -> None:
    """Under a licence key the probes that need it answer 401; detection still tells
    (gen 2 by its open /health counters, gen 1 by its health without them)."""
    async with LayerScale(keyed_server.url, api_key="") as c1, \
            LayerScale(gen2_keyed_server.url, api_key="") as c2:
        assert await c1.generation() is Generation.V1
        assert await c2.generation() is Generation.V2
        with pytest.raises(AuthenticationError):
            await (await c2.surface()).list_sessions()
    async with LayerScale(gen2_keyed_server.url, api_key=GEN2_KEY) as c2, \
            LayerScale(keyed_server.url, api_key=TEST_KEY) as c1:
        assert isinstance(await (await c2.surface()).list_sessions(), list)
        assert isinstance(await (await c1.surface()).list_sessions(), list)
        metrics = await c2.v2.metrics()
        assert len(metrics) > 0


async def test_detection_runs_again_after_a_reconnect(tmp_path: Any) -> None:
    """Same address, server replaced by one of the other generation: the lost connection
    drops the cached answer and the next detection finds the new generation."""
    port = free_port()
    first = start_server(tmp_path, port=port, extra_args=["--ctx-size", "1024",
                                                          "--pool-size", "2"])
    client = LayerScale(first.url, api_key=None, max_retries=0)
    try:
        assert await client.generation() is Generation.V1
        first.stop()
        with pytest.raises(APIConnectionError):
            await client.health()
        assert client.detection is None  # forgotten when the server could not be reached
        second = start_server(tmp_path, port=port, extra_args=["--api", "2", "--ctx-size",
                                                               "1024", "--pool-size", "2"])
        try:
            assert await client.generation() is Generation.V2
            assert client.detections == 2
        finally:
            second.stop()
    finally:
        first.stop()
        await client.aclose()


# -- the common surface ------------------------------------------------------------------


async def test_common_surface_sessions_flash_ask_events(generation: int,
                                                        any_server: RunningServer) -> None:
    """List, get, flash add/list/remove, a prompt question, SSE and WebSocket events:
    the same calls and models against either generation."""
    async with LayerScale(any_server.url, api_key=None) as client:
        surface = await client.surface()
        health = await surface.health()
        assert health.ready and (bool(health.counters) == (generation == 2))
        assert await surface.model_name()
        async with any_session(client, generation) as sid:
            listed = {s.id: s for s in await surface.list_sessions()}
            assert sid in listed and not listed[sid].busy
            if generation == 2:
                assert listed[sid].kv_tokens is not None and listed[sid].window == 1024
                assert listed[sid].context is None
            else:
                assert listed[sid].context == 2048 and listed[sid].kv_tokens is None
            qid = await surface.add_flash(sid, "Is the trend up? Answer yes or no.", 4)
            await push_candles(client, generation, sid, CANDLES)
            answered: list[Any] = []

            async def flash_answered() -> bool:
                listing = await surface.list_flash(sid)
                answered[:] = [q for q in listing.queries if q.value is not None]
                return bool(answered)

            await until(flash_answered, timeout=120)
            assert answered[0].id == qid and answered[0].data_version >= 1
            answer = await surface.ask(sid, "Answer in one word: is the close rising?",
                                       max_tokens=3)
            assert answer.text and answer.data_version is not None
            async with surface.events(sid) as events:
                first = await anext(events)
                assert isinstance(first, ConnectedEvent) and first.data_version >= 1
            stream = surface.reconnecting_stream(sid)
            async with stream:
                event = await anext(stream)
                assert isinstance(event, ConnectedEvent)
            assert await surface.remove_flash(sid, qid) == 0
            assert (await surface.get_session(sid)).id == sid
        with pytest.raises(NotFoundError):
            await surface.get_session(sid)


# -- generation 2's own rules --------------------------------------------------------------


async def test_gen2_sse_type_comes_from_the_event_line(gen2_server: RunningServer) -> None:
    """The raw stream names the event only on `event:` (no `type` in the payload); the
    client's typed event has it."""
    async with LayerScale(gen2_server.url) as client:
        await client.detect()
        async with any_session(client, 2) as sid:
            async with httpx.AsyncClient(base_url=gen2_server.url, timeout=30) as raw, \
                    raw.stream("GET", f"/v1/sessions/{sid}/events") as response:
                lines: list[str] = []
                async for line in response.aiter_lines():
                    if not line:
                        break
                    lines.append(line)
            assert lines[0] == "event: connected"
            payload = json.loads(lines[1].removeprefix("data:").strip())
            assert "type" not in payload and payload["session_id"] == sid
            async with client.v2.sessions.events(sid) as events:
                typed = await anext(events)
            assert isinstance(typed, ConnectedEvent) and typed.session_id == sid


async def test_gen2_ws_push_ack_before_the_events_it_causes(gen2_server: RunningServer) -> None:
    async with LayerScale(gen2_server.url) as client:
        await client.detect()
        async with any_session(client, 2) as sid, client.v2.sessions.stream(sid) as ws:
            assert isinstance(await ws.recv(), ConnectedEvent)
            await ws.push(["2024-01-01 00:00 o=1 h=2 l=0.5 c=1.5 v=10\n"])
            assert ws.awaiting_acks == 1
            seen: list[Any] = []
            while not any(isinstance(e, DataUpdatedEvent) for e in seen):
                seen.append(await ws.recv())
            kinds = [e.type for e in seen]
            assert kinds.index("push_ack") < kinds.index("data_updated")
            ack = seen[kinds.index("push_ack")]
            assert isinstance(ack, PushAckEvent) and ack.pushed == 1 and ack.total_pushed == 1
            assert ws.awaiting_acks == 0


async def test_gen2_ws_frame_limit_is_kept_client_side(gen2_server: RunningServer) -> None:
    """A push over 16 MiB is refused before sending (the server would drop the socket
    without a word); the socket stays up, and split_lines makes pushes that fit."""
    big = ["x" * (1024 * 1024)] * 17
    async with LayerScale(gen2_server.url) as client:
        await client.detect()
        async with any_session(client, 2) as sid, client.v2.sessions.stream(sid) as ws:
            await ws.recv()
            with pytest.raises(PayloadTooLargeError, match="16777216-byte frame limit"):
                await ws.push(big)
            assert ws.awaiting_acks == 0 and ws.is_open
            await ws.ping()
            assert isinstance(await ws.recv(), PongEvent)
    batches = split_lines(big)
    assert [len(b) for b in batches] == [15, 2]
    assert [line for b in batches for line in b] == big


async def test_gen2_graceful_close_sends_close_first() -> None:
    """Needs a peer that records what the client sends before its close frame: a real
    `websockets` server on loopback standing in for the LayerScale one."""
    received: list[str] = []
    closed = asyncio.Event()

    async def handler(conn: ServerConnection) -> None:
        await conn.send(json.dumps({"type": "connected", "data": {
            "session_id": "s", "data_version": 0, "flash_queries": 0}}))
        try:
            async for message in conn:
                received.append(str(message))
        finally:
            closed.set()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        ws = Gen2SessionSocket(f"ws://127.0.0.1:{port}/v1/sessions/s/ws", {},
                               options=SocketOptions())
        async with ws:
            assert isinstance(await ws.recv(), ConnectedEvent)
            await ws.push("hello")
        await asyncio.wait_for(closed.wait(), 10)
    assert [json.loads(m) for m in received] == [{"type": "push", "data": "hello"},
                                                 {"type": "close"}]
    assert ws.close_code == 1000


async def test_gen2_retries_gets_only_and_never_409() -> None:
    """Fault injection (the real server cannot be told to answer 503 "holding too many
    request bodies" or 409 on demand): generation 2 retries that 503 on a GET only, and
    never a 409, where generation 1 retries a 409'd DELETE."""
    transient = {"error": {"message": "server is holding too many request bodies",
                           "type": "server_error"}}
    conflict = {"error": {"message": "session is busy", "type": "conflict"}}
    counts: dict[str, int] = {}

    async def handler(req: FakeRequest, _r: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        key = f"{req.method} {req.path}"
        counts[key] = counts.get(key, 0) + 1
        if req.path == "/health":
            writer.write(http_response(200, GEN2_HEALTH))
        elif req.method == "GET" and req.path == "/v1/sessions" and counts[key] == 1:
            writer.write(http_response(503, transient))
        elif req.path == "/v1/sessions":
            writer.write(http_response(200, {"object": "list", "data": []}))
        elif req.path == "/v1/sessions/a/flash":
            writer.write(http_response(409, conflict))
        else:
            writer.write(http_response(503, transient))

    async with FakePeer(handler) as peer, \
            LayerScale(peer.url, backoff=Backoff(base=0.01, cap=0.02), timeout=10) as client:
        assert await client.generation() is Generation.V2
        assert (await client.v2.sessions.list()).data == []
        assert counts["GET /v1/sessions"] == 2  # the transient 503 was tried again
        with pytest.raises(ConflictError):
            await client.v2.sessions.list_flash("a")
        assert counts["GET /v1/sessions/a/flash"] == 1  # a 409 never
        with pytest.raises(ServiceUnavailableError):
            await client.v2.sessions.delete("b")
        assert counts["DELETE /v1/sessions/b"] == 1  # not a GET: sent once
        with pytest.raises(ServiceUnavailableError):
            await client.v2.sessions.push("b", "text")
        assert counts["POST /v1/sessions/b/push"] == 1


async def test_gen2_delete_while_busy_is_409_then_retried(gen2_server: RunningServer) -> None:
    """A delete during a running generation: the client's ConflictError says why, and the
    dashboard's delete tries again until the generation ends."""
    rec = Recorder()
    async with recorded_client(gen2_server.url, rec) as client:
        await client.detect()
        sid = (await client.v2.sessions.create()).id
        await client.v2.sessions.push(sid, "The weather today is", wait=True)
        # A counting prompt keeps a small model going (the gen-2 server has no ignore_eos).
        gen = client.v2.sessions.generate_stream(
            sid, "Count from 1 to 500, separated by commas: 1, 2, 3, 4, 5,", max_tokens=400)
        try:
            assert (await anext(gen)).text is not None  # running now
            with pytest.raises(ConflictError, match="busy"):
                await client.v2.sessions.delete(sid)
            deleting = asyncio.ensure_future(per_generation.delete_session(client, sid))
            await until(lambda: sum(r.method == "DELETE" for r in rec.sent) >= 2, 30)
        finally:
            await gen.aclose()
        await asyncio.wait_for(deleting, 60)
        assert sum(r.method == "DELETE" for r in rec.sent) >= 3  # refused, refused, done
        with pytest.raises(NotFoundError):
            await client.v2.sessions.get(sid)


async def test_gen2_session_turn_uses_the_header(gen2_server: RunningServer) -> None:
    """`chat(session_id=...)` on generation 2 sends x-layerscale-session-id (the server
    refuses the body field), and the turn lands in the session."""
    rec = Recorder()
    async with recorded_client(gen2_server.url, rec) as client, any_session(client, 2) as sid:
        chat = await client.chat([{"role": "user", "content": "Hi"}], max_tokens=2,
                                 session_id=sid)
        assert chat.choices[0].message.role == "assistant"
        sent = next(r for r in rec.sent if r.url.path == "/v1/chat/completions")
        assert sent.headers["x-layerscale-session-id"] == sid
        assert "session_id" not in json.loads(sent.content)
        assert (await client.v2.sessions.get(sid)).turns == 1
        count = await client.v2.count_tokens([{"role": "user", "content": "Hi there"}])
        assert count.input_tokens > 0


async def test_gen2_metrics_read_with_prometheus_parser(gen2_server: RunningServer) -> None:
    async with LayerScale(gen2_server.url) as client:
        metrics = await client.v2.metrics()
    assert isinstance(metrics, Metrics) and metrics.names()
    assert all(isinstance(v, float) for v in metrics.scalars().values())
    text = ('# HELP x_total things\n# TYPE x_total counter\nx_total{route="/a b"} 3\n'
            'y 1.5\n')
    parsed = Metrics.parse(text)
    assert parsed.value("x_total", {"route": "/a b"}) == 3.0 and parsed.value("y") == 1.5


async def test_session_query_is_one_call_on_both(generation: int,
                                                 any_server: RunningServer) -> None:
    """`sessions.query` / `query_stream` (what the query console uses) answer with the same
    models on either generation; generation 2 takes a prompt only."""
    async with LayerScale(any_server.url, api_key=None) as client:
        await client.detect()
        async with any_session(client, generation) as sid:
            await push_candles(client, generation, sid, CANDLES[:2])
            answer = await client.sessions.query(sid, prompt="Up or down?", max_tokens=3)
            assert answer.text and answer.n_tokens >= 1
            chunks = [c async for c in client.sessions.query_stream(
                sid, prompt="Up or down?", max_tokens=3)]
            assert chunks[-1].done and chunks[-1].n_tokens >= 1
            assert "".join(c.token or "" for c in chunks[:-1]).strip()
            if generation == 2:
                with pytest.raises(NotOfferedError):
                    await client.sessions.query(sid, messages=[{"role": "user",
                                                                "content": "Hi"}])


async def test_sse_events_resubscribe_until_the_session_is_gone(
        generation: int, any_server: RunningServer) -> None:
    """The server ends the event stream when the session is deleted: the reconnecting
    subscription tries again, is told 404, and ends for good with NotFoundError."""
    states: list[str] = []
    async with LayerScale(any_server.url, api_key=None) as client:
        surface = await client.surface()
        async with any_session(client, generation) as sid:
            events = surface.reconnecting_events(
                sid, on_state=lambda s: states.append(s.status),
                backoff=Backoff(base=0.05, cap=0.2))
            seen: list[Any] = []

            async def read() -> None:
                async for event in events:
                    seen.append(event)

            reader = asyncio.ensure_future(read())
            await until(lambda: seen and isinstance(seen[0], ConnectedEvent), 30)
            await surface.delete_session(sid)
            await asyncio.wait_for(reader, 60)
    assert isinstance(events.final_error, NotFoundError) and events.subscriptions == 1
    assert states[:2] == ["connecting", "open"] and states[-1] == "closed"


async def test_sse_events_resubscribe_after_the_stream_ends() -> None:
    """Fault injection (the real server ends a stream only when it stops or the session
    goes): a peer that ends each subscription after a few events; the subscriber comes
    back, starting again from `connected` each time, and stops at the 404."""
    served = 0

    async def handler(req: FakeRequest, _r: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        nonlocal served
        if req.path == "/health":
            writer.write(http_response(200, GEN2_HEALTH))
            return
        served += 1
        if served > 2:
            writer.write(http_response(404, {"error": {"message": "no such session",
                                                       "type": "not_found_error"}}))
            return
        connected = {"session_id": "s", "data_version": served, "flash_queries": 0}
        updated = {"data_version": served + 1, "tokens": 5, "pending": 0}
        body = (f"event: connected\ndata: {json.dumps(connected)}\n\n"
                f"event: data_updated\ndata: {json.dumps(updated)}\n\n")
        writer.write(http_response(200, body, headers={"Content-Type": "text/event-stream"}))

    async with FakePeer(handler) as peer, LayerScale(peer.url) as client:
        surface = await client.surface()
        events = surface.reconnecting_events("s", backoff=Backoff(base=0.01, cap=0.02))
        kinds = [(e.type, e.data_version) async for e in events]
    assert kinds == [("connected", 1), ("data_updated", 2), ("connected", 2),
                     ("data_updated", 3)]
    assert events.subscriptions == 2 and isinstance(events.final_error, NotFoundError)
