"""The live link of one open session: feed -> outbox -> WebSocket push -> ack -> store.

The same for every stream type: entries are whatever the session type's store and
`to_wire` take (app.streams); nothing here knows what a candle is.

Delivery rule (none lost, none drawn twice, in order):

* one batch is in flight at a time; the next is taken from the outbox only after
  the server acknowledged the previous one, so acks match batches by order alone;
* a `push_ack` stores the first `pushed` entries of the batch (the plot shows what
  the model has); `dropped` ones (the server's ring was full) go back to the front
  of the outbox and are pushed again after a short pause;
* if the socket drops with a batch in flight, nobody knows whether the server got
  it. After the reconnect the runner reads `stream/status`: `total_enqueued` minus
  what we know was accepted says how many of the batch arrived; those are drawn,
  the rest go back to the front of the outbox. (Exact for sessions the dashboard
  owns, which nobody else pushes to; that is why only owned sessions push.)
* if the session is gone (the server restarted: 404), an owned session is created
  again from its spec with its current flash queries, the entries the store holds
  (the last `window_size` of them) are pushed again so the model sees the same
  data, the in-flight batch goes back to the outbox, and the feed continues.

Sessions fed by other programs are never pushed to. Attaching a feed to one runs
it in *observe-only* mode: its entries go straight into the store (a local overlay
of what the user believes the other program sends) and the server is not touched.

While a view shows the session's statistics (`SessionModel.stats_wanted`), the runner
reads `GET .../stats` after data changes, at most every `STATS_INTERVAL` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any

from app.api import LayerScale, LayerScaleError, LinkState, ReconnectingSessionStream
from app.api.models import (
    ConnectedEvent,
    DataUpdatedEvent,
    ErrorEvent,
    FlashQuery,
    FlashReadyEvent,
    PushAckEvent,
    SessionEvent,
)
from app.core import latency
from app.core.problems import Problem, diagnose
from app.core.server import backoff, cancel_quietly
from app.core.session import Marker, Mode, SessionModel
from app.feeds.base import Feed

log = logging.getLogger(__name__)

BATCH_MAX = 256
RESEED_MAX = 4096  # a window-less session re-seeds at most this many of the newest entries
RESEED_CHUNK = 256
DROPPED_PAUSE = 0.2  # seconds to wait before re-pushing what a full server ring dropped
FLIP_COLOUR = "#f0b429"
STATS_INTERVAL = 2.0  # seconds between two stats reads while a view shows them
STATS_TICK = 0.25  # how soon a view that starts showing stats gets them


class SessionRunner:
    """Runs one session's link until cancelled (tab closed) or the session is deleted."""

    def __init__(
        self,
        client: LayerScale,
        model: SessionModel,
        *,
        batch_max: int = BATCH_MAX,
        on_session_id: Callable[[str, str], None] | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.batch_max = batch_max
        self.on_session_id = on_session_id  # (old, new) after a recreate
        self.stream_type = model.stream
        self._stream: ReconnectingSessionStream | None = None
        self._open = asyncio.Event()
        self._acked = asyncio.Event()
        self._inflight: list[Any] | None = None
        self._uncertain = False  # the in-flight batch may or may not have reached the server
        self._rejecting = False  # ...and an error event says the server refused it
        self._refusal = ""  # the server's words for that refusal, shown as they are
        self._dropped_pause = False  # the server's ring was full: wait before pushing again
        self._accepted = 0  # entries the server enqueued from us on the current session
        self.feed: Feed | None = None
        self._feed_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ feeds
    def attach_feed(self, feed: Feed, name: str = "feed") -> None:
        """Start pumping `feed`; replaces any feed already attached."""
        m = self.model
        if feed.stream is not m.stream:
            raise ValueError(f"a {feed.stream.name} feed cannot feed a {m.type} session")
        self.detach_feed()
        if m.mode is Mode.EXTERNAL:
            m.mode = Mode.OBSERVE
            m.note(f"Feed attached in observe-only mode: {m.stream.unit} are drawn here, "
                   "not sent to this session (another program feeds it).")
        info = m.feed
        info.name, info.kind, info.total = name, feed.kind, feed.total
        info.done, info.emitted = False, 0
        info.speed, info.paused = float(feed.speed), bool(feed.paused)
        info.problems = [(int(p.line), str(p.message)) for p in feed.problems]
        if info.problems:
            m.note(f"{len(info.problems)} unreadable row(s) in {name} skipped "
                   f"(first at line {info.problems[0][0]}: {info.problems[0][1]})", "warning")
        self.feed = feed
        self._feed_task = asyncio.ensure_future(self._pump(feed))
        m.touch()

    def detach_feed(self) -> None:
        if self._feed_task is not None:
            self._feed_task.cancel()
            self._feed_task = None

    def stop_feed(self) -> None:
        """The user's Stop: the feed ends, what it already produced still goes out."""
        if self.feed is not None:
            self.feed.stop()
        self.detach_feed()
        self.feed = None
        self.model.feed.done = True
        self.model.touch()

    def pause_feed(self, paused: bool = True) -> None:
        if self.feed is None:
            return
        if paused:
            self.feed.pause()
        else:
            self.feed.resume()
        self.model.feed.paused = self.feed.paused
        self.model.touch()

    def set_feed_speed(self, speed: float) -> None:
        """Entries per second; math.inf plays as fast as the link takes them."""
        self.model.feed.speed = speed
        if self.feed is not None:
            self.feed.speed = speed
        self.model.touch()

    async def _pump(self, feed: Feed) -> None:
        m = self.model
        try:
            async for entry in feed:
                m.feed.emitted += 1
                if m.pushes:
                    await m.outbox.put(entry)
                else:
                    m.store.append(entry)
                m.touch()
        finally:
            m.feed.done = feed.done
            m.touch()

    # ------------------------------------------------------------------ main loop
    async def run(self) -> None:
        m = self.model
        failures = 0
        stats = asyncio.ensure_future(self._stats_loop())
        try:
            while not m.closed_by_user:
                await self._run_stream()
                if m.closed_by_user:
                    break
                # The stream stopped for good; find out why with a plain request.
                try:
                    await self.client.sessions.get(m.session_id)
                    gone = False
                    why = m.link.reason or "closed by the server"
                except (LayerScaleError, OSError) as exc:
                    d = diagnose(exc)
                    gone = d.problem is Problem.NOT_FOUND
                    why = d.message
                if gone and m.owned and m.spec is not None:
                    try:
                        await self._recreate()
                        failures = 0
                        continue
                    except (LayerScaleError, OSError) as exc:
                        why = f"could not recreate the session: {diagnose(exc).message}"
                        m.note(why, "error")
                elif gone:
                    self._set_link("closed", "session deleted on the server")
                    m.note("The session was deleted on the server.", "warning")
                    return
                # Key rejected, server down, ...: the cause may go away; try again later.
                failures += 1
                delay = backoff(failures, base=1.0, cap=15.0)
                self._set_link("reconnecting", why, retry_in=delay)
                await asyncio.sleep(delay)
        finally:
            self.detach_feed()
            await cancel_quietly(stats)
            for task in list(self._tasks):
                task.cancel()

    async def _run_stream(self) -> None:
        m = self.model
        stream = self.client.sessions.reconnecting_stream(m.session_id, on_state=self._on_state)
        self._stream = stream
        async with stream:
            pusher = asyncio.ensure_future(self._push_loop(stream))
            try:
                async for event in stream:
                    self._handle(event)
            finally:
                await cancel_quietly(pusher)
                self._open.clear()
                self._stream = None
        if self._inflight is not None:
            self._uncertain = True

    # ------------------------------------------------------------------ link state
    def _on_state(self, state: LinkState) -> None:
        m = self.model
        if state.status == "reconnecting" and m.link.status == "open":
            m.link.reconnects += 1
        self._set_link(state.status, state.reason, retry_in=state.retry_in,
                       attempt=state.attempt)
        if state.status == "open":
            self._open.set()
        else:
            self._open.clear()
            if self._inflight is not None:
                self._uncertain = True
                self._acked.set()  # wake the pusher: its batch is now a question for status

    def _set_link(self, status: str, reason: str | None, *, retry_in: float | None = None,
                  attempt: int | None = None) -> None:
        link = self.model.link
        link.status, link.reason = status, reason
        link.retry_at = None if retry_in is None else time.monotonic() + float(retry_in)
        if attempt is not None:
            link.attempt = int(attempt or 0)
        self.model.touch()

    # ------------------------------------------------------------------ events
    def _handle(self, event: SessionEvent) -> None:
        m = self.model
        latency.observe(m, event)  # the cockpit's push/flash timings
        match event:
            case ConnectedEvent():
                if event.data_version is not None:
                    m.data_version = event.data_version
                self._spawn(self.refresh_flash())
            case DataUpdatedEvent():
                m.data_version = event.data_version
                if event.data_count is not None:
                    m.data_count = event.data_count
            case FlashReadyEvent():
                self._record_answer(event.id, event.query, event.value, event.confidence,
                                    event.data_version, event.evaluated_at)
            case PushAckEvent():
                self._on_ack(event.pushed, event.dropped, event.queue_size)
            case ErrorEvent():
                m.note(f"Server error on the link: {event.message}", "error")
                if self._inflight is not None and not self._uncertain:
                    # Probably our push was refused; status will tell how much was taken.
                    self._uncertain = True
                    self._rejecting = True
                    self._refusal = event.message
                    self._acked.set()
            case _:
                pass  # pong, and event types this dashboard does not know
        m.touch()

    def _record_answer(self, qid: int, query: str, value: str, confidence: float | None,
                       version: int | None, evaluated_at: float | None) -> None:
        m = self.model
        if version is None:
            return
        flip = m.board.record(qid, query, value, confidence, version, evaluated_at)
        ts = m.store.last_timestamp if len(m.store) else None
        if flip is not None and ts is not None:
            m.markers.append(Marker(ts, f"{flip.before.strip()[:12]} → {flip.after.strip()[:12]}",
                                    FLIP_COLOUR))

    def _record_listed(self, q: FlashQuery) -> None:
        if q.has_answer:
            self._record_answer(q.id, q.query, q.value, q.confidence, q.data_version,
                                q.evaluated_at)

    async def refresh_flash(self) -> None:
        """Read the registered queries and their cached answers (after (re)connecting)."""
        m = self.model
        try:
            listing = await self.client.sessions.list_flash(m.session_id)
        except LayerScaleError as exc:
            log.debug("list_flash %s: %s", m.session_id, exc)
            return
        m.board.set_queries([(q.id, q.query, q.max_tokens) for q in listing.flash_queries])
        m.data_version = max(m.data_version, listing.current_data_version)
        for q in listing.flash_queries:
            self._record_listed(q)
        m.touch()

    async def add_flash(self, query: str, max_tokens: int = 16) -> None:
        await self.client.sessions.flash(self.model.session_id, query, max_tokens=max_tokens)
        await self.refresh_flash()

    async def remove_flash(self, query_id: int) -> None:
        await self.client.sessions.unflash(self.model.session_id, query_id)
        self.model.board.remove(query_id)
        self.model.touch()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ pushing
    def _on_ack(self, pushed: int, dropped: int, queue_size: int | None) -> None:
        m = self.model
        if queue_size is not None:
            m.server_queue = queue_size
        batch = self._inflight
        if batch is None or self._uncertain:
            return  # an ack we can no longer match; status decides for that batch
        pushed = max(0, min(pushed, len(batch)))
        self._draw(batch[:pushed])
        self._accepted += pushed
        rest = batch[pushed:]
        if rest:
            m.outbox.push_front(rest)
            self._dropped_pause = True
        self._inflight = None
        self._acked.set()

    def _draw(self, entries: list[Any]) -> None:
        if entries:
            self.model.store.extend(entries)
            self.model.acked += len(entries)
            self.model.touch()

    async def _push_loop(self, stream: ReconnectingSessionStream) -> None:
        m = self.model
        while True:
            await self._open.wait()
            if self._inflight is not None and self._uncertain:
                try:
                    await self._resolve_inflight()
                except (LayerScaleError, OSError) as exc:  # server or session gone again
                    log.info("stream/status failed: %s", exc)
                    await asyncio.sleep(0.5)
                continue
            if self._dropped_pause:
                self._dropped_pause = False
                await asyncio.sleep(DROPPED_PAUSE)
            await m.outbox.wait_not_empty()
            if not self._open.is_set():
                continue
            batch = m.outbox.take(self.batch_max)
            self._inflight, self._uncertain = batch, False
            self._acked.clear()
            m.touch()
            try:
                latency.pushed(m)
                await stream.push([self.stream_type.to_wire(e) for e in batch])
            except (LayerScaleError, OSError) as exc:
                # Maybe sent, maybe not: settle it through stream/status once open again.
                log.info("push failed (%s); will settle through stream/status", exc)
                self._uncertain = True
                await asyncio.sleep(0.05)
                continue
            await self._acked.wait()

    async def _resolve_inflight(self) -> None:
        """Settle a batch whose ack never came, from the server's enqueue counter."""
        m = self.model
        batch = self._inflight or []
        status = await self.client.sessions.stream_status(m.session_id)
        enqueued = status.statistics.total_enqueued
        arrived = max(0, min(len(batch), enqueued - self._accepted))
        self._draw(batch[:arrived])
        self._accepted += arrived
        rest = batch[arrived:]
        if rest and self._rejecting:
            m.rejected += len(rest)
            m.refusal = self._refusal
            m.note(f"The server refused {len(rest)} {m.stream.unit}: {self._refusal}", "error")
        elif rest:
            m.outbox.push_front(rest)
        self._inflight, self._uncertain, self._rejecting = None, False, False
        m.touch()

    # ------------------------------------------------------------------ recreate
    async def _recreate(self) -> None:
        m = self.model
        assert m.spec is not None
        old = m.session_id
        flash = m.board.specs() or None
        info = await self.client.sessions.create(**m.spec.create_kwargs(flash))
        new = info.session_id
        m.session_id = new
        # The in-flight batch cannot be on a brand-new session: it goes out again.
        if self._inflight is not None:
            m.outbox.push_front(self._inflight)
            self._inflight, self._uncertain, self._rejecting = None, False, False
        self._accepted = 0
        n = len(m.store)
        keep = min(n, m.spec.window_size or RESEED_MAX, RESEED_MAX)
        seeded = 0
        for start in range(n - keep, n, RESEED_CHUNK):
            chunk = [self.stream_type.to_wire(m.store[i])
                     for i in range(start, min(n, start + RESEED_CHUNK))]
            result = await self.client.sessions.push(new, chunk)
            seeded += result.pushed
        self._accepted = seeded
        m.recreated += 1
        m.board.clear()
        m.data_version = 0
        await self.refresh_flash()  # the new session's query ids
        m.note(f"The server lost session {old[:12]} (restarted?). Recreated it as {new[:12]} "
               f"with the same settings and {len(m.board)} flash queries, re-sent the "
               f"{seeded} {m.stream.unit} in the plot's window; the feed continues.", "warning")
        if self.on_session_id is not None:
            self.on_session_id(old, new)
        m.touch()

    # ------------------------------------------------------------------ statistics
    async def _stats_loop(self) -> None:
        """Read the session's statistics while a view shows them and the data moved."""
        m = self.model
        read: tuple[str, int] | None = None  # (session, data version) last read
        last = -math.inf
        while True:
            await asyncio.sleep(STATS_TICK)
            key = (m.session_id, m.data_version)
            if not m.stats_wanted or key == read or time.monotonic() - last < STATS_INTERVAL:
                continue
            last = time.monotonic()
            try:
                m.stats = await self.client.sessions.stats(m.session_id)
                m.stats_error, read = None, key
            except LayerScaleError as exc:
                m.stats_error = diagnose(exc).message  # and try again on a later tick
            m.touch()
