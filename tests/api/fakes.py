"""Deliberately misbehaving peers on loopback, for fault injection only.

The real bundled server cannot be made to send malformed JSON, cut a stream in
half, answer 429 with Retry-After, stop answering pings or close with 4401 on
demand, so these tiny raw-socket peers do exactly that. Anything a real server
does on its own is tested against the real server (tests/api/test_live_*.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class FakeRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[FakeRequest, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def http_response(
    status: int,
    body: bytes | str | dict[str, Any] = b"",
    *,
    headers: dict[str, str] | None = None,
    content_length: int | None = None,
    reason: str = "X",
) -> bytes:
    """Raw HTTP/1.1 response bytes; ``content_length`` may lie (truncation tests)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    hdrs["Content-Length"] = str(len(body) if content_length is None else content_length)
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    return head.encode() + b"\r\n" + body


def sse_head(status: int = 200) -> bytes:
    """Headers of a chunked text/event-stream response."""
    return (
        f"HTTP/1.1 {status} OK\r\nContent-Type: text/event-stream\r\n"
        "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n"
    ).encode()


def chunk(data: bytes | str) -> bytes:
    """One HTTP/1.1 chunk (``b""`` gives the terminating chunk)."""
    if isinstance(data, str):
        data = data.encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@dataclass
class FakePeer:
    """A raw HTTP (and hand-rolled WebSocket) peer; ``handler`` scripts each request."""

    handler: Handler
    requests: list[FakeRequest] = field(default_factory=list)
    connections: int = 0
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakePeer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while not writer.is_closing():
                request = await read_request(reader)
                if request is None:
                    break
                self.requests.append(request)
                await self.handler(request, reader, writer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # torn down by __aexit__: end quietly, no "exception never retrieved"
        finally:
            self.disconnected.set()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)


async def read_request(reader: asyncio.StreamReader) -> FakeRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if n := int(headers.get("content-length", "0")):
        body = await reader.readexactly(n)
    return FakeRequest(method, path, headers, body, asyncio.get_running_loop().time())


async def wait_disconnect(reader: asyncio.StreamReader) -> None:
    """Return when the client closes its side."""
    while await reader.read(1024):
        pass


# --- a hand-rolled WebSocket server side (enough to go silent on purpose) --------------


def ws_accept(request: FakeRequest) -> bytes:
    key = request.headers["sec-websocket-key"].encode()
    accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode()


def ws_text_frame(payload: str | dict[str, Any]) -> bytes:
    """An unmasked server-to-client text frame."""
    data = (json.dumps(payload) if isinstance(payload, dict) else payload).encode()
    n = len(data)
    if n < 126:
        header = bytes([0x81, n])
    elif n < 65536:
        header = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return header + data


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition until true or fail after ``timeout`` (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)
