"""Many servers at once: each one's live figures, polled on its own.

A `Fleet` holds one `FleetServer` per URL the user added (saved in settings, keys in the
keyring) and runs one `ServerPoller` task per server. A poll reads `/v1/health` (or gen 2's
`/health`) and `/metrics`; a server without `/metrics` is read through the API instead
(session list and each session's stream status). Every request has its own short timeout
and a failing server backs off on its own, so a dead or slow server never delays the others;
it is asked again after each backoff delay, so a server that comes back is picked up
without anyone pressing anything.

Rates (entries/s, tokens/s) are computed from the servers' counters over the last few
polls; a counter that goes down means the server restarted, and the rate starts afresh.
Qt-free: app.ui.fleet_view draws `FleetServer` rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.api import LayerScale
from app.api.backoff import Backoff
from app.core.dashboard import Dashboard
from app.core.prometheus_history import HistoryError, PrometheusHistory, Series
from app.core.server import cancel_quietly, sleep_or_wake
from app.secrets import normalise_url

log = logging.getLogger(__name__)

KeyLookup = Callable[[str], Awaitable[str | None]]
SETTINGS_KEY = "fleet"
SPARK_POINTS = 120  # live sparkline length: two minutes at one poll a second
# Seconds of samples a live rate is computed over: ingest decodes in bursts of a few
# hundred tokens, so a shorter window flickers between 0 and the burst's speed.
RATE_WINDOW = 10.0
HISTORY_SECONDS = 6 * 3600.0  # the long-range sparkline from Prometheus
HISTORY_EVERY = 30.0  # how often that is asked again
UNKNOWN = "—"


class FleetError(ValueError):
    """A server cannot be added (bad or duplicate URL): the message says why."""


@dataclass
class Figures:
    """What one poll found. None: this server does not say."""

    model: str | None = None
    generation: str | None = None
    sessions: int | None = None
    sessions_max: int | None = None
    queue: int | None = None
    dropped: int | None = None
    processed: int | None = None
    tokens: int | None = None  # ingest tokens decoded, total


@dataclass
class FleetServer:
    """One row of the fleet: the latest figures and their recent history."""

    url: str
    label: str
    status: str = "connecting"  # connecting | ok | loading | auth | unreachable | error
    detail: str = ""  # the status in words ("connection refused", "HTTP 500: ...")
    generation: str | None = None
    model: str | None = None
    sessions: int | None = None
    sessions_max: int | None = None
    queue: int | None = None
    drops: int | None = None
    ingest_rate: float | None = None  # entries/s
    tokens_rate: float | None = None  # tokens/s
    last_error: str | None = None
    last_error_at: float | None = None
    last_ok: float | None = None
    retry_at: float | None = None  # monotonic time of the next attempt while failing
    has_metrics: bool | None = None
    polls: int = 0  # successful polls: tests and the view see progress by it
    spark: dict[str, deque[float]] = field(default_factory=lambda: {
        k: deque(maxlen=SPARK_POINTS) for k in ("tokens_rate", "ingest_rate", "queue",
                                                "sessions")})
    spark_times: deque[float] = field(default_factory=lambda: deque(maxlen=SPARK_POINTS))
    history: Series | None = None  # long range, from Prometheus
    history_error: str | None = None
    version: int = 0  # bumps on every change the view should draw

    @property
    def reachable(self) -> bool:
        return self.status in ("ok", "loading", "auth")

    def to_settings(self) -> dict[str, str]:
        return {"url": self.url, "label": self.label}


def default_label(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


def check_url(url: str) -> str:
    """The URL in the one spelling the keyring uses (localhost is 127.0.0.1), or FleetError."""
    try:
        return normalise_url(url)
    except ValueError as exc:
        raise FleetError(f"{exc} (expected http://host:port)") from None


class _Rates:
    """Counter samples of one server, turned into per-second rates over RATE_WINDOW."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int, int]] = deque()

    def add(self, now: float, processed: int | None, tokens: int | None
            ) -> tuple[float | None, float | None]:
        if processed is None:
            self._samples.clear()
            return None, None
        counted = tokens is not None  # a server read through its API has no token counter
        tokens = tokens if tokens is not None else 0
        if self._samples and (processed < self._samples[-1][1] or tokens < self._samples[-1][2]):
            self._samples.clear()  # a counter went down: the server restarted
        self._samples.append((now, processed, tokens))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW:
            self._samples.popleft()
        t0, p0, k0 = self._samples[0]
        if now - t0 <= 0:
            return None, None
        return ((processed - p0) / (now - t0),
                (tokens - k0) / (now - t0) if counted else None)

    def reset(self) -> None:
        self._samples.clear()


_WANTED = {
    "layerscale_sessions": "sessions", "layerscale_sessions_max": "sessions_max",
    "layerscale_queue_entries": "queue", "layerscale_entries_dropped_total": "dropped",
    "layerscale_entries_processed_total": "processed",
    "layerscale_ingest_tokens_total": "tokens",
}
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def figures_from_metrics(text: str) -> Figures:
    """Read the figures a row shows from a /metrics exposition (app/localserver/metrics.py).

    A line scan for the few unlabelled samples wanted, not a full parse: this runs on the
    GUI's loop for every poll of every server, and a full parse of the bundled server's
    exposition takes about 5 ms (a scan: a few hundred microseconds)."""
    f = Figures()
    for line in text.splitlines():
        if not line.startswith("layerscale_"):
            continue
        name, _, rest = line.partition(" ")
        attr = _WANTED.get(name)
        if attr is not None:
            try:
                setattr(f, attr, int(float(rest.split()[0])))
            except (ValueError, IndexError):
                raise ValueError(f"unreadable sample: {line[:120]!r}") from None
        elif name.startswith("layerscale_server_info{"):
            labels = dict(_LABEL.findall(line))
            f.model = labels.get("model") or None
            gen = labels.get("generation")
            f.generation = f"API gen {gen}" if gen else None
    return f


class _Refused(Exception):
    """A status the row shows: 401/403 (auth), 503 (loading), other HTTP errors."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _said(r: httpx.Response) -> str:
    """The server's own words from an error body, else the status line."""
    try:
        body = r.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except ValueError:
        pass
    return f"HTTP {r.status_code}"


async def detect_generation(client: LayerScale, timeout: float) -> str | None:
    """"API gen N", found by app.api's detection (GETs only, never a POST)."""
    detection = await client.detect(timeout=timeout)
    return detection.generation.label


class ServerPoller:
    """Polls one server forever: figures into its FleetServer row, failures backed off."""

    def __init__(self, row: FleetServer, key_lookup: KeyLookup | None, *,
                 interval: float = 1.0, timeout: float = 2.0,
                 backoff: Backoff | None = None) -> None:
        self.row = row
        self.key_lookup = key_lookup
        self.interval = interval
        self.timeout = timeout
        self.backoff = backoff or Backoff(base=0.5, cap=5.0, jitter=0.3)
        self._key: str | None = None
        self._key_known = False
        self._failures = 0
        self._recheck = False
        self._rates = _Rates()
        self._wake = asyncio.Event()
        self._http: httpx.AsyncClient | None = None
        self._client: LayerScale | None = None

    def __repr__(self) -> str:  # never the key
        return f"ServerPoller({self.row.url!r})"

    @property
    def key(self) -> str | None:
        return self._key

    def poke(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.poll_once()
                    self._failures = 0
                    self.row.retry_at = None
                    delay = self.interval
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # every failure is shown on the row, never a crash
                    delay = self.backoff.delay(self._failures)
                    self._failures += 1
                    self._failed(exc, delay)
                self._wake.clear()
                await sleep_or_wake(self._wake, delay)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        for closer in (self._client, self._http):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer.aclose()
        self._client = self._http = None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    async def _ensure_clients(self) -> httpx.AsyncClient:
        if not self._key_known and self.key_lookup is not None:
            key = await self.key_lookup(self.row.url)
            self._key_known = True
            if key != self._key and self._client is not None:
                client, self._client = self._client, None  # it holds the old key
                with contextlib.suppress(Exception):
                    await client.aclose()
            self._key = key
        if self._http is None:
            # Redirects never followed: the key goes to this origin only.
            self._http = httpx.AsyncClient(base_url=self.row.url, timeout=self.timeout,
                                           follow_redirects=False)
        return self._http

    def _api(self) -> LayerScale:
        if self._client is None:
            self._client = LayerScale(self.row.url, api_key=self._key, timeout=self.timeout,
                                      max_retries=0, connect_timeout=self.timeout)
        return self._client

    async def poll_once(self) -> None:
        http = await self._ensure_clients()
        health = await self._health(http)
        row = self.row
        if self._recheck:
            self._recheck = False
            row.has_metrics = None
            if self._client is not None:
                self._client.forget_generation()
            generation = None
        else:
            generation = row.generation
        if generation is None:
            with contextlib.suppress(Exception):  # unknown is shown as "—", not an error
                row.generation = await detect_generation(self._api(), self.timeout)
        figures = await self._metrics(http) if row.has_metrics is not False else None
        if figures is None:
            figures = await self._from_api()
        figures.model = figures.model or health.get("model")
        if figures.sessions is None and isinstance(health.get("sessions"), int):
            figures.sessions = health["sessions"]
        self._apply(figures)

    async def _health(self, http: httpx.AsyncClient) -> dict[str, Any]:
        r = await http.get("/v1/health")
        if r.status_code == 404:  # generation 2 serves /health only
            r = await http.get("/health")
        if r.status_code == 503:
            raise _Refused(503, _said(r) if "error" in r.text else "model still loading")
        if r.status_code != 200:
            raise _Refused(r.status_code, _said(r))
        try:
            body = r.json()
        except ValueError:
            raise _Refused(r.status_code, "health answer is not JSON: not a LayerScale "
                           "server?") from None
        return body if isinstance(body, dict) else {}

    async def _metrics(self, http: httpx.AsyncClient) -> Figures | None:
        r = await http.get("/metrics", headers=self._headers())
        if r.status_code in (401, 403):
            raise _Refused(r.status_code, _said(r))
        if r.status_code != 200 or "layerscale_" not in r.text:
            self.row.has_metrics = False  # read through the API from now on
            return None
        self.row.has_metrics = True
        try:
            return figures_from_metrics(r.text)
        except ValueError as exc:
            raise _Refused(r.status_code, f"unreadable /metrics: {exc}") from None

    async def _from_api(self) -> Figures:
        """A server without /metrics: the session list, and each session's stream status."""
        client = self._api()
        listing = await client.sessions.list()
        ids = [s.session_id for s in listing.sessions]
        f = Figures(sessions=len(ids))
        statuses = await asyncio.gather(*(client.sessions.stream_status(i) for i in ids),
                                        return_exceptions=True)
        ok = [s for s in statuses if not isinstance(s, BaseException)]
        if len(ok) == len(ids):  # a session deleted meanwhile: no totals this round
            f.queue = sum(s.streaming.queue_size for s in ok)
            f.dropped = sum(s.statistics.total_dropped for s in ok)
            f.processed = sum(s.statistics.items_processed for s in ok)
        return f

    def _apply(self, f: Figures) -> None:
        row = self.row
        now = time.monotonic()
        row.status, row.detail = "ok", ""
        row.model = f.model or row.model
        row.generation = f.generation or row.generation
        row.sessions, row.sessions_max = f.sessions, f.sessions_max
        row.queue, row.drops = f.queue, f.dropped
        row.ingest_rate, row.tokens_rate = self._rates.add(now, f.processed, f.tokens)
        for name in row.spark:
            value = getattr(row, name)
            row.spark[name].append(float("nan") if value is None else float(value))
        row.spark_times.append(time.time())
        row.last_ok = time.time()
        row.polls += 1
        row.version += 1

    def _failed(self, exc: BaseException, delay: float) -> None:
        row = self.row
        if isinstance(exc, _Refused):
            status = {401: "auth", 403: "auth", 503: "loading"}.get(exc.status, "error")
            detail = str(exc) if exc.status == 503 else f"{exc.status}: {exc}"
            if status == "auth":
                self._key_known = False  # look the key up again: the user may fix it
        elif isinstance(exc, httpx.TimeoutException):
            status, detail = "unreachable", f"no answer within {self.timeout:g} s"
        elif isinstance(exc, httpx.TransportError | OSError):
            status, detail = "unreachable", _transport_words(exc)
        else:
            status, detail = "error", f"{type(exc).__name__}: {exc}"
        if status != "loading":
            # The row keeps its last figures, marked stale by the status; rates restart.
            self._rates.reset()
        if status == "unreachable":
            # What comes back may be another build or generation: asked again once it
            # answers (the row shows the last known until then).
            self._recheck = True
        log.info("fleet: %s %s (%s); next try in %.1f s", row.label, status, detail, delay)
        row.status, row.detail = status, detail
        row.last_error, row.last_error_at = detail, time.time()
        row.retry_at = time.monotonic() + delay
        row.ingest_rate = row.tokens_rate = None
        row.version += 1


def _transport_words(exc: BaseException) -> str:
    """What went wrong in words: httpx says "All connection attempts failed", the
    OS error it wraps says why."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, OSError) and "name or service" in str(seen).lower():
            return "unknown host"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


class Fleet:
    """The servers the user watches, their pollers, their dashboards, their history."""

    def __init__(self, settings: Any | None = None, *, key_lookup: KeyLookup | None = None,
                 interval: float = 1.0, timeout: float = 2.0,
                 history_factory: Callable[[str], PrometheusHistory] = PrometheusHistory
                 ) -> None:
        self.settings = settings
        self.key_lookup = key_lookup
        self.interval = interval
        self.timeout = timeout
        self.servers: list[FleetServer] = []
        self._pollers: dict[str, ServerPoller] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._dashboards: dict[str, Dashboard] = {}
        self._history_factory = history_factory
        self.history: PrometheusHistory | None = None
        self._history_task: asyncio.Task[None] | None = None
        self._history_wake: asyncio.Event | None = None
        self._closing: asyncio.Future[None] | None = None
        self.running = False
        self.version = 0  # bumps when servers are added or removed
        saved = settings.get(SETTINGS_KEY, {}) if settings is not None else {}
        saved = saved if isinstance(saved, dict) else {}
        for item in saved.get("servers") or []:
            with contextlib.suppress(FleetError, KeyError, TypeError):
                self._add_row(item["url"], item.get("label"))
        self.prometheus_url: str | None = saved.get("prometheus_url") or None

    # ------------------------------------------------------------------ servers
    def find(self, url: str) -> FleetServer | None:
        try:
            url = check_url(url)
        except FleetError:
            return None
        return next((s for s in self.servers if s.url == url), None)

    def _add_row(self, url: str, label: str | None) -> FleetServer:
        url = check_url(url)
        if any(s.url == url for s in self.servers):
            raise FleetError(f"{url} is already in the fleet")
        row = FleetServer(url, (label or "").strip() or default_label(url))
        self.servers.append(row)
        self.version += 1
        return row

    def add(self, url: str, label: str | None = None) -> FleetServer:
        """Add a server (its key comes from the keyring) and start polling it."""
        row = self._add_row(url, label)
        try:
            self._save()
        except Exception:  # e.g. a licence key typed as the label: refused, not kept
            self.servers.remove(row)
            raise
        if self.running:
            self._start_poller(row)
        return row

    async def remove(self, url: str) -> None:
        row = self.find(url)
        if row is None:
            return
        self.servers.remove(row)
        self.version += 1
        self._save()
        self._pollers.pop(row.url, None)
        await cancel_quietly(self._tasks.pop(row.url, None))
        dashboard = self._dashboards.pop(row.url, None)
        if dashboard is not None:
            await dashboard.stop()

    def poller(self, url: str) -> ServerPoller | None:
        return self._pollers.get(url)

    def poke(self, url: str | None = None) -> None:
        """Poll now (one server, or all)."""
        for key, poller in self._pollers.items():
            if url is None or key == url:
                poller.poke()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start a poller per server (call from a running loop)."""
        self.running = True
        for row in self.servers:
            if row.url not in self._tasks:
                self._start_poller(row)
        self._start_history()

    def _start_poller(self, row: FleetServer) -> None:
        poller = ServerPoller(row, self.key_lookup, interval=self.interval,
                              timeout=self.timeout)
        self._pollers[row.url] = poller
        self._tasks[row.url] = asyncio.ensure_future(poller.run())

    async def stop(self) -> None:
        self.running = False
        tasks = [*self._tasks.values(), self._history_task]
        self._tasks.clear()
        self._pollers.clear()
        self._history_task = None
        for task in tasks:
            await cancel_quietly(task)
        for dashboard in self._dashboards.values():
            await dashboard.stop()
        self._dashboards.clear()
        if self.history is not None:
            await self.history.aclose()
            self.history = None

    # ------------------------------------------------------------------ sessions
    def dashboard(self, url: str) -> Dashboard:
        """The Dashboard of one fleet server (made and started on first use), whose
        sessions can be opened in the main window beside other servers'."""
        row = self.find(url)
        if row is None:
            raise FleetError(f"{url} is not in the fleet")
        dashboard = self._dashboards.get(row.url)
        if dashboard is None:
            poller = self._pollers.get(row.url)
            dashboard = Dashboard(row.url, key=poller.key if poller else None,
                                  key_lookup=self.key_lookup)
            dashboard.start()
            self._dashboards[row.url] = dashboard
        return dashboard

    # ------------------------------------------------------------------ history
    def set_prometheus(self, url: str | None) -> None:
        """Where long-range history comes from (None: live figures only)."""
        url = (url or "").strip().rstrip("/") or None
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FleetError(f"not a Prometheus URL: {url!r} (expected http://host:9090)")
        self.prometheus_url = url
        self._save()
        for row in self.servers:
            row.history, row.history_error = None, None
            row.version += 1
        if self.running:
            old, self.history = self.history, None
            if old is not None:
                self._closing = asyncio.ensure_future(old.aclose())
            self._start_history()

    def history_source(self) -> PrometheusHistory | None:
        if self.prometheus_url is None:
            return None
        if self.history is None or self.history.url != self.prometheus_url:
            self.history = self._history_factory(self.prometheus_url)
        return self.history

    def _start_history(self) -> None:
        if self._history_task is not None and not self._history_task.done():
            if self._history_wake is not None:
                self._history_wake.set()
            return
        self._history_wake = asyncio.Event()
        self._history_task = asyncio.ensure_future(self._history_loop(self._history_wake))

    async def _history_loop(self, wake: asyncio.Event) -> None:
        while True:
            source = self.history_source()
            if source is not None:
                await asyncio.gather(*(self._fetch_history(source, row)
                                       for row in list(self.servers)))
            wake.clear()
            await sleep_or_wake(wake, HISTORY_EVERY)

    async def _fetch_history(self, source: PrometheusHistory, row: FleetServer) -> None:
        try:
            row.history = await source.figure(row.url, "tokens_per_s", HISTORY_SECONDS)
            row.history_error = None
        except HistoryError as exc:
            row.history_error = str(exc)
        row.version += 1

    # ------------------------------------------------------------------ settings
    def _save(self) -> None:
        if self.settings is None:
            return
        self.settings.set(SETTINGS_KEY, {
            "servers": [row.to_settings() for row in self.servers],
            "prometheus_url": self.prometheus_url,
        })
