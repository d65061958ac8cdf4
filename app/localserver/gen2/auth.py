"""`--api-key` for generation 2: the licence key is the bearer token.

Without the flag the API is open (even when the server holds a key). With it, every
request needs `Authorization: Bearer <key>` or `x-api-key: <key>`, except OPTIONS (CORS
preflight) and GET /health, /healthz (and /v1/health, which this server also answers so
that the launcher's probe works on both generations). /metrics and the WebSocket upgrade
are not exempt. A refused upgrade is a plain HTTP 401 before the handshake.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from ..auth import key_ok, presented_key
from .errors import openai_body

OPEN_GETS = {"/health", "/healthz", "/v1/health"}


def _exempt(scope: Scope) -> bool:
    if scope["type"] != "http":
        return False
    method = scope.get("method", "")
    return method == "OPTIONS" or (method in {"GET", "HEAD"} and scope["path"] in OPEN_GETS)


class Gen2Auth:
    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self._key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._key is None or scope["type"] not in {"http", "websocket"} or _exempt(scope):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        presented = presented_key(headers)
        if key_ok(self._key, presented):
            await self.app(scope, receive, send)
            return
        message = ("missing API key: send Authorization: Bearer <licence key>"
                   if presented is None else "invalid API key")
        body = json.dumps(openai_body(401, message, code="invalid_api_key")).encode()
        head = [(b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer")]
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.http.response.start", "status": 401,
                        "headers": head})
            await send({"type": "websocket.http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 401, "headers": head})
        await send({"type": "http.response.body", "body": body})
