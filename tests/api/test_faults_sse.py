"""Fault injection over SSE: truncated streams, odd framing, abandoned streams.

Each peer is a deliberately misbehaving raw-socket fake (tests/api/fakes.py): the
real server frames its streams one fixed way and never cuts them in half, so the
framing variants and failures the parser must survive are injected here.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from app.api import Backoff, LayerScale
from app.api.errors import (
    APIConnectionError,
    APITimeoutError,
    LayerScaleError,
    NotFoundError,
    ProtocolError,
)
from app.api.models import ConnectedEvent, DataUpdatedEvent, FlashReadyEvent, UnknownEvent
from app.api.sse import SSEDecoder
from tests.api.fakes import (
    FakePeer,
    FakeRequest,
    chunk,
    http_response,
    sse_head,
    wait_disconnect,
)

pytestmark = pytest.mark.anyio

FAST = Backoff(base=0.01, cap=0.05)


def streaming(*pieces: bytes | str, end: bool = True, hangup: bool = False):  # type: ignore[no-untyped-def]
    """Handler sending an SSE response in the given chunks; ``end`` sends the final chunk,
    ``hangup`` closes the socket abruptly afterwards (mid-body when ``end`` is False)."""

    async def handler(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
        writer.write(sse_head())
        for piece in pieces:
            writer.write(chunk(piece))
            await writer.drain()
        if end:
            writer.write(chunk(b""))
        if hangup:
            await writer.drain()
            writer.close()

    return handler


async def test_events_parse_multiline_names_comments_crlf() -> None:
    """Fake peer: frames events every legal way at once - CRLF and lone CR line ends,
    event names instead of a type field, comments, multi-line data, chunks split mid-line
    - which the real server (one fixed framing) never exercises."""
    connected = (
        'data: {"type": "connected",\r\ndata:  "data_version": 0, "flash_queries": 1}\r\n\r\n'
    )
    pieces = [
        ": keepalive\r\n\r\n",
        connected[:17],
        connected[17:],
        'event: data_updated\rdata: {"data_version": 1, "data_count": 5, "pos_next": 90}\r\r',
        ": keepalive\n",
        'event: flash_ready\ndata: {"id": 0, "query": "Up?", "value": " Yes",\n',
        'data: "data_version": 1, "confidence": 2.5, "evaluated_at": 1.0}\n\n',
        'data: {"type": "brand_new", "extra": [1]}\n\n',
    ]
    async with FakePeer(streaming(*pieces)) as peer, LayerScale(peer.url) as client:
        events = [e async for e in client.sessions.events("s1")]
    assert [type(e) for e in events] == [
        ConnectedEvent,
        DataUpdatedEvent,
        FlashReadyEvent,
        UnknownEvent,
    ]
    assert events[0].flash_queries == 1
    assert isinstance(events[1], DataUpdatedEvent) and events[1].data_count == 5
    assert isinstance(events[2], FlashReadyEvent) and events[2].value == " Yes"
    assert events[3].type == "brand_new" and events[3].extra == [1]  # type: ignore[attr-defined]
    assert peer.requests[0].headers.get("accept") == "text/event-stream"


async def test_generate_stream_truncated_without_done_is_protocol_error() -> None:
    """Fake peer: sends two tokens and ends the body cleanly but never the final
    done frame - a server that crashed between frames."""
    tokens = [
        'data: {"token": "Up", "pos": 1, "done": false}\n\n',
        'data: {"token": "!", "pos": 2, "done": false}\n\n',
    ]
    async with FakePeer(streaming(*tokens)) as peer, LayerScale(peer.url) as client:
        got: list[str] = []
        with pytest.raises(ProtocolError, match="final"):
            async for c in client.sessions.query_stream("s1", prompt="x"):
                got.append(c.token or "")
    assert got == ["Up", "!"]  # nothing already received is lost


async def test_stream_cut_mid_event_is_protocol_error() -> None:
    """Fake peer: the body ends in the middle of an event (no blank line)."""
    async with (
        FakePeer(
            streaming(
                'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n',
                'data: {"choices": [',
            )
        ) as peer,
        LayerScale(peer.url) as client,
    ):
        with pytest.raises(ProtocolError, match="middle of an event"):
            async for _ in client.chat_stream(messages=[{"role": "user", "content": "x"}]):
                pass


async def test_stream_connection_reset_is_connection_error() -> None:
    """Fake peer: hangs up mid-body without the terminating chunk (a killed server)."""
    async with (
        FakePeer(
            streaming('data: {"token": "a", "pos": 1, "done": false}\n\n', end=False, hangup=True)
        ) as peer,
        LayerScale(peer.url) as client,
    ):
        with pytest.raises(APIConnectionError, match="stream broke"):
            async for _ in client.sessions.query_stream("s1", prompt="x"):
                pass


async def test_malformed_json_in_stream_is_protocol_error() -> None:
    """Fake peer: a data line that is not JSON, in the middle of a chat stream."""
    async with (
        FakePeer(streaming("data: {not json}\n\n", "data: [DONE]\n\n")) as peer,
        LayerScale(peer.url) as client,
    ):
        with pytest.raises(ProtocolError, match="not valid JSON"):
            async for _ in client.chat_stream(messages=[{"role": "user", "content": "x"}]):
                pass


async def test_error_frame_mid_stream_raises() -> None:
    """Fake peer: reports a failure inside the stream as {"error": {...}}."""
    err = json.dumps({"error": {"message": "context full", "type": "server_error"}})
    async with FakePeer(streaming(f"data: {err}\n\n")) as peer, LayerScale(peer.url) as client:
        with pytest.raises(LayerScaleError, match="context full"):
            async for _ in client.sessions.query_stream("s1", prompt="x"):
                pass


async def test_stream_error_status_and_non_sse_answer() -> None:
    """Fake peers: a 404 before the stream starts, and a 200 that is JSON, not SSE."""
    missing = http_response(404, {"error": {"message": "no such session"}})

    async def reply(req: FakeRequest, reader: object, writer: asyncio.StreamWriter) -> None:
        writer.write(missing if "s404" in req.path else http_response(200, {"text": "hi"}))

    async with FakePeer(reply) as peer, LayerScale(peer.url, backoff=FAST) as client:
        with pytest.raises(NotFoundError, match="no such session"):
            async for _ in client.sessions.events("s404"):
                pass
        with pytest.raises(ProtocolError, match="expected text/event-stream"):
            async for _ in client.sessions.query_stream("s1", prompt="x"):
                pass


async def _endless_events(
    req: FakeRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(sse_head())
    writer.write(chunk('data: {"type": "connected", "data_version": 0}\n\n'))
    version = 0
    watcher = asyncio.ensure_future(wait_disconnect(reader))
    try:
        while not watcher.done():
            version += 1
            writer.write(chunk(f'data: {{"type": "data_updated", "data_version": {version}}}\n\n'))
            await writer.drain()
            await asyncio.wait([watcher], timeout=0.01)  # the fake's emit rate, not a sync
    finally:
        watcher.cancel()
    writer.close()


async def test_abandoned_stream_closes_its_response() -> None:
    """Fake peer: an endless event stream that notices when the client goes away. Breaking
    out of `async for` (no aclose) must still release the connection."""
    async with FakePeer(_endless_events) as peer, LayerScale(peer.url) as client:
        seen = 0
        async for _ in client.sessions.events("s1"):
            seen += 1
            if seen == 3:
                break
        await asyncio.wait_for(peer.disconnected.wait(), 5)
    assert seen == 3


async def test_cancelled_stream_closes_its_response() -> None:
    """Fake peer: an endless event stream; cancelling the consuming task closes the
    response (the peer sees the disconnect) and the task ends cancelled."""
    async with FakePeer(_endless_events) as peer, LayerScale(peer.url) as client:
        got = asyncio.Event()

        async def consume() -> None:
            async with client.sessions.events("s1") as stream:
                async for _ in stream:
                    got.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(got.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(peer.disconnected.wait(), 5)


def test_decoder_splits_identically_and_handles_spec_cases() -> None:
    """Unit check of the SSE decoder on the spec's corner cases (no peer involved)."""
    raw = (
        b"\xef\xbb\xbf: comment\r\nid: 7\r\nretry: 1500\r\nevent: a\r\n"
        b"data\r\ndata:x\r\ndata:  y\r\n\r\n"
        b"event: ignored-no-data\n\n"
        b"field-without-colon\ndata: z\n\n"
    )
    whole = SSEDecoder()
    events = whole.feed(raw)
    assert [(e.event, e.data, e.id, e.retry) for e in events] == [
        ("a", "\nx\n y", "7", 1500),
        ("message", "z", "7", 1500),
    ]
    assert whole.comments == 1
    bytewise = SSEDecoder()
    split = [e for i in range(len(raw)) for e in bytewise.feed(raw[i : i + 1])]
    assert split == events


def test_decoder_refuses_endless_line() -> None:
    """A peer that never sends a newline cannot make the decoder buffer without bound."""
    decoder = SSEDecoder(max_line=1000)
    with pytest.raises(ProtocolError, match="longer than"):
        for _ in range(20):
            decoder.feed(b"data: " + b"x" * 100)


async def test_stream_timeout_bounds_only_the_opening() -> None:
    """Fake peer: sends no headers for ever (a hung server); a streaming call's timeout
    ends the wait for the response to start."""

    async def hang(req: FakeRequest, reader: asyncio.StreamReader, writer: object) -> None:
        await wait_disconnect(reader)

    async with FakePeer(hang) as peer, LayerScale(peer.url) as client:
        with pytest.raises(APITimeoutError, match="no answer within"):
            async for _ in client.sessions.query_stream("s1", prompt="x", timeout=0.3):
                pass
        await asyncio.wait_for(peer.disconnected.wait(), 5)
