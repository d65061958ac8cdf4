"""Licence-key check for HTTP and WebSocket (pure ASGI middleware).

Every route but /v1/health needs `Authorization: Bearer <key>` or `x-api-key: <key>` when
LAYERSCALE_LICENSE_KEY is set. A refused WebSocket is accepted and closed with 4401 so
the client sees a reason rather than a bare failed upgrade.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_body

OPEN_PATHS = {"/v1/health", "/health"}
WS_AUTH_FAILED = 4401


def presented_key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key")


def key_ok(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


class AuthMiddleware:
    """The gate both generations use; a generation differs only in what it exempts
    (`_exempt`) and how it refuses (`_refuse`)."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self._key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._key is None or scope["type"] not in {"http", "websocket"} \
                or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        presented = presented_key(headers)
        if key_ok(self._key, presented):
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, receive, send, presented)

    def _exempt(self, scope: Scope) -> bool:
        return scope["path"] in OPEN_PATHS

    async def _refuse(self, scope: Scope, receive: Receive, send: Send,
                      presented: str | None) -> None:
        message = ("missing licence key: send Authorization: Bearer <key>" if presented is None
                   else "invalid licence key")
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": WS_AUTH_FAILED, "reason": message})
            return
        await send_401(send, error_body(401, message, code="invalid_api_key"))


async def send_401(send: Send, body: dict[str, Any], kind: str = "http") -> None:
    """A 401 with a JSON body; `kind` "websocket.http" answers an upgrade before the
    handshake (the ASGI denial-response extension)."""
    raw = json.dumps(body).encode()
    await send({"type": f"{kind}.response.start", "status": 401, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        (b"www-authenticate", b"Bearer"),
    ]})
    await send({"type": f"{kind}.response.body", "body": raw})
