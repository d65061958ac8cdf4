"""Fault injection over WebSocket: auth closes, dead peers, drops, bad frames.

The peers are deliberately misbehaving fakes (a scripted ``websockets`` server, or
a hand-rolled raw socket that completes the handshake and then goes silent): the
real bundled server cannot be told to close with 4401 mid-session, stop answering
pings, or send garbage frames.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from app.api import Backoff, LayerScale, LinkState, SocketOptions
from app.api.errors import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
)
from app.api.models import ConnectedEvent, DataUpdatedEvent, ErrorEvent, PongEvent, PushAckEvent
from tests.api.fakes import (
    FakePeer,
    FakeRequest,
    http_response,
    wait_for,
    ws_accept,
    ws_text_frame,
)

pytestmark = pytest.mark.anyio

KEY = "LS-ws-fault-secret"
FAST = Backoff(base=0.02, cap=0.1)
QUICK = SocketOptions(open_timeout=2, ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3)
CONNECTED = {
    "type": "connected",
    "data": {"session_id": "s1", "data_version": 0, "streaming": True, "flash_queries": 0},
}


class ScriptedWS:
    """A websockets server running ``script(ws, n)`` for the n-th connection (1-based)."""

    def __init__(
        self,
        script: Callable[[ServerConnection, int], Awaitable[None]],
        reject: int | None = None,
    ) -> None:
        self.script = script
        self.reject = reject
        self.connections = 0
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.url = ""

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.headers.append({k.lower(): v for k, v in request.headers.raw_items()})
        self.paths.append(request.path)
        if self.reject is not None:
            self.connections += 1
            return conn.respond(self.reject, "refused by fake\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        await self.script(ws, self.connections)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ScriptedWS]:
        async with serve(
            self._handler, "127.0.0.1", 0, process_request=self._process_request
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            yield self

    async def record(self, ws: ServerConnection) -> dict[str, Any]:
        message = json.loads(await ws.recv())
        self.received.append(message)
        return message


def recorder() -> tuple[list[LinkState], Callable[[LinkState], None]]:
    states: list[LinkState] = []
    return states, states.append


async def test_plain_socket_push_ping_and_auth_header() -> None:
    """Fake peer: answers push with push_ack and ping with pong, and records the upgrade
    request, so the exact wire format and header placement can be checked."""

    class Candle:  # anything with to_entry() is accepted, as the chart's Candle is
        def to_entry(self) -> dict[str, Any]:
            return {"o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10.0, "timestamp": 1.0}

    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps(CONNECTED))
        push = await fake.record(ws)
        await ws.send(
            json.dumps(
                {
                    "type": "push_ack",
                    "data": {"pushed": len(push["data"]), "dropped": 0, "queue_size": 2},
                }
            )
        )
        await fake.record(ws)
        await ws.send(json.dumps({"type": "pong"}))
        await ws.close(1000, "bye")

    fake = ScriptedWS(script)
    async with (
        fake.running(),
        LayerScale(fake.url, api_key=KEY) as client,
        client.sessions.stream("s1", options=QUICK) as ws,
    ):
        first = await ws.recv()
        await ws.push([Candle(), {"o": 1, "h": 1, "l": 1, "c": 1, "v": 1, "sym": "X"}])
        ack = await ws.recv()
        await ws.ping()
        rest = [e async for e in ws]
    assert isinstance(first, ConnectedEvent) and first.session_id == "s1"
    assert isinstance(ack, PushAckEvent) and ack.pushed == 2 and ack.queue_size == 2
    assert [type(e) for e in rest] == [PongEvent]
    assert fake.received == [
        {
            "type": "push",
            "data": [Candle().to_entry(), {"o": 1, "h": 1, "l": 1, "c": 1, "v": 1, "sym": "X"}],
        },
        {"type": "ping"},
    ]
    assert fake.headers[0]["authorization"] == f"Bearer {KEY}"
    assert fake.paths == ["/v1/sessions/s1/ws"]
    assert ws.close_code == 1000


async def test_plain_socket_close_4401_raises_authentication_error() -> None:
    """Fake peer: closes with 4401 after the connected frame (key revoked mid-session)."""

    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps(CONNECTED))
        await ws.close(4401, "invalid licence key")

    fake = ScriptedWS(script)
    async with fake.running(), LayerScale(fake.url, api_key=KEY) as client:
        ws = client.sessions.stream("s1", options=QUICK)
        async with ws:
            assert isinstance(await ws.recv(), ConnectedEvent)
            with pytest.raises(AuthenticationError, match="invalid licence key"):
                await ws.recv()
            with pytest.raises(AuthenticationError):  # sending on it says why it closed
                await ws.push([])
    assert ws.close_code == 4401


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        (4401, AuthenticationError, "authentication failed"),
        (4403, PermissionDeniedError, "permission denied"),
        (4404, NotFoundError, "session not found"),
    ],
)
async def test_reconnecting_stream_stops_for_good_on_terminal_close(
    code: int, error: type[Exception], words: str
) -> None:
    """Fake peer: closes with a terminal code (4401/4403/4404). The stream must not
    reconnect, must report `closed` with the reason, and end iteration."""

    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps(CONNECTED))
        await ws.close(code, "go away")

    fake = ScriptedWS(script)
    states, on_state = recorder()
    async with fake.running(), LayerScale(fake.url, api_key=KEY) as client:
        stream = client.sessions.reconnecting_stream(
            "s1", on_state=on_state, backoff=FAST, options=QUICK
        )
        async with stream:
            events = await asyncio.wait_for(_collect(stream), 10)
    assert [type(e) for e in events] == [ConnectedEvent]
    assert fake.connections == 1
    assert [s.status for s in states] == ["connecting", "open", "closed"]
    assert words in (states[-1].reason or "") and "go away" in (states[-1].reason or "")
    assert isinstance(stream.final_error, error)


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_reconnecting_stream_stops_on_refused_upgrade(status: int) -> None:
    """Fake peer: refuses the upgrade with 401/403/404 (what a proxy or a server without
    the local close codes does)."""

    async def script(ws: ServerConnection, n: int) -> None:  # never reached
        raise AssertionError

    fake = ScriptedWS(script, reject=status)
    states, on_state = recorder()
    async with fake.running(), LayerScale(fake.url, api_key=KEY) as client:
        stream = client.sessions.reconnecting_stream(
            "s1", on_state=on_state, backoff=FAST, options=QUICK
        )
        async with stream:
            assert await asyncio.wait_for(_collect(stream), 10) == []
    assert fake.connections == 1
    assert states[-1].status == "closed"
    assert stream.final_error is not None and stream.final_error.status == status
    assert KEY not in repr(states) + str(stream.final_error) + repr(stream)


async def test_dead_peer_detected_by_ping_timeout_and_reconnected() -> None:
    """Fake peer: completes the handshake, sends `connected`, then never reads again, so
    it never answers pings - a half-open connection (e.g. a suspended laptop's NAT).
    The stream must notice via ping timeout, say so, and reconnect."""

    async def silent(
        req: FakeRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(ws_accept(req) + ws_text_frame(CONNECTED))
        await writer.drain()
        await asyncio.Event().wait()  # the fault: go silent forever

    states, on_state = recorder()
    async with FakePeer(silent) as peer, LayerScale(peer.url, api_key=KEY) as client:
        stream = client.sessions.reconnecting_stream(
            "s1", on_state=on_state, backoff=FAST, options=QUICK
        )
        async with stream:
            first = await asyncio.wait_for(stream.__anext__(), 5)
            await wait_for(lambda: any(s.status == "reconnecting" for s in states), 10)
            dropped = next(s for s in states if s.status == "reconnecting")
            await wait_for(lambda: peer.connections >= 2, 10)
            second = await asyncio.wait_for(stream.__anext__(), 5)
    assert isinstance(first, ConnectedEvent) and isinstance(second, ConnectedEvent)
    assert "ping timeout" in (dropped.reason or "")
    assert dropped.retry_in is not None and 0 < dropped.retry_in <= FAST.cap
    assert [s.status for s in states[:4]] == ["connecting", "open", "reconnecting", "connecting"]
    assert states[-1].status == "closed" and states[-1].reason == "closed by client"


async def test_error_and_malformed_frames_surface_as_events() -> None:
    """Fake peer: sends a protocol `error` frame, then garbage, then a valid update; the
    reconnecting stream yields all three (garbage as a protocol_error event) and stays
    open, while the plain socket raises ProtocolError on the garbage."""

    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps(CONNECTED))
        await ws.send(
            json.dumps(
                {"type": "error", "data": {"message": "bad entry 2", "code": "invalid_entry"}}
            )
        )
        await ws.send("{{{ not json")
        await ws.send(
            json.dumps(
                {
                    "type": "data_updated",
                    "data": {"data_version": 3, "data_count": 3, "pos_next": 70},
                }
            )
        )
        await ws.wait_closed()

    fake = ScriptedWS(script)
    states, on_state = recorder()
    async with fake.running(), LayerScale(fake.url, api_key=KEY) as client:
        async with client.sessions.reconnecting_stream(
            "s1", on_state=on_state, backoff=FAST, options=QUICK
        ) as stream:
            events = [await asyncio.wait_for(stream.__anext__(), 5) for _ in range(4)]
            assert stream.is_open
        async with client.sessions.stream("s1", options=QUICK) as ws:
            await ws.recv()
            await ws.recv()
            with pytest.raises(ProtocolError, match="not valid JSON"):
                await ws.recv()
    assert [type(e) for e in events] == [ConnectedEvent, ErrorEvent, ErrorEvent, DataUpdatedEvent]
    assert events[1] == ErrorEvent(message="bad entry 2", code="invalid_entry")
    assert isinstance(events[2], ErrorEvent) and events[2].code == "protocol_error"
    assert [s.status for s in states] == ["connecting", "open", "closed"]


async def test_drop_never_resends_pushed_data() -> None:
    """Fake peer: drops the first connection right after a push arrives (1011). The push
    sent before the drop must not be sent again on the new connection; a push while
    the link is down raises APIConnectionError instead of being queued."""
    first_push = asyncio.Event()

    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps(CONNECTED))
        if n == 1:
            await fake.record(ws)
            first_push.set()
            await ws.close(1011, "internal error")
            return
        async for raw in ws:
            fake.received.append(json.loads(raw))

    fake = ScriptedWS(script)
    states, on_state = recorder()
    entry = {"o": 1, "h": 1, "l": 1, "c": 1, "v": 1}
    async with fake.running(), LayerScale(fake.url, api_key=KEY) as client:
        slow = Backoff(base=0.3, cap=0.3, jitter=0.0)
        async with client.sessions.reconnecting_stream(
            "s1", on_state=on_state, backoff=slow, options=QUICK
        ) as stream:
            await stream.wait_open(5)
            await stream.push([entry | {"timestamp": 1}])
            await asyncio.wait_for(first_push.wait(), 5)
            await wait_for(lambda: stream.state.status == "reconnecting", 5)
            with pytest.raises(APIConnectionError, match="reconnecting"):
                await stream.push([entry | {"timestamp": 2}])
            await stream.wait_open(5)
            await stream.push([entry | {"timestamp": 3}])
            await wait_for(lambda: len(fake.received) == 2, 5)
    stamps = [m["data"][0]["timestamp"] for m in fake.received]
    assert stamps == [1, 3]
    assert fake.connections == 2
    reconnecting = next(s for s in states if s.status == "reconnecting")
    assert "1011" in (reconnecting.reason or "")


async def test_backoff_is_capped_with_jitter_and_max_attempts() -> None:
    """No peer at all (a closed port): every attempt fails; retry_in must grow, stay under
    the cap, vary (jitter), and the stream gives up after max_attempts."""
    async with FakePeer(lambda *a: asyncio.sleep(0)) as peer:
        url = peer.url
    states, on_state = recorder()
    backoff = Backoff(base=0.01, cap=0.04, jitter=0.5)
    async with LayerScale(url, api_key=KEY) as client:
        stream = client.sessions.reconnecting_stream(
            "s1", on_state=on_state, backoff=backoff, max_attempts=6, options=QUICK
        )
        async with stream:
            assert await asyncio.wait_for(_collect(stream), 10) == []
    waits = [s for s in states if s.status == "reconnecting"]
    assert [s.attempt for s in waits] == [2, 3, 4, 5, 6]
    assert all(0 < s.retry_in <= 0.04 for s in waits if s.retry_in is not None)
    assert all(s.reason and "connect failed" in s.reason for s in waits)
    assert states[-1].status == "closed" and "gave up after 6 attempts" in (states[-1].reason or "")
    assert stream.final_error is None


async def _collect(stream: Any) -> list[Any]:
    return [e async for e in stream]


async def test_cross_origin_upgrade_redirect_drops_the_key() -> None:
    """Fake peers: the first answers the upgrade with 307 to a second origin, which refuses
    with 404. The key must not travel to the second origin."""

    async def other_handler(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(404, {"error": {"message": "no session here"}}))

    async with FakePeer(other_handler) as other:
        location = other.url.replace("http", "ws") + "/v1/sessions/s1/ws"

        async def redirect(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
            writer.write(http_response(307, b"", headers={"Location": location}))

        async with FakePeer(redirect) as peer, LayerScale(peer.url, api_key=KEY) as client:
            with pytest.raises(NotFoundError, match="no session here"):
                await client.sessions.stream("s1", options=QUICK).connect()
    assert peer.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert [r.path for r in other.requests] == ["/v1/sessions/s1/ws"]
    assert "authorization" not in other.requests[0].headers


async def test_bad_base_url_closes_stream_instead_of_hanging() -> None:
    """No peer: a base URL with an unsupported scheme must end the reconnecting stream
    with a reason (and end iteration), not kill its task silently."""
    states, on_state = recorder()
    async with LayerScale("ftp://127.0.0.1:1", api_key=KEY) as client:
        stream = client.sessions.reconnecting_stream("s1", on_state=on_state, options=QUICK)
        async with stream:
            assert await asyncio.wait_for(_collect(stream), 5) == []
    assert states[-1].status == "closed" and "unsupported URL scheme" in (states[-1].reason or "")
