"""One log line at the start of every HTTP request and WebSocket connection.

The launcher reads the last of these after a crash to say what the server was doing, so
the form is fixed: `request started: METHOD PATH` (WS for a WebSocket). The path is the
raw, still percent-encoded one: it can hold no line break (a decoded %0A could forge a
second line) and no query string (where a client may have put its licence key).

Reads (GET, HEAD, OPTIONS) log at debug level: they answer from bookkeeping and never run
the model, so they cannot be what a crash was doing, and a dashboard polls them every
second or so, which would bury the lines that matter.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("layerscale.localserver.requests")
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


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
            method = scope.get("method", "?")
            level = logging.DEBUG if method in _READS else logging.INFO
            if log.isEnabledFor(level):
                log.log(level, "request started: %s %s", method, _shown_path(scope))
        elif kind == "websocket":
            log.info("request started: WS %s", _shown_path(scope))
        await self.app(scope, receive, send)
