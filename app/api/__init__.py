"""Async typed client for the LayerScale API (HTTP, SSE, WebSocket).

    from app.api import LayerScale, LayerScaleError
    async with LayerScale("http://127.0.0.1:8080", api_key="LS-...") as client:
        print(await client.health())
        print(await client.generation())   # API generation 1 or 2, found with GETs only

Knows nothing of the dashboard and imports no Qt. The names below are loaded on first
use (PEP 562): importing a light submodule (errors, generation) does not pull in httpx
and the pydantic models, which the GUI's start-up defers until its window is painted.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.api.backoff import Backoff
    from app.api.client import LayerScale
    from app.api.errors import LayerScaleError, NotOfferedError
    from app.api.generation import Capabilities, Detection, Generation
    from app.api.reconnect import LinkState, ReconnectingSessionStream
    from app.api.streams import Stream
    from app.api.transport import NOT_GIVEN
    from app.api.ws import SessionSocket, SocketOptions

_WHERE = {
    "NOT_GIVEN": "transport",
    "Backoff": "backoff",
    "Capabilities": "generation",
    "Detection": "generation",
    "Generation": "generation",
    "LayerScale": "client",
    "LayerScaleError": "errors",
    "LinkState": "reconnect",
    "NotOfferedError": "errors",
    "ReconnectingSessionStream": "reconnect",
    "SessionSocket": "ws",
    "SocketOptions": "ws",
    "Stream": "streams",
}

__all__ = [
    "NOT_GIVEN",
    "Backoff",
    "Capabilities",
    "Detection",
    "Generation",
    "LayerScale",
    "LayerScaleError",
    "LinkState",
    "NotOfferedError",
    "ReconnectingSessionStream",
    "SessionSocket",
    "SocketOptions",
    "Stream",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"app.api.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
