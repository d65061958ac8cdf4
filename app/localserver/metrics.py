"""Prometheus metrics of one running server, served at GET /metrics.

Each ServerState owns a ServerMetrics with its own CollectorRegistry (never the process-wide
default), so several servers in one process never share or clash over a metric.

Two kinds of figures:
- what happens (requests, ingest chunks, flash answers, queries) is counted or timed where
  it happens, by one call into this module;
- what the server holds (sessions, tokens, queue depth, entry counters) is read from the
  session registry when Prometheus scrapes, so it can never drift out of sync. The entry
  counters of a deleted session are folded into a retired total first (`retire`), so those
  counters never go down.

Names follow Prometheus conventions; README's "Metrics" table lists them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from .sessions import Session
    from .state import ServerState

# What Prometheus (and gen 2 of the protocol) expects: the classic text format.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
RATE_WINDOW_SECONDS = 10.0  # the live ingest rate is taken over this much recent time

P = ParamSpec("P")
T = TypeVar("T")

_BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_ANSWER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_QUERY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class ServerMetrics:
    def __init__(self, state: ServerState) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "layerscale_requests", "HTTP requests and WebSocket connections answered, by "
            "route template and status", ("method", "route", "status"), registry=r)
        self.ingest_tokens = Counter(
            "layerscale_ingest_tokens", "Tokens of pushed entries decoded into sessions",
            registry=r)
        self.ingest_batch = Histogram(
            "layerscale_ingest_batch_seconds", "Time to decode one ingest chunk (a few "
            "hundred tokens at most) on the model worker", buckets=_BATCH_BUCKETS, registry=r)
        self.flash_evaluation = Histogram(
            "layerscale_flash_evaluation_seconds", "Time to answer one flash query again "
            "after a data update, on the model worker", buckets=_ANSWER_BUCKETS, registry=r)
        self.query = Histogram(
            "layerscale_query_seconds", "Time to answer a session query (generate) that "
            "runs the model, from request to the last token", buckets=_QUERY_BUCKETS,
            registry=r)
        self.held = _HeldCollector(state, self)
        r.register(self.held)
        ProcessCollector(registry=r)
        # (monotonic time, tokens) per decoded chunk, for the live rate; appended on the
        # worker thread, read on the loop (deque appends and copies are thread-safe).
        self._recent: deque[tuple[float, int]] = deque(maxlen=4096)

    # -- calls from where things happen ---------------------------------------------------

    def ingest_chunk(self, n_entries: int, n_ingested: int, n_tokens: int,
                     elapsed_us: int) -> None:
        """worker: one chunk of n_entries (n_tokens in all) decoded, n_ingested kept."""
        if n_ingested and n_entries:
            tokens = n_tokens if n_ingested == n_entries else (
                round(n_tokens * n_ingested / n_entries))  # the rest were refused
            self.ingest_tokens.inc(tokens)
            self._recent.append((time.monotonic(), tokens))
        self.ingest_batch.observe(elapsed_us / 1e6)

    def timed_flash(self, fn: Callable[P, T]) -> Callable[P, T]:
        """Wrap flash.evaluate so that each answer it computes (not a skip: None) is timed
        on the worker thread, without the time the job waited in the worker's queue."""
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            started = time.perf_counter()
            result = fn(*args, **kwargs)
            if result is not None:
                self.flash_evaluation.observe(time.perf_counter() - started)
            return result
        return run

    @contextmanager
    def query_timer(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.query.observe(time.perf_counter() - started)

    def retire(self, session: Session) -> None:
        """A session leaves the registry: keep its entry counts in the totals."""
        self.held.retire(session)

    def ingest_rate(self) -> float:
        """Tokens decoded per second over the last RATE_WINDOW_SECONDS."""
        since = time.monotonic() - RATE_WINDOW_SECONDS
        return sum(n for t, n in list(self._recent) if t >= since) / RATE_WINDOW_SECONDS

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _HeldCollector(Collector):
    """Figures read from the server's state at scrape time."""

    def __init__(self, state: ServerState, metrics: ServerMetrics) -> None:
        self._state = state
        self._metrics = metrics
        self._lock = threading.Lock()
        self._retired = {"pushed": 0, "dropped": 0, "processed": 0}

    def retire(self, session: Session) -> None:
        c = session.counters
        with self._lock:
            self._retired["pushed"] += c.total_enqueued
            self._retired["dropped"] += c.total_dropped
            self._retired["processed"] += c.items_processed

    def describe(self) -> list[Metric]:
        return []  # no fixed description: collected on each scrape only

    def collect(self) -> Iterator[Metric]:
        state = self._state
        sessions = state.sessions().all() if state.registry is not None else []
        cfg = state.config

        info = GaugeMetricFamily("layerscale_server_info", "The server: model and protocol "
                                 "generation; always 1", labels=("model", "generation"))
        info.add_metric((cfg.model_name, str(cfg.api)), 1)
        yield info
        yield GaugeMetricFamily("layerscale_model_loaded", "1 once the model has loaded and "
                                "the server answers, else 0", value=1 if state.ready else 0)
        yield GaugeMetricFamily("layerscale_uptime_seconds", "Seconds since the server "
                                "started", value=max(time.time() - state.started_at, 0.0))
        yield GaugeMetricFamily("layerscale_sessions", "Sessions open", value=len(sessions))
        yield GaugeMetricFamily("layerscale_sessions_max", "Sessions the pool holds at most",
                                value=cfg.pool_size)

        tokens = GaugeMetricFamily("layerscale_session_tokens", "Tokens held in a session's "
                                   "KV cache", labels=("session", "type"))
        context = GaugeMetricFamily("layerscale_session_context_tokens", "A session's "
                                    "context size in tokens", labels=("session",))
        queue = GaugeMetricFamily("layerscale_session_queue_entries", "Entries pushed to a "
                                  "session and waiting to be decoded", labels=("session",))
        total_tokens = total_queue = 0
        pushed, dropped, processed = (self._retired["pushed"], self._retired["dropped"],
                                      self._retired["processed"])
        for s in sessions:
            waiting = len(s.ring)
            tokens.add_metric((s.id, s.type), s.n_tokens)
            context.add_metric((s.id,), s.context)
            queue.add_metric((s.id,), waiting)
            total_tokens += s.n_tokens
            total_queue += waiting
            c = s.counters
            pushed += c.total_enqueued
            dropped += c.total_dropped
            processed += c.items_processed
        yield tokens
        yield context
        yield queue
        yield GaugeMetricFamily("layerscale_tokens", "Tokens held in all sessions' KV caches",
                                value=total_tokens)
        yield GaugeMetricFamily("layerscale_queue_entries", "Entries waiting to be decoded, "
                                "all sessions", value=total_queue)
        yield CounterMetricFamily("layerscale_entries_pushed_total", "Entries accepted into "
                                  "sessions' ingest queues", value=pushed)
        yield CounterMetricFamily("layerscale_entries_dropped_total", "Entries dropped: queue "
                                  "full, too large, or context full", value=dropped)
        yield CounterMetricFamily("layerscale_entries_processed_total", "Entries taken off the "
                                  "ingest queues (decoded, skipped or dropped)", value=processed)
        yield GaugeMetricFamily("layerscale_ingest_tokens_per_second", "Tokens decoded per "
                                f"second over the last {RATE_WINDOW_SECONDS:g} s",
                                value=self._metrics.ingest_rate())


def _route_of(scope: Scope) -> str:
    """The route's template, not the path: session ids would make every path a series.
    A request refused before routing (401) is matched here, so it is labelled the same."""
    route = scope.get("route")
    if route is None and "app" in scope:
        route = next((r for r in scope["app"].router.routes
                      if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class MetricsMiddleware:
    """Counts every HTTP request by route and status, WebSockets as method WS with status
    101 (accepted) or 403 (refused before accepting). Outermost, so 401s count too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        status = ["500"]  # what a failure before any answer looks like to the client

        async def watch(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                status[0] = str(message["status"])
            elif kind == "websocket.accept":
                status[0] = "101"
            elif kind == "websocket.close" and status[0] != "101":
                status[0] = "403"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            server = getattr(scope["app"].state, "server", None) if "app" in scope else None
            if server is not None:
                method = "WS" if scope["type"] == "websocket" else scope.get("method", "?")
                server.metrics.requests.labels(method, _route_of(scope), status[0]).inc()


async def metrics_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.server
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)


ROUTES = [Route("/metrics", metrics_endpoint, methods=["GET"])]
