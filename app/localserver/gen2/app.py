"""The generation 2 Starlette app over the shared ServerState, and the expiry of sessions
nobody used for an hour."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from .. import metrics
from ..errors import APIError
from ..request_log import RequestLog
from ..routes_sessions import _discard
from ..state import ServerState
from . import chat, events, messages, server, sessions
from .auth import Gen2Auth
from .errors import api_error, http_error, internal_error
from .state import Gen2, idle_for

log = logging.getLogger("layerscale.localserver")

EXPIRY_SECONDS = 3600.0
REAP_INTERVAL_SECONDS = 30.0


def expire(g: Gen2, now: float | None = None) -> list[str]:
    """Delete the sessions unused for EXPIRY_SECONDS (nothing holding them); their ids."""
    gone = []
    for session in g.server.sessions().all():
        idle = idle_for(session, g.extra(session), now)
        if idle is not None and idle >= EXPIRY_SECONDS:
            _discard(g.server, session)
            g.forget(session)
            gone.append(session.id)
    return gone


async def _reap(g: Gen2) -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL_SECONDS)  # a periodic timer, not synchronisation
        if g.server.ready:
            for sid in expire(g, time.time()):
                log.info("session %s expired after an hour unused", sid)


def create(state: ServerState,
           lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]]) -> Starlette:
    g = Gen2(state)
    config = state.config

    @contextlib.asynccontextmanager
    async def with_expiry(app: Starlette) -> AsyncIterator[None]:
        async with lifespan(app):
            reaper = asyncio.create_task(_reap(g), name="gen2-expiry")
            try:
                yield
            finally:
                reaper.cancel()

    app = Starlette(
        routes=[*server.ROUTES, *chat.ROUTES, *messages.ROUTES, *sessions.ROUTES,
                *events.ROUTES, *metrics.ROUTES],
        middleware=[Middleware(metrics.MetricsMiddleware), Middleware(RequestLog),
                    Middleware(Gen2Auth, key=config.license_key if config.api_key else None)],
        exception_handlers={APIError: api_error, HTTPException: http_error,
                            Exception: internal_error},
        lifespan=with_expiry,
    )
    app.state.gen2 = g
    return app
