"""The ASGI application: routes, error shape everywhere, auth, model loading lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import metrics, routes_anthropic, routes_events, routes_openai, routes_sessions
from .auth import AuthMiddleware
from .config import ServerConfig
from .errors import APIError, error_body
from .request_log import RequestLog
from .state import ServerState

log = logging.getLogger("layerscale.localserver")


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return exc.response()


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message, code = "no such route", "route_not_found"
    elif exc.status_code == 405:
        message, code = "method not allowed on this route", "method_not_allowed"
    else:
        message, code = str(exc.detail), None
    return JSONResponse(error_body(exc.status_code, message, code), status_code=exc.status_code,
                        headers=exc.headers)


async def _internal_error(_request: Request, exc: Exception) -> Response:
    log.error("internal error: %s", type(exc).__name__, exc_info=exc)
    return JSONResponse(error_body(500, f"internal server error ({type(exc).__name__})",
                                   "internal_error"), status_code=500)


def _loaded(state: ServerState, started: float, future: asyncio.Future[None],
            on_load_failed: Callable[[], None] | None) -> None:
    exc = future.exception()
    if exc is not None:
        state.load_error = str(exc)
        log.error("model failed to load: %s", exc)
        if on_load_failed is not None:
            on_load_failed()
    else:
        log.info("model %s loaded in %.1f s; ready", state.config.model_name,
                 time.monotonic() - started)


def create_app(config: ServerConfig, on_load_failed: Callable[[], None] | None = None
               ) -> Starlette:
    """on_load_failed lets the CLI stop the process (a supervisor then sees the exit code);
    without it the server keeps answering 503 with the load error."""
    state = ServerState(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state.loop = asyncio.get_running_loop()
        started = time.monotonic()
        load = asyncio.ensure_future(state.worker.call(state.load_model))
        load.add_done_callback(lambda f: _loaded(state, started, f, on_load_failed))
        try:
            yield
        finally:
            for processor in state.processors.values():
                processor.stop()
            state.close_streams()
            with contextlib.suppress(BaseException):
                await load
            engine = state.engine
            state.engine = None
            if engine is not None:
                await state.worker.call(engine.close)
            state.worker.shutdown()

    if config.api == 2:
        from .gen2.app import create as create_gen2

        app = create_gen2(state, lifespan)
        app.state.server = state
        return app
    app = Starlette(
        routes=[*routes_openai.ROUTES, *routes_anthropic.ROUTES, *routes_sessions.ROUTES,
                *routes_events.ROUTES, *metrics.ROUTES],
        # Outermost first: every request is logged, including those auth refuses.
        middleware=[Middleware(metrics.MetricsMiddleware), Middleware(RequestLog),
                    Middleware(AuthMiddleware, key=config.license_key)],
        exception_handlers={APIError: _api_error, HTTPException: _http_error,
                            Exception: _internal_error},
        lifespan=lifespan,
    )
    app.state.server = state
    return app
