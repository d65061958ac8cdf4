"""Which API generation a server speaks, found with read-only probes, and what it offers.

Generation 1 is the seed's protocol (../shared/api/PROTOCOL.md); generation 2 is what the
official clients speak from 0.5.0 (PROTOCOL-2.md). Detection only ever sends GETs, so
probing a server can never create, push or change anything on it:

1. ``GET /health``: a body with ``status`` and scheduler counters (``uptime_ms``,
   ``kv_pages_total``, ...) is generation 2 (the route is open even under ``--api-key``,
   and a loading server answers 503 with the same body).
2. ``GET /v1/sessions``: ``{sessions, count}`` is generation 1, ``{object: "list", data}``
   generation 2.
3. ``GET /v1/models``: ``has_more``/``first_id``/``last_id`` or per-model ``max_model_len``
   / ``display_name`` is generation 2, a top-level ``server`` block generation 1.
4. Nothing decided, but something answered ``/health`` or ``/v1/health`` without counters:
   generation 1 (``/v1/health`` alone decides nothing: a gen-2 server may serve it too).

A probe that cannot connect raises (the caller shows "unreachable"); a probe answering
401/404/... just moves on to the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from app.api.errors import (
    APIConnectionError,
    LayerScaleError,
    ProtocolError,
    ServiceUnavailableError,
)
from app.api.transport import Transport

log = logging.getLogger("app.api")

# Counters only a generation-2 /health body carries (any one of them is enough).
GEN2_HEALTH_COUNTERS: Final = frozenset({
    "uptime_ms", "kv_pages_total", "kv_pages_free", "queued", "running", "steps",
    "preemptions", "requests_started", "requests_ok", "generated_tokens", "session_turns",
})
_GEN2_MODEL_LIST_KEYS: Final = frozenset({"has_more", "first_id", "last_id"})
_GEN2_MODEL_KEYS: Final = frozenset({"max_model_len", "display_name", "max_input_tokens"})


class Generation(IntEnum):
    V1 = 1
    V2 = 2

    @property
    def label(self) -> str:
        """How the dashboard names it: "API gen 1" / "API gen 2"."""
        return f"API gen {int(self)}"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a server of one generation offers, as flags a view can branch on.

    A view whose data the server cannot give says "not offered by this server" (see
    ``NOT_OFFERED``) instead of calling and failing.
    """

    generation: Generation
    typed_entries: bool  # push takes typed stream entries (gen 1) or raw text lines (gen 2)
    stream_status: bool  # GET .../stream/status
    stats: bool  # GET .../stats (per stream type)
    completions: bool  # POST /v1/completions
    append: bool  # POST .../append and .../mark_prefix
    generate_messages: bool  # generate takes messages/tools (gen 1) or a prompt only (gen 2)
    warm: bool  # POST .../warm
    metrics: bool  # GET /metrics (Prometheus text)
    count_tokens: bool  # POST /v1/messages/count_tokens
    session_header: bool  # chat/messages turns name the session in x-layerscale-session-id
    health_counters: bool  # /health carries scheduler counters
    explicit_session_ids: bool  # create takes the id
    session_types: bool  # a session has a stream type (ohlcv, iot, ...)
    flash_cap: int | None  # flash queries per session the protocol caps at
    key_prefix: str  # what the licence key of such a server looks like

    def describe(self) -> list[tuple[str, bool]]:
        """(feature, offered) pairs for a server-details view."""
        return [
            ("typed stream entries", self.typed_entries),
            ("stream status", self.stream_status),
            ("per-type statistics", self.stats),
            ("warm turns", self.warm),
            ("Prometheus /metrics", self.metrics),
            ("count_tokens", self.count_tokens),
            ("session header on chat turns", self.session_header),
            ("scheduler counters in /health", self.health_counters),
            ("text completions", self.completions),
        ]


NOT_OFFERED: Final = "not offered by this server"

GEN1: Final = Capabilities(
    generation=Generation.V1, typed_entries=True, stream_status=True, stats=True,
    completions=True, append=True, generate_messages=True, warm=False, metrics=False,
    count_tokens=False, session_header=False, health_counters=False,
    explicit_session_ids=False, session_types=True, flash_cap=None, key_prefix="LS-",
)
GEN2: Final = Capabilities(
    generation=Generation.V2, typed_entries=False, stream_status=False, stats=False,
    completions=False, append=False, generate_messages=False, warm=True, metrics=True,
    count_tokens=True, session_header=True, health_counters=True,
    explicit_session_ids=True, session_types=False, flash_cap=20, key_prefix="LSK-",
)


def capabilities_for(generation: Generation | int) -> Capabilities:
    return GEN2 if Generation(generation) is Generation.V2 else GEN1


@dataclass(frozen=True, slots=True)
class Detection:
    """The answer and how it was reached (for logs and the server-details view)."""

    generation: Generation
    evidence: str
    probes: tuple[str, ...]  # "GET /health -> 200", in order

    @property
    def capabilities(self) -> Capabilities:
        return capabilities_for(self.generation)


def is_gen2_health(body: Any) -> bool:
    return (isinstance(body, Mapping) and isinstance(body.get("status"), str)
            and any(k in body for k in GEN2_HEALTH_COUNTERS))


def sessions_shape(body: Any) -> Generation | None:
    if not isinstance(body, Mapping):
        return None
    if isinstance(body.get("sessions"), list):
        return Generation.V1
    if body.get("object") == "list" and isinstance(body.get("data"), list):
        return Generation.V2
    return None


def models_shape(body: Any) -> Generation | None:
    if not isinstance(body, Mapping):
        return None
    if _GEN2_MODEL_LIST_KEYS & body.keys():
        return Generation.V2
    data = body.get("data")
    if isinstance(data, list) and any(
            isinstance(m, Mapping) and _GEN2_MODEL_KEYS & m.keys() for m in data):
        return Generation.V2
    if isinstance(body.get("server"), Mapping):
        return Generation.V1
    return None


async def _probe(transport: Transport, path: str, log_: list[str],
                 timeout: float | None) -> tuple[int | None, Any]:
    """(status, body) of one GET, never retried; connection failures propagate."""
    try:
        body = await transport.request("GET", path, timeout=timeout, max_retries=0)
    except APIConnectionError as exc:
        if exc.status is None:  # could not connect at all (408 is a status, not this)
            log_.append(f"GET {path} -> unreachable")
            raise
        log_.append(f"GET {path} -> {exc.status}")
        return exc.status, exc.body
    except ServiceUnavailableError as exc:
        log_.append(f"GET {path} -> 503")
        return 503, exc.body
    except ProtocolError as exc:  # not JSON: some other program's page
        log_.append(f"GET {path} -> not JSON")
        return 200, exc.body
    except LayerScaleError as exc:
        log_.append(f"GET {path} -> {exc.status}")
        return exc.status, exc.body
    log_.append(f"GET {path} -> 200")
    return 200, body


async def detect(transport: Transport, *, timeout: float | None = 10.0) -> Detection:
    """Tell the server's generation with GETs only (see the module docstring)."""
    probes: list[str] = []
    status, health = await _probe(transport, "/health", probes, timeout)
    if is_gen2_health(health):
        return Detection(Generation.V2, "/health carries scheduler counters", tuple(probes))
    answered_health = status in (200, 503) and isinstance(health, Mapping)

    _, listing = await _probe(transport, "/v1/sessions", probes, timeout)
    if (gen := sessions_shape(listing)) is not None:
        return Detection(gen, f"/v1/sessions has the generation-{int(gen)} shape", tuple(probes))

    _, models = await _probe(transport, "/v1/models", probes, timeout)
    if (gen := models_shape(models)) is not None:
        return Detection(gen, f"/v1/models has generation-{int(gen)} fields", tuple(probes))

    if not answered_health:
        status, _ = await _probe(transport, "/v1/health", probes, timeout)
        answered_health = status in (200, 503)
    if answered_health:
        return Detection(Generation.V1, "health without scheduler counters", tuple(probes))
    raise ProtocolError(
        "could not tell which LayerScale API this server speaks: " + "; ".join(probes))


__all__ = [
    "GEN1",
    "GEN2",
    "NOT_OFFERED",
    "Capabilities",
    "Detection",
    "Generation",
    "capabilities_for",
    "detect",
]
