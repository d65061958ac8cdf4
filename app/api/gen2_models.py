"""Models of generation-2 answers (PROTOCOL-2.md), with the protocol's field names.

Session events (connected, data_updated, flash_ready, push_ack, error, pong) are the
same typed models as generation 1 (app.api.models): their fields are a common surface,
and each generation's extra fields sit on them as optional ones.
"""

from __future__ import annotations

from typing import Any

from app.api.models import APIModel, Usage

__all__ = [
    "FlashDeleted",
    "FlashList2",
    "FlashQuery2",
    "Generation2",
    "GenerationChunk2",
    "Health2",
    "Model2",
    "ModelList2",
    "PushAck2",
    "Session2",
    "SessionDeleted",
    "SessionList2",
    "TokenCount",
    "WarmResult",
]


class Health2(APIModel):
    """``GET /health``: ``status`` ("ok" | "unavailable") and scheduler counters.

    Every counter is optional to a client; ``counters()`` gives the integers present.
    """

    status: str
    uptime_ms: int | None = None
    queued: int | None = None
    running: int | None = None
    kv_pages_total: int | None = None
    kv_pages_free: int | None = None
    connections: int | None = None
    sessions: int | None = None
    requests_started: int | None = None
    requests_ok: int | None = None
    requests_failed: int | None = None
    prompt_tokens: int | None = None
    generated_tokens: int | None = None

    def counters(self) -> dict[str, int]:
        every = self.model_dump()
        return {k: v for k, v in every.items()
                if isinstance(v, int) and not isinstance(v, bool)}


class Model2(APIModel):
    id: str
    object: str | None = None
    created: int | None = None
    owned_by: str | None = None
    display_name: str | None = None
    max_model_len: int | None = None
    max_input_tokens: int | None = None
    max_tokens: int | None = None


class ModelList2(APIModel):
    object: str | None = None
    data: list[Model2]
    has_more: bool | None = None
    first_id: str | None = None
    last_id: str | None = None


class Session2(APIModel):
    """A generation-2 session (create, get, and each item of the list)."""

    id: str
    object: str | None = None
    created: int
    last_used: int | None = None
    tokens: int
    kv_tokens: int
    busy: bool
    turns: int = 0
    data_end: int = 0
    data_version: int
    pending: int
    pre_decode: bool = False
    ready: bool = False
    evicted: int = 0
    frozen_end: int | None = None
    window: int | None = None
    ready_token: int | None = None
    ready_gap: float | None = None


class SessionList2(APIModel):
    object: str | None = None
    data: list[Session2]


class SessionDeleted(APIModel):
    id: str
    object: str | None = None
    deleted: bool


class PushAck2(APIModel):
    """``POST .../push`` answer; overflow drops the oldest *unprocessed* entries."""

    pushed: int
    dropped: int
    pending: int
    pending_bytes: int | None = None  # absent on the WebSocket ack
    total_pushed: int
    total_dropped: int
    data_version: int


class WarmResult(APIModel):
    id: str
    object: str | None = None
    session_id: str
    finish_reason: str  # warmed | cancelled | covered
    prompt_tokens: int
    cached_tokens: int
    prefix_cached_tokens: int = 0
    data_version: int


class Generation2(APIModel):
    """``POST .../generate`` answer (prompt only, over the durable data)."""

    id: str | None = None
    object: str | None = None
    session_id: str | None = None
    text: str = ""
    finish_reason: str | None = None
    data_version: int | None = None
    usage: Usage | None = None
    flash: bool | None = None
    flash_id: int | None = None
    confidence: float | None = None
    speculative: bool | None = None
    logit_gap: float | None = None


class GenerationChunk2(APIModel):
    """One streamed generate frame: ``{"text": piece}`` or the final ``{"done": true, ...}``."""

    done: bool = False
    text: str | None = None
    finish_reason: str | None = None
    data_version: int | None = None
    usage: Usage | None = None
    flash: bool | None = None
    confidence: float | None = None


class FlashQuery2(APIModel):
    id: int
    object: str | None = None
    query: str
    max_tokens: int
    tokens: int = 0
    fresh: bool = False
    value: str | None = None
    data_version: int | None = None
    confidence: float | None = None
    evaluated_at: float | None = None

    @property
    def has_answer(self) -> bool:
        return self.value is not None


class FlashList2(APIModel):
    object: str | None = None
    data: list[FlashQuery2]
    data_version: int


class FlashDeleted(APIModel):
    id: int
    object: str | None = None
    deleted: bool
    remaining: int


class TokenCount(APIModel):
    """``POST /v1/messages/count_tokens``."""

    input_tokens: int


def counters_of(payload: Any) -> dict[str, int]:
    """The integer counters of a health body (any generation), for the operator panel."""
    if not isinstance(payload, dict):
        return {}
    return {k: v for k, v in payload.items() if isinstance(v, int) and not isinstance(v, bool)}

