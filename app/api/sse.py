"""An incremental Server-Sent Events decoder (WHATWG event-stream rules).

Handles ``\\n``, ``\\r\\n`` and lone ``\\r`` line ends (also split across chunks),
multi-line ``data:``, ``event:`` names, ``id:``/``retry:``, ``:`` comments
(keepalives), a leading BOM and invalid UTF-8 (replaced, as the spec says). It
never raises on any input except :class:`ProtocolError` for a line longer than
``max_line`` (so a peer that never sends a newline cannot exhaust memory).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

from app.api.errors import ProtocolError
from app.api.frames import decode_json

_EOL = re.compile(r"\r\n|\r|\n")
_DEFAULT_MAX_LINE = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event. ``event`` is ``"message"`` when no ``event:`` was sent."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """The ``data`` decoded as JSON; ProtocolError when it is not JSON."""
        return decode_json(self.data, f"SSE {self.event!r} data")


class SSEDecoder:
    """Feed bytes as they arrive; get back the events they complete."""

    def __init__(self, *, max_line: int = _DEFAULT_MAX_LINE) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line = max_line
        self._buffer = ""
        self._started = False
        self._skip_lf = False  # the previous chunk ended in "\r"; a leading "\n" belongs to it
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self.comments = 0  # keepalive / comment lines seen, for observability

    @property
    def pending(self) -> bool:
        """True when a partial line or an undispatched event is buffered (a truncated stream)."""
        return bool(self._buffer) or bool(self._data)

    @property
    def last_event_id(self) -> str | None:
        return self._last_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        return self._feed_text(self._utf8.decode(chunk))

    def close(self) -> list[ServerSentEvent]:
        """Flush at end of stream. An event without its terminating blank line is dropped
        (per spec); callers that need a final event detect that through ``pending``."""
        self._feed_text(self._utf8.decode(b"", final=True))
        return []

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if not self._started and text:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._skip_lf and text:
            if text.startswith("\n"):
                text = text[1:]
            self._skip_lf = False
        buf = self._buffer + text
        events: list[ServerSentEvent] = []
        pos = 0
        for match in _EOL.finditer(buf):
            self._line(buf[pos : match.start()], events)
            pos = match.end()
        if pos and buf[pos - 1] == "\r" and pos == len(buf):
            self._skip_lf = True
        self._buffer = buf[pos:]
        if len(self._buffer) > self._max_line:
            self._buffer = ""
            raise ProtocolError(f"SSE line longer than {self._max_line} characters")
        return events

    def _line(self, line: str, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            self.comments += 1
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self._max_line:
                self._data, self._data_size = [], 0
                raise ProtocolError(f"SSE event data longer than {self._max_line} characters")
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        # Unknown field names are ignored, as the spec requires.

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        if self._data:
            events.append(
                ServerSentEvent(
                    data="\n".join(self._data),
                    event=self._event or "message",
                    id=self._last_id,
                    retry=self._retry,
                )
            )
        self._data = []
        self._data_size = 0
        self._event = ""
