"""One log line at the start of every HTTP request and WebSocket connection.

The launcher reads the last of these after a crash to say what the server was doing, so
the form is fixed: `request started: METHOD PATH` (WS for a WebSocket). The path is the
raw, still percent-encoded one: it can hold no line break (a decoded %0A could forge a
second line) and no query string (where a client may have put its licence key).
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("layerscale.localserver.requests")


def _shown_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope.get("path", ""))
    path = path.split("?", 1)[0]
    # Anything unprintable is escaped: one request is always exactly one line.
    return "".join(ch if ch.isprintable() and ch != " " else f"%{ord(ch):02X}"
                   for ch in path) or "/"


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            log.info("request started: %s %s", scope.get("method", "?"), _shown_path(scope))
        elif kind == "websocket":
            log.info("request started: WS %s", _shown_path(scope))
        await self.app(scope, receive, send)
