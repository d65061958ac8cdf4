"""Streaming, WebSockets and cancellation against the real bundled server on loopback."""

from __future__ import annotations

import asyncio

import pytest

from app.api import LayerScale, LinkState
from app.api.errors import APITimeoutError, AuthenticationError, NotFoundError
from app.api.models import (
    ConnectedEvent,
    DataUpdatedEvent,
    FlashReadyEvent,
    PongEvent,
    PushAckEvent,
    SessionEvent,
)
from tests.api.live import CANDLES, session, until
from tests.conftest import TEST_KEY
from tests.support.server import RunningServer

pytestmark = pytest.mark.anyio


async def _next_of(stream, kind: type, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        async for event in stream:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"stream ended before a {kind.__name__}")


async def test_query_stream_tokens_then_done(local_server: RunningServer) -> None:
    async with (
        LayerScale(local_server.url) as client,
        session(client, prompt="Answer briefly.") as info,
    ):
        chunks = [
            c
            async for c in client.sessions.query_stream(
                info.session_id, prompt="Name a colour.", max_tokens=6
            )
        ]
    tokens, final = chunks[:-1], chunks[-1]
    assert final.done and final.n_tokens == len(tokens) and 1 <= len(tokens) <= 6
    assert all(not c.done and c.token is not None for c in tokens)
    assert final.text == "".join(c.token or "" for c in tokens)
    assert final.finish_reason in {"stop", "length"}


async def test_sse_events_connected_data_updated_flash_ready(local_server: RunningServer) -> None:
    async with (
        LayerScale(local_server.url) as client,
        session(
            client, prompt="Analyst.", flash=[{"query": "Up or down?", "max_tokens": 4}]
        ) as info,
    ):
        sid = info.session_id
        async with client.sessions.events(sid) as events:
            connected = await _next_of(events, ConnectedEvent)
            await client.sessions.push(sid, CANDLES[:2])
            updated = await _next_of(events, DataUpdatedEvent)
            ready = await _next_of(events, FlashReadyEvent)
    assert connected.data_version is not None
    assert updated.data_version > connected.data_version and updated.data_count >= 1
    assert ready.query == "Up or down?" and isinstance(ready.value, str)
    assert ready.confidence is not None and ready.confidence >= 0


async def test_websocket_push_ack_update_pong(local_server: RunningServer) -> None:
    async with (
        LayerScale(local_server.url) as client,
        session(client, prompt="Candles.") as info,
    ):
        async with client.sessions.stream(info.session_id) as ws:
            connected = await asyncio.wait_for(ws.recv(), 10)
            await ws.push(CANDLES[:3])
            ack = await _next_of(ws, PushAckEvent)
            updated = await _next_of(ws, DataUpdatedEvent)
            await ws.ping()
            pong = await _next_of(ws, PongEvent)
        status = await client.sessions.stream_status(info.session_id)
    assert isinstance(connected, ConnectedEvent) and connected.session_id == info.session_id
    assert ack.pushed == 3 and ack.dropped == 0
    assert updated.data_count is not None and updated.data_count >= 1
    assert isinstance(pong, PongEvent)
    assert status.statistics.total_enqueued == 3


async def test_reconnecting_stream_live_then_session_deleted(local_server: RunningServer) -> None:
    """The long-lived stream delivers events, then stops for good (no reconnect storm)
    when its session is deleted."""
    states: list[LinkState] = []
    async with (
        LayerScale(local_server.url) as client,
        session(client, prompt="Candles.") as info,
    ):
        stream = client.sessions.reconnecting_stream(info.session_id, on_state=states.append)
        async with stream:
            await stream.wait_open(15)
            await stream.push(CANDLES[:2])
            seen: list[SessionEvent] = []
            async with asyncio.timeout(30):
                async for event in stream:
                    seen.append(event)
                    if isinstance(event, DataUpdatedEvent):
                        break
            await client.sessions.delete(info.session_id)
            async with asyncio.timeout(30):
                rest = [e async for e in stream]
    kinds = [type(e) for e in seen]
    assert kinds[0] is ConnectedEvent and PushAckEvent in kinds
    assert states[-1].status == "closed"
    assert "not found" in (states[-1].reason or "")
    assert isinstance(stream.final_error, NotFoundError)
    assert all(not isinstance(e, ConnectedEvent) for e in rest)  # never reconnected for real
    assert [s.status for s in states].count("open") <= 2


async def test_websocket_auth_on_keyed_server(keyed_server: RunningServer) -> None:
    states: list[LinkState] = []
    async with (
        LayerScale(keyed_server.url, api_key=TEST_KEY) as client,
        session(client) as info,
    ):
        async with LayerScale(keyed_server.url, api_key="LS-bad-key-123") as wrong:
            stream = wrong.sessions.reconnecting_stream(info.session_id, on_state=states.append)
            async with stream:
                assert await asyncio.wait_for(_all(stream), 15) == []
            with pytest.raises(AuthenticationError):
                async with wrong.sessions.stream(info.session_id) as ws:
                    await ws.recv()
        async with client.sessions.stream(info.session_id) as ws:
            assert isinstance(await asyncio.wait_for(ws.recv(), 10), ConnectedEvent)
    assert states[-1].status == "closed" and "authentication failed" in (states[-1].reason or "")
    assert "LS-bad-key-123" not in repr(states)
    assert isinstance(stream.final_error, AuthenticationError)


async def test_cancelling_a_generation_frees_the_session(local_server: RunningServer) -> None:
    """Cancelling the consumer of a streamed generation closes the response; the server
    notices, stops generating and the session is usable again."""
    async with (
        LayerScale(local_server.url) as client,
        session(client, prompt="Write long stories.") as info,
    ):
        sid = info.session_id
        first = asyncio.Event()

        async def consume() -> None:
            async for chunk in client.sessions.query_stream(
                sid, prompt="Once upon a time", max_tokens=256
            ):
                if chunk.token:
                    first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        async def idle() -> bool:
            return not (await client.sessions.get(sid)).in_use

        await until(idle, timeout=30)
        again = await client.sessions.query(sid, prompt="Hi", max_tokens=2)
    assert again.n_tokens >= 1


async def test_per_call_timeout_on_long_generation(local_server: RunningServer) -> None:
    """A per-call timeout ends the wait at once; the (non-streaming) generation it abandoned
    finishes on the server, after which the session is free again."""
    async with (
        LayerScale(local_server.url) as client,
        session(client, prompt="Write long stories.") as info,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(APITimeoutError, match=r"timed out after 0\.1"):
            await client.sessions.query(
                info.session_id, prompt="Tell a saga", max_tokens=24, timeout=0.1
            )
        assert loop.time() - started < 1.5

        async def idle() -> bool:
            return not (await client.sessions.get(info.session_id)).in_use

        await until(idle, timeout=90)


async def _all(stream) -> list:  # type: ignore[no-untyped-def]
    return [e async for e in stream]
