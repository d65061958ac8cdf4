"""Logging setup: plain text or one JSON object per line (--log-format), and the filters
that keep licence keys out of every line."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class NoHandshakeLines(logging.Filter):
    """Drops uvicorn's own WebSocket handshake lines ('... "WebSocket /path?query"
    [accepted]'): they carry the raw query string, where a client may have put its key,
    and say "accepted" for sockets our auth then refuses. The request-started line
    (request_log.py) records every connection instead, without the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("uvicorn"):
            return True
        return '"WebSocket ' not in str(record.msg)


class Redact(logging.Filter):
    """Replaces the server's licence key wherever it would appear in a line (a message,
    its arguments or a traceback): defence in depth behind never logging it."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = message.replace(self._secret, "[redacted]"), None
        if record.exc_info and self._secret in logging.Formatter().formatException(
                record.exc_info):
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} (traceback withheld: it held the licence key)"
        return True


def setup_logging(fmt: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(NoHandshakeLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Access logs carry nothing we need and would double the log volume under load.
    logging.getLogger("uvicorn.access").disabled = True


def redact(secret: str | None) -> None:
    """Keep `secret` out of every line the root handlers write."""
    if not secret:
        return
    for handler in logging.getLogger().handlers:
        handler.addFilter(Redact(secret))
