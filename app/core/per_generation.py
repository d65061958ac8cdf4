"""Where the dashboard's work differs by the server's API generation (one place).

The dashboard asks the client once per connection which generation the server speaks
(GETs only, cached, app.api.generation); everything that then differs goes through
here: which client a session runner talks to, how a session is created, how a delete
that the server refuses while the session is busy (gen 2's 409) is tried again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from app.api import LayerScale
from app.api.errors import ConflictError
from app.api.generation import Generation
from app.api.models import SessionInfo
from app.core.gen2_compat import Gen2CompatSessions, Gen2RunnerClient, Ledger
from app.core.session import SessionModel, SessionSpec
from app.streams import registry

log = logging.getLogger(__name__)

BUSY_RETRY_FOR = 20.0  # seconds a delete keeps trying while the server says "busy"
BUSY_RETRY_FIRST = 0.25


def generation_of(client: LayerScale) -> Generation:
    """The cached generation (generation 1 until the first detection)."""
    found = client.detection
    return found.generation if found is not None else Generation.V1


def runner_client(client: LayerScale, model: SessionModel,
                  ledgers: dict[str, Ledger]) -> Any:
    """What a session runner (and its console) talks to: the client itself on generation 1,
    generation-1 calls answered by generation-2 routes on generation 2."""
    if generation_of(client) is not Generation.V2:
        return client
    sessions = Gen2CompatSessions(client, model.stream, ledgers=ledgers,
                                  spec=lambda: model.spec, notify=model.note)
    return Gen2RunnerClient(client, sessions)


async def create_session(client: LayerScale, spec: SessionSpec,
                         ledgers: dict[str, Ledger]) -> SessionInfo:
    """Create a session from the dialog's spec on the server's generation."""
    await client.detect()
    if generation_of(client) is not Generation.V2:
        return await client.sessions.create(**spec.create_kwargs())
    compat = Gen2CompatSessions(client, registry.get(spec.type), ledgers=ledgers,
                                spec=lambda: spec)
    return await compat.create(**spec.create_kwargs())


async def delete_session(client: LayerScale, session_id: str, *,
                         retry_for: float = BUSY_RETRY_FOR) -> None:
    """Delete a session; while generation 2 answers 409 (a request is running on it) try
    again with growing pauses for ``retry_for`` seconds, then raise its clear message."""
    surface = await client.surface()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + retry_for
    pause = BUSY_RETRY_FIRST
    while True:
        try:
            # The server frees the cache behind queued work: allow it time.
            await surface.delete_session(session_id, timeout=60.0)
            return
        except ConflictError:
            if not surface.v2 or loop.time() + pause > deadline:
                raise
            log.info("session %s busy; deleting again in %.2f s", session_id, pause)
        await asyncio.sleep(pause)  # the server's busy request has to end: a retry pause
        pause = min(pause * 2, 2.0)


__all__ = ["create_session", "delete_session", "generation_of", "runner_client"]
