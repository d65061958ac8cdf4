"""What the operator's cockpit knows: session state, ingest metrics, server overview (no Qt).

Every server read here runs in a `Poller` that works only while a view says it is
wanted (`want(True)` from a visible panel): a hidden panel costs the server nothing.
Views read the pollers' latest values on the display timer; nothing here touches Qt.

A server that does not offer an endpoint (API generation 2 has no ``stream/status``)
is not an error: the poller says `unsupported` and the panel shows NOT_OFFERED.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from app.api.errors import LayerScaleError, NotFoundError
from app.api.models import SessionState, StreamStatus
from app.api.surface import SessionOverview
from app.core import latency
from app.core.console import QueryConsole
from app.core.problems import Problem, diagnose
from app.core.server import cancel_quietly, sleep_or_wake
from app.core.timeseries import Series, SeriesSet

log = logging.getLogger(__name__)

NOT_OFFERED = "not offered by this server"
STATE_INTERVAL = 1.0  # seconds between session state reads while the panel shows it
INGEST_INTERVAL = 1.0  # seconds between stream/status reads while the graphs show
OVERVIEW_INTERVAL = 2.0  # seconds between per-session status reads for the overview
HEALTH_TICK = 1.0  # seconds between two samples of the health strip
HEALTH_KEPT = 3600  # samples of the health strip (an hour)
QUEUE_WARN = 0.8  # queue fill that turns the ingest graphs to the warning colour
RATE_SPAN = 30.0  # seconds the overview's ingest rate is averaged over
# A view renews its want every frame; a view that stops rendering (window closed, app
# frozen) stops the polling by itself after this long.
LEASE = 3.0

INGEST_SERIES = ("queue", "capacity", "items_per_s", "enqueued_per_s", "drops_total",
                 "drops_per_s", "batches", "avg_ms", "recent_ms")


def offers(client: Any, feature: str) -> bool | None:
    """What the client's `capabilities` (API generation 2 work) say of `feature`, if anything.

    Accepts a container of feature names or an object with boolean attributes.
    None: the client does not say; the answer then comes from the server's reply.
    """
    caps = getattr(client, "capabilities", None)
    if caps is None:
        return None
    if callable(caps):
        return None  # a probe to await, not a fact: decide from the reply
    value = getattr(caps, feature, None)
    if isinstance(value, bool):
        return value
    try:
        return feature in caps
    except TypeError:
        return None


def is_unsupported(exc: BaseException) -> bool:
    """A reply meaning "this server has no such endpoint" (not "no such session")."""
    if not isinstance(exc, LayerScaleError):
        return False
    if isinstance(exc, NotFoundError):
        return exc.code != "session_not_found" and "session" not in (exc.code or "")
    return exc.status in (405, 501)


class Leased:
    """Work that runs only while wanted: a visible view renews the lease with ``want(True)``
    each frame, so a view that stops asking (hidden, closed) lets it lapse after LEASE."""

    def __init__(self) -> None:
        self._wanted = False
        self._wanted_at = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def wanted(self) -> bool:
        return self._wanted and time.monotonic() - self._wanted_at < LEASE

    def want(self, flag: bool) -> None:
        if flag and not self.wanted:
            self._wake.set()
        self._wanted = flag
        if flag:
            self._wanted_at = time.monotonic()
            if self._task is None:
                self._task = asyncio.ensure_future(self._work())

    def _work(self) -> Coroutine[Any, Any, None]:
        """The loop started on the first want; it waits on ``_wake`` while not wanted."""
        raise NotImplementedError


class Poller(Leased):
    """Calls `fetch` every `interval` seconds while wanted; keeps the latest answer."""

    def __init__(self, fetch: Callable[[], Awaitable[Any]], interval: float,
                 on_value: Callable[[Any, float], None] | None = None,
                 feature: str | None = None, client: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.fetch = fetch
        self.interval = interval
        self.on_value = on_value
        self.feature = feature
        self.client = client
        self.value: Any = None
        self.error: str | None = None
        self.unsupported = False
        self.at: float | None = None  # unix time of the last answer
        self.polls = 0  # reads made (tests: a hidden panel makes none)
        self.version = 0

    async def stop(self) -> None:
        await cancel_quietly(self._task)
        self._task = None

    async def poll_once(self) -> None:
        self.polls += 1
        try:
            if self.feature is not None and self.client is not None and \
                    offers(self.client(), self.feature) is False:
                self.unsupported, self.error = True, None
                self.version += 1
                return
            value = await self.fetch()
        except asyncio.CancelledError:
            raise
        except LayerScaleError as exc:
            if is_unsupported(exc):
                self.unsupported, self.error = True, None
            else:
                self.error = diagnose(exc).message
            self.version += 1
            return
        except (OSError, AttributeError) as exc:  # no client yet, socket trouble
            self.error = str(exc) or type(exc).__name__
            self.version += 1
            return
        now = time.time()
        self.value, self.error, self.unsupported, self.at = value, None, False, now
        if self.on_value is not None:
            self.on_value(value, now)
        self.version += 1

    def _work(self) -> Coroutine[Any, Any, None]:
        return self.run()

    async def run(self) -> None:
        while True:
            if not self.wanted:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self.poll_once()
            self._wake.clear()
            await sleep_or_wake(self._wake, self.interval)


class IngestMetrics:
    """`stream/status` answers turned into rates and series."""

    def __init__(self) -> None:
        self.series = SeriesSet(INGEST_SERIES)
        self.status: StreamStatus | None = None
        self._prev: tuple[float, StreamStatus] | None = None
        self.version = 0

    def add(self, status: StreamStatus, now: float) -> None:
        s, st = status.streaming, status.statistics
        values: dict[str, float] = {
            "queue": s.queue_size, "capacity": s.queue_capacity,
            "drops_total": st.total_dropped, "batches": st.batches_processed,
            "avg_ms": float(st.avg_process_time_us) / 1e3,
        }
        prev = self._prev
        if prev is not None and now > prev[0] and \
                st.items_processed >= prev[1].statistics.items_processed:
            p, dt = prev[1].statistics, now - prev[0]
            values["items_per_s"] = (st.items_processed - p.items_processed) / dt
            values["enqueued_per_s"] = (st.total_enqueued - p.total_enqueued) / dt
            values["drops_per_s"] = max(0, st.total_dropped - p.total_dropped) / dt
            batches = st.batches_processed - p.batches_processed
            spent = float(st.total_process_time_us) - float(p.total_process_time_us)
            values["recent_ms"] = spent / batches / 1e3 if batches > 0 else 0.0
        self._prev = (now, status)  # a counter going back (session recreated) restarts rates
        self.status = status
        self.series.add(now, **values)
        self.version += 1

    @property
    def queue_fill(self) -> float:
        if self.status is None or not self.status.streaming.queue_capacity:
            return 0.0
        return self.status.streaming.queue_size / self.status.streaming.queue_capacity

    def drops_rising(self) -> bool:
        last = self.series["drops_per_s"].last
        return bool(last and last > 0)

    @property
    def warning(self) -> bool:
        return self.queue_fill >= QUEUE_WARN or self.drops_rising()


class SessionCockpit:
    """The cockpit's view of one open session: state, ingest, timings, query console."""

    def __init__(self, dashboard: Any, model: Any) -> None:
        self.dashboard = dashboard
        self.model = model
        self.ingest = IngestMetrics()
        self.times = latency.times_for(model)
        self.console = QueryConsole()
        client = self._client
        self.state = Poller(self._read_state, STATE_INTERVAL, client=client)
        self.stream = Poller(self._read_status, INGEST_INTERVAL, on_value=self.ingest.add,
                             feature="stream_status", client=client)

    def _client(self) -> Any:
        if self.dashboard.client is None:
            raise AttributeError("not connected")
        return self.dashboard.client

    async def _read_state(self) -> SessionState | SessionOverview:
        """Generation 1: the whole ``…/state`` (positions, regions, decoded context).
        Generation 2 has no such route: its session as the common surface reads it
        (tokens, KV tokens, pending, data version, window...), the rest not offered."""
        client = self._client()
        surface = await client.surface()
        if surface.v2:
            overview: SessionOverview = await surface.get_session(self.model.session_id)
            return overview
        result: SessionState = await client.sessions.get(self.model.session_id)
        return result

    async def _read_status(self) -> StreamStatus:
        result: StreamStatus = await self._client().sessions.stream_status(
            self.model.session_id)
        return result

    def query(self, **kwargs: Any) -> Any:
        return self.console.start(self._client(), self.model.session_id, **kwargs)

    async def stop(self) -> None:
        self.console.cancel()
        await self.state.stop()
        await self.stream.stop()


@dataclass
class SessionLine:
    """One session in the server overview: last status and sparkline series."""

    session_id: str
    queue: Series = field(default_factory=lambda: Series(max_rate=1.0))
    tokens: Series = field(default_factory=lambda: Series(max_rate=1.0))
    queue_size: int = 0
    queue_capacity: int = 0
    dropped: int = 0
    items_per_s: float = 0.0
    status_error: str | None = None
    # (time, items processed) of the last reads: the rate is taken over RATE_SPAN seconds,
    # since a server decodes in batches and a 2 s window mostly reads 0 or a burst.
    _hist: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=32))

    def add_status(self, status: StreamStatus, now: float) -> None:
        st = status.statistics
        self.queue_size = status.streaming.queue_size
        self.queue_capacity = status.streaming.queue_capacity
        self.dropped = st.total_dropped
        if self._hist and st.items_processed < self._hist[-1][1]:
            self._hist.clear()  # counters restarted (session recreated)
        self._hist.append((now, st.items_processed))
        while len(self._hist) > 2 and now - self._hist[1][0] >= RATE_SPAN:
            self._hist.popleft()
        t0, n0 = self._hist[0]
        if now > t0:
            self.items_per_s = (st.items_processed - n0) / (now - t0)
        self.queue.add(now, self.queue_size)
        self.status_error = None


HEALTH_STATES = ("ready", "loading", "unreachable", "error", "connecting")


def health_of(server: Any) -> str:
    """The health strip's word for a ServerState now."""
    if server.ok:
        return "ready"
    banner = server.banner
    if banner is None:
        return "connecting" if server.status == "connecting" else "error"
    if banner.problem is Problem.LOADING:
        return "loading"
    if banner.problem is Problem.UNREACHABLE:
        return "unreachable"
    return "error"


class ServerOverview(Leased):
    """Health history and per-session ingest across the whole server."""

    def __init__(self, dashboard: Any) -> None:
        super().__init__()
        self.dashboard = dashboard
        self.health: deque[tuple[float, str]] = deque(maxlen=HEALTH_KEPT)
        self.lines: dict[str, SessionLine] = {}
        self.status_offered: bool | None = None  # False: stream/status not offered
        self.max_sessions: int | None = None  # when the sessions store does not know it
        self.polls = 0
        self.version = 0
        self._health_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._health_task is None:
            self._health_task = asyncio.ensure_future(self._sample_health())

    async def stop(self) -> None:
        await cancel_quietly(self._task)
        await cancel_quietly(self._health_task)
        self._task = self._health_task = None

    def sample_health(self, now: float | None = None) -> None:
        self.health.append((time.time() if now is None else now,
                            health_of(self.dashboard.server)))
        self.version += 1

    async def _sample_health(self) -> None:
        while True:
            self.sample_health()
            await asyncio.sleep(HEALTH_TICK)  # a sampling clock, not a synchronisation

    def sync_rows(self, now: float | None = None) -> None:
        """Follow the sessions listing: lines for new sessions, none for gone ones."""
        rows = self.dashboard.sessions.rows
        t = time.time() if now is None else now
        for sid in [s for s in self.lines if s not in rows]:
            del self.lines[sid]
        for sid, row in rows.items():
            line = self.lines.get(sid)
            if line is None:
                line = self.lines[sid] = SessionLine(sid)
            line.tokens.add(t, row.n_tokens)

    async def poll_once(self) -> None:
        self.polls += 1
        self.sync_rows()
        client = self.dashboard.client
        if client is None or not self.dashboard.server.ok:
            return
        if offers(client, "stream_status") is False:
            self.status_offered = False
            self.version += 1
            return
        if self.dashboard.sessions.max_sessions is None and self.max_sessions is None:
            # The common listing drops gen 1's max_sessions: read it once from the listing.
            try:
                self.max_sessions = (await client.sessions.list()).max_sessions
            except LayerScaleError as exc:
                log.debug("max_sessions: %s", exc)

        async def read(sid: str) -> None:
            line = self.lines.get(sid)
            try:
                status = await client.sessions.stream_status(sid)
            except LayerScaleError as exc:
                if is_unsupported(exc):
                    self.status_offered = False
                elif line is not None:
                    line.status_error = diagnose(exc).message
                return
            self.status_offered = True
            if line is not None:
                line.add_status(status, time.time())

        await asyncio.gather(*(read(sid) for sid in list(self.lines)))
        self.version += 1

    def _work(self) -> Coroutine[Any, Any, None]:
        return self._run()

    async def _run(self) -> None:
        while True:
            if not self.wanted:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the overview must never die of one bad answer
                log.info("overview poll failed: %s", exc)
            self._wake.clear()
            await sleep_or_wake(self._wake, OVERVIEW_INTERVAL)

    def totals(self) -> dict[str, float]:
        rows = self.dashboard.sessions.rows
        return {
            "sessions": len(rows),
            "tokens": sum(r.n_tokens for r in rows.values()),
            "queue": sum(line.queue_size for line in self.lines.values()),
            "dropped": sum(line.dropped for line in self.lines.values()),
            "items_per_s": sum(line.items_per_s for line in self.lines.values()),
        }


class Cockpit:
    """All cockpit state of one Dashboard; views ask it for what they show."""

    def __init__(self, dashboard: Any) -> None:
        self.dashboard = dashboard
        self.server = ServerOverview(dashboard)
        self._sessions: dict[int, SessionCockpit] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.server.start()

    def for_model(self, model: Any, dashboard: Any = None) -> SessionCockpit:
        """The cockpit of an open session (of `dashboard`, by default this one's)."""
        found = self._sessions.get(id(model))
        if found is None or found.model is not model:
            found = self._sessions[id(model)] = SessionCockpit(dashboard or self.dashboard,
                                                               model)
        return found

    def prune(self, live: set[int]) -> None:
        """Stop the pollers of sessions whose view is gone (`live`: ids of shown models)."""
        for key in [k for k in self._sessions if k not in live]:
            task = asyncio.ensure_future(self._sessions.pop(key).stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    def existing(self, model: Any) -> SessionCockpit | None:
        found = self._sessions.get(id(model))
        return found if found is not None and found.model is model else None

    async def stop(self) -> None:
        for item in list(self._sessions.values()):
            await item.stop()
        self._sessions.clear()
        await self.server.stop()


def _snap(text: str, at: int) -> int:
    """The line start nearest to `at` (entries and the prompt end at line ends)."""
    at = max(0, min(len(text), at))
    before = text.rfind("\n", 0, at)
    after = text.find("\n", at)
    starts = [0 if before < 0 else before + 1]
    if after >= 0:
        starts.append(after + 1)
    return min(starts, key=lambda s: abs(s - at))


def context_marks(state: SessionState) -> tuple[int, int, int]:
    """Where the prefix ends and the data region starts and ends in `context_text`.

    The state gives token positions; the text has no token boundaries. Positions are
    mapped by their share of the tokens and snapped to line starts, then the data region
    is made to hold `data_count` lines (one per entry) ending where the data ends.
    """
    text = state.context_text
    n = max(1, state.n_tokens)
    size = len(text)

    def char(pos: int | None) -> int:
        return _snap(text, round((pos or 0) / n * size))

    prefix = char(state.prefix_end) if state.prefix_end else 0
    region = state.data_region
    if state.data_count <= 0 or region.end <= region.start:
        return prefix, prefix, prefix
    end = size if region.end >= state.n_tokens else char(region.end)
    start = char(region.start)
    body = text[:end].rstrip("\n")
    lines = body[start:].count("\n") + 1 if body[start:] else 0
    if lines != state.data_count and body.count("\n") + 1 >= state.data_count:
        cut = len(body)
        for _ in range(state.data_count):
            cut = body.rfind("\n", 0, cut)
            if cut < 0:
                break
        start = 0 if cut < 0 else cut + 1
    per_entry = (region.end - region.start) / state.data_count
    if state.prefix_end and 0 <= region.start - state.prefix_end < per_entry:
        prefix = start  # the data follows the prefix directly: one boundary, found once
    return min(prefix, start), start, end
