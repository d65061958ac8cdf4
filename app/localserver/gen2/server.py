"""Server-level routes of generation 2: /health and /healthz with the scheduler counters
this server can fill, and the one model at /v1/models (also while loading)."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import not_found
from .state import gen2_of


async def health(request: Request) -> Response:
    g = gen2_of(request)
    state = g.server
    body: dict[str, Any] = {
        "status": "ok" if state.ready else "unavailable",
        "uptime_ms": int((time.time() - state.started_at) * 1000),
        **asdict(g.counters),
        "sessions": len(state.sessions()),
    }
    if state.load_error:
        body["error"] = state.load_error
    return JSONResponse(body, status_code=200 if state.ready else 503)


def _model(request: Request) -> dict[str, Any]:
    state = gen2_of(request).server
    # The longest prompt + reply: one session's context (the KV pool holds one per session).
    max_len = state.config.ctx_size
    created = int(state.started_at)
    return {
        "id": state.config.model_name,
        "object": "model",
        "created": created,
        "owned_by": "local",
        "type": "model",
        "display_name": state.config.model_name,
        "created_at": datetime.fromtimestamp(created, UTC).isoformat().replace("+00:00", "Z"),
        "max_model_len": max_len,
        "max_input_tokens": max_len - 1,
        "max_tokens": max_len - 1,
        "lifecycle": "active",
        "capabilities": None,
        "deprecated_at": None,
        "retires_at": None,
        "line": None,
    }


async def models(request: Request) -> Response:
    model = _model(request)
    return JSONResponse({"object": "list", "data": [model], "has_more": False,
                         "first_id": model["id"], "last_id": model["id"]})


async def model(request: Request) -> Response:
    found = _model(request)
    wanted = request.path_params["model_id"]
    if wanted.lower() != found["id"].lower():
        raise not_found("model", wanted)
    return JSONResponse(found)


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/healthz", health, methods=["GET"]),
    Route("/v1/health", health, methods=["GET"]),  # not gen 2's, kept for probes of both
    Route("/v1/models", models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", model, methods=["GET"]),
]
