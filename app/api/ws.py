"""The plain session WebSocket (``WS /v1/sessions/{id}/ws``), as the seed describes it.

One connection, no reconnect: when it closes, iteration ends (normal close) or
raises (auth / unknown session / broken connection). For a long-lived consumer
use :class:`app.api.reconnect.ReconnectingSessionStream`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from app.api.errors import (
    APIConnectionError,
    APITimeoutError,
    LayerScaleError,
    error_for_close_code,
    error_for_status,
)
from app.api.frames import parse_ws_frame
from app.api.models import SessionEvent

# Close codes after which the socket is gone for good (auth, permission, unknown session).
TERMINAL_CLOSE_CODES = frozenset({4401, 4403, 4404})
TERMINAL_UPGRADE_STATUSES = frozenset({401, 403, 404})
_NORMAL_CLOSE_CODES = frozenset({1000, 1001})


@dataclass(frozen=True, slots=True)
class SocketOptions:
    """Connection tuning shared by the plain and the reconnecting socket.

    ``ping_interval``/``ping_timeout`` are WebSocket protocol pings: a peer that does
    not answer one within ``ping_timeout`` is declared dead and the socket fails.
    """

    open_timeout: float | None = 10.0
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    close_timeout: float | None = 5.0
    max_size: int | None = 16 * 1024 * 1024


def ws_url(base_url: str, path: str) -> str:
    """``http(s)://host/base`` + path -> ``ws(s)://host/base/path`` (no credentials in it)."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))


def entry_to_wire(entry: Any) -> dict[str, Any]:
    """Accept protocol dicts, objects with ``to_entry()`` and pydantic models."""
    if isinstance(entry, Mapping):
        return dict(entry)
    to_entry = getattr(entry, "to_entry", None)
    if callable(to_entry):
        return dict(to_entry())
    dump = getattr(entry, "model_dump", None)
    if callable(dump):
        return dict(dump(exclude_none=True))
    raise TypeError(f"cannot send {type(entry).__name__} as a data entry")


def describe_close(exc: ConnectionClosed) -> tuple[int | None, str]:
    """(code, human reason) of a closed connection, naming a ping timeout as such."""
    if exc.rcvd is not None:
        return exc.rcvd.code, exc.rcvd.reason
    if exc.sent is not None:
        if "keepalive ping timeout" in exc.sent.reason:
            return exc.sent.code, "ping timeout: the server stopped answering"
        return exc.sent.code, exc.sent.reason
    return 1006, "connection lost without a close frame"


class SessionSocket:
    """``async with client.sessions.stream(id) as ws``: push, ping, iterate typed events.

    Iteration yields :class:`~app.api.models.SessionEvent` models and ends when the
    server closes normally (1000/1001). A close with 4401/4403/4404 raises
    AuthenticationError/PermissionDeniedError/NotFoundError; any other loss raises
    APIConnectionError. ``close_code``/``close_reason`` tell what happened.
    """

    normal_close_codes: ClassVar[frozenset[int]] = _NORMAL_CLOSE_CODES

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        options: SocketOptions | None = None,
        redact: Any = None,
    ) -> None:
        self.url = url
        self._headers = dict(headers)
        self.options = options or SocketOptions()
        self._redact = redact or (lambda text: text)
        self._ws: ClientConnection | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed" if self.close_code else "new"
        return f"SessionSocket(url={self.url!r}, state={state})"

    @property
    def is_open(self) -> bool:
        return self._ws is not None and self._ws.state is websockets.State.OPEN

    async def connect(self) -> SessionSocket:
        """Open the socket; raises the mapped error when the upgrade is refused."""
        opts = self.options
        try:
            self._ws = await connect(
                self.url,
                additional_headers=self._headers,
                open_timeout=opts.open_timeout,
                ping_interval=opts.ping_interval,
                ping_timeout=opts.ping_timeout,
                close_timeout=opts.close_timeout,
                max_size=opts.max_size,
                user_agent_header="layerscale-dashboard",
            )
        except InvalidStatus as exc:
            resp = exc.response
            raise error_for_status(
                resp.status_code, resp.body or b"", method="GET", path=_path(self.url)
            ) from None
        except TimeoutError:
            raise APITimeoutError(
                f"WebSocket {_path(self.url)}: no handshake within {opts.open_timeout} s"
            ) from None
        except (OSError, InvalidHandshake, InvalidURI) as exc:
            raise APIConnectionError(
                self._redact(f"WebSocket {_path(self.url)}: {type(exc).__name__}: {exc}")
            ) from None
        return self

    async def __aenter__(self) -> SessionSocket:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (idempotent)."""
        if self._ws is not None:
            await self._ws.close(code, reason)
            if self.close_code is None:
                self.close_code, self.close_reason = code, reason or "closed by client"

    async def push(self, entries: Iterable[Any]) -> None:
        """Send ``{"type": "push", "data": [...]}``; the answer arrives as a push_ack event."""
        await self.send({"type": "push", "data": [entry_to_wire(e) for e in entries]})

    async def ping(self) -> None:
        """Send an application ping; the server answers with a pong event."""
        await self.send({"type": "ping"})

    async def send(self, message: Mapping[str, Any]) -> None:
        ws = self._require()
        try:
            await ws.send(json.dumps(message, separators=(",", ":")))
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from None

    async def recv(self) -> SessionEvent:
        """The next event; raises StopAsyncIteration after a normal close."""
        return parse_ws_frame(await self._recv_frame())

    async def _recv_frame(self) -> str | bytes:
        """The next raw frame; a close in ``normal_close_codes`` ends iteration."""
        ws = self._require()
        try:
            return await ws.recv()
        except ConnectionClosed as exc:
            error = self._closed_error(exc)
            if self.close_code in self.normal_close_codes:
                raise StopAsyncIteration from None
            raise error from None

    def __aiter__(self) -> SessionSocket:
        return self

    async def __anext__(self) -> SessionEvent:
        return await self.recv()

    def _require(self) -> ClientConnection:
        if self._ws is None:
            raise APIConnectionError("WebSocket is not connected (use `async with`)")
        return self._ws

    def _closed_error(self, exc: ConnectionClosed) -> LayerScaleError:
        code, reason = describe_close(exc)
        self.close_code, self.close_reason = code, reason
        return error_for_close_code(code, self._redact(reason))


def _path(url: str) -> str:
    return urlsplit(url).path
