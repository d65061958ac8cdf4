"""How a server process ended, in words a user can act on."""

from __future__ import annotations

import signal

# The bundled server logs this at the start of every HTTP request and WebSocket connection,
# so that a crash can be tied to what the server was doing.
REQUEST_STARTED = "request started: "


def last_request(line: str) -> str | None:
    """`POST /v1/...` when `line` is the server's request-start line, else None."""
    at = line.find(REQUEST_STARTED)
    if at < 0:
        return None
    return line[at + len(REQUEST_STARTED):].strip() or None


def describe_exit(code: int, request: str | None = None) -> str:
    """`killed by SIGSEGV (signal 11)...` for a signal death (Popen reports -N), else the code."""
    if code >= 0:
        text = f"exited with code {code}"
    else:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        text = f"killed by {name} (signal {-code})"
    if request:
        text += f"; the last request it started was {request}"
    return text
