"""Turning server payloads into models: every failure becomes a :class:`ProtocolError`.

Shared by plain responses, SSE events and WebSocket frames so that a malformed
payload fails the same clear way wherever it arrives.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.api.errors import ProtocolError
from app.api.models import EVENTS_BY_TYPE, STATS_BY_TYPE, SessionEvent, Stats, UnknownEvent

M = TypeVar("M", bound=BaseModel)

_MAX_SNIPPET = 120


def snippet(text: str | bytes) -> str:
    """A short, single-line excerpt of a payload for error messages."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_SNIPPET else flat[:_MAX_SNIPPET] + "..."


def decode_json(data: str | bytes, what: str) -> Any:
    """Parse JSON or raise ProtocolError naming ``what`` was being read."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        # json.JSONDecodeError and UnicodeDecodeError are both ValueErrors.
        raise ProtocolError(f"{what} is not valid JSON ({exc}): {snippet(data)!r}") from None


def to_model(model: type[M], payload: Any, what: str) -> M:
    """Validate ``payload`` as ``model`` or raise ProtocolError with the first problem."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "<root>"
        raise ProtocolError(
            f"{what} does not match {model.__name__}: {where}: {first.get('msg', exc)}"
            f" ({exc.error_count()} problem(s))",
            body=payload,
        ) from None


def to_stats(payload: Any) -> Stats:
    """Pick the stats model matching the payload's ``type``."""
    kind = payload.get("type") if isinstance(payload, dict) else None
    return to_model(STATS_BY_TYPE.get(str(kind), Stats), payload, "stats")


def to_event(payload: Any, *, event_name: str | None = None) -> SessionEvent:
    """Turn a decoded event payload into its typed model.

    Accepts the SSE shape (``{"type": ..., fields...}``, the type possibly only in
    the SSE ``event:`` name) and the WebSocket shape (``{"type": ..., "data": {...}}``).
    """
    if not isinstance(payload, dict):
        raise ProtocolError(f"event is not a JSON object: {snippet(json.dumps(payload))!r}")
    kind = payload.get("type", event_name)
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("event has no 'type'", body=payload)
    fields: dict[str, Any]
    inner = payload.get("data")
    if isinstance(inner, dict):
        fields = {**inner, **{k: v for k, v in payload.items() if k != "data"}}
    elif "data" in payload and inner is not None and kind in EVENTS_BY_TYPE:
        raise ProtocolError(f"{kind} event has non-object 'data'", body=payload)
    else:
        fields = {k: v for k, v in payload.items() if not (k == "data" and v is None)}
    fields["type"] = kind
    model = EVENTS_BY_TYPE.get(kind, UnknownEvent)
    return to_model(model, fields, f"{kind} event")  # type: ignore[return-value]


def parse_ws_frame(data: str | bytes) -> SessionEvent:
    """Parse one WebSocket text (or binary) frame into a typed event."""
    return to_event(decode_json(data, "WebSocket frame"))
