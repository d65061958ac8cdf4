"""Async typed client for the LayerScale API (HTTP, SSE, WebSocket).

    from app.api import LayerScale, LayerScaleError
    async with LayerScale("http://127.0.0.1:8080", api_key="LS-...") as client:
        print(await client.health())
        print(await client.generation())   # API generation 1 or 2, found with GETs only

Knows nothing of the dashboard and imports no Qt.
"""

from app.api.backoff import Backoff
from app.api.client import LayerScale
from app.api.errors import LayerScaleError, NotOfferedError
from app.api.generation import Capabilities, Detection, Generation
from app.api.reconnect import LinkState, ReconnectingSessionStream
from app.api.streams import Stream
from app.api.transport import NOT_GIVEN
from app.api.ws import SessionSocket, SocketOptions

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
