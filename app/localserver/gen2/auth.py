"""`--api-key` for generation 2: the licence key is the bearer token.

Without the flag the API is open (even when the server holds a key). With it, every
request needs `Authorization: Bearer <key>` or `x-api-key: <key>`, except OPTIONS (CORS
preflight) and GET /health, /healthz (and /v1/health, which this server also answers so
that the launcher's probe works on both generations). /metrics and the WebSocket upgrade
are not exempt. A refused upgrade is a plain HTTP 401 before the handshake.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from ..auth import AuthMiddleware, send_401
from .errors import openai_body

OPEN_GETS = {"/health", "/healthz", "/v1/health"}


class Gen2Auth(AuthMiddleware):
    def _exempt(self, scope: Scope) -> bool:
        if scope["type"] != "http":
            return False
        method = scope.get("method", "")
        return method == "OPTIONS" or (method in {"GET", "HEAD"} and scope["path"] in OPEN_GETS)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send,
                      presented: str | None) -> None:
        message = ("missing API key: send Authorization: Bearer <licence key>"
                   if presented is None else "invalid API key")
        body = openai_body(401, message, code="invalid_api_key")
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send_401(send, body, "websocket.http")
            return
        await send_401(send, body)
