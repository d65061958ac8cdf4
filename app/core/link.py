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

Truth about what the model has read (app.core.progress): a push_ack's queue depth and
`stream/status` (read after data_updated while anything is queued, throttled) say how
many drawn entries the model has read; the rest are drawn faded, and an answer is fresh
only when it covers everything drawn. Backpressure: with the "hold" policy (default) the
runner keeps at most HOLD_QUEUE entries waiting in the server's queue and holds the rest
in the outbox (whose bound then slows the feed), so the server never has to drop; with
"latest" it pushes as fast as the feed goes and counts what the server drops. A full
context stops the pushing (the outbox keeps every entry) until the user recreates the
session with a sliding window or clears it (`recover_from_full`).

Sessions the dashboard owns are journaled (app.core.archive) as their entries are
acknowledged, so a restarted dashboard re-adopts them with their history.

While a view shows the session's statistics (`SessionModel.stats_wanted`), the runner
reads `GET .../stats` after data changes, at most every `STATS_INTERVAL` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from app.api import LayerScale, LayerScaleError, LinkState, ReconnectingSessionStream
from app.api.errors import NotFoundError, NotOfferedError
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
from app.core.archive import SessionJournal
from app.core.problems import Problem, context_full, diagnose
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
HOLD_QUEUE = 128  # "hold": entries we let wait in the server's queue; the rest wait here
STATUS_MIN_INTERVAL = 0.25  # seconds between two stream/status reads
STATUS_IDLE_INTERVAL = 1.0  # ...and how often while something is queued but no event comes


class SessionRunner:
    """Runs one session's link until cancelled (tab closed) or the session is deleted."""

    def __init__(
        self,
        client: LayerScale,
        model: SessionModel,
        *,
        batch_max: int = BATCH_MAX,
        on_session_id: Callable[[str, str], None] | None = None,
        journal: SessionJournal | None = None,
        accepted: int = 0,
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
        self._inflight_wire: list[dict[str, Any]] = []  # the in-flight batch as sent
        self._uncertain = False  # the in-flight batch may or may not have reached the server
        self._rejecting = False  # ...and an error event says the server refused it
        self._refusal = ""  # the server's words for that refusal, shown as they are
        self._dropped_pause = False  # the server's ring was full: wait before pushing again
        # Entries the server enqueued from us on the current session (an adopted session
        # starts from the server's own count).
        self._accepted = accepted
        progress = model.progress  # its `base`: store index of the session's first entry
        progress.base = len(model.store) - accepted
        progress.stored = len(model.store)
        progress.ingested = max(progress.ingested, progress.base)
        self.journal = journal
        self._status_wanted = asyncio.Event()  # a stream/status read would tell us more
        self._status_offered = True  # False once a server has no stream/status (gen 2)
        self._unfull = asyncio.Event()
        self._unfull.set()
        self._queue_moved = asyncio.Event()
        self._paused_for_full = False
        self._replacing: asyncio.Event | None = None  # set once a replacement session exists
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
        recipe = getattr(feed, "recipe", lambda: None)()
        if self.journal is not None and m.pushes:
            # Where the feed's first entry is (or will be) in the journal: after what is
            # journaled and what still waits to go out, less what was taken before attaching.
            waiting = len(m.outbox) + len(self._inflight or [])
            start = self.journal.seq + waiting - int(getattr(feed, "taken", 0))
            self.journal.feed(None if recipe is None else {**recipe, "speed": feed.speed,
                                                           "name": name}, start)
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
        if self.journal is not None:
            self.journal.feed(None)  # stopped on purpose: not resumed after a restart
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
            if feed.done and self.journal is not None and self.feed is feed:
                self.journal.feed(None)  # played to its end: nothing to resume
            m.touch()

    # ------------------------------------------------------------------ main loop
    async def run(self) -> None:
        m = self.model
        failures = 0
        stats = asyncio.ensure_future(self._stats_loop())
        status = asyncio.ensure_future(self._status_loop())
        try:
            while not m.closed_by_user:
                await self._run_stream()
                if m.closed_by_user:
                    break
                if self._replacing is not None:  # the session is being replaced on purpose
                    await self._replacing.wait()
                    self._replacing = None
                    continue
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
                    m.progress.gone = True
                    m.note("The session was deleted on the server: its answers are final.",
                           "warning")
                    return
                # Key rejected, server down, ...: the cause may go away; try again later.
                failures += 1
                delay = backoff(failures, base=1.0, cap=15.0)
                self._set_link("reconnecting", why, retry_in=delay)
                await asyncio.sleep(delay)
        finally:
            self.detach_feed()
            await cancel_quietly(stats)
            await cancel_quietly(status)
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
        if self._replacing is not None:
            return  # the old session's last words, while it is being replaced
        latency.observe(m, event)  # the cockpit's push/flash timings
        match event:
            case ConnectedEvent():
                if event.data_version is not None:
                    m.data_version = event.data_version
                    m.progress.data_updated(event.data_version)
                self._status_wanted.set()
                self._spawn(self.refresh_flash())
            case DataUpdatedEvent():
                m.data_version = event.data_version
                if event.data_count is not None:
                    m.data_count = event.data_count
                m.progress.data_updated(event.data_version)
                self._note_version(event.data_version, event.data_count)
            case FlashReadyEvent():
                self._record_answer(event.id, event.query, event.value, event.confidence,
                                    event.data_version, event.evaluated_at)
            case PushAckEvent():
                self._on_ack(event.pushed, event.dropped, event.queue_size)
            case ErrorEvent():
                if context_full(event.message, event.code):
                    self._context_is_full(event.message)
                else:
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
        self._log_signal(qid, value, confidence, version)
        ts = m.store.last_timestamp if len(m.store) else None
        if flip is not None and ts is not None:
            m.markers.append(Marker(ts, flip_label(query, flip.before, flip.after), FLIP_COLOUR))

    # ------------------------------------------------------------------ signal candles
    # Which candle a data version ended with (app.core.signals explains the rule).
    def _sent_timestamp(self, index: int) -> float | None:
        """Timestamp of entry `index` of what was sent: the drawn ones, then the in-flight."""
        store, n = self.model.store, len(self.model.store)
        if 0 <= index < n:
            return float(store.t[index])
        batch = self._inflight or []
        j = index - n
        if 0 <= j < len(batch):
            ts = getattr(batch[j], "timestamp", None)
            return None if ts is None else float(ts)
        return None

    def _newest_sent(self) -> float | None:
        m = self.model
        return self._sent_timestamp(len(m.store) + len(self._inflight or []) - 1)

    def _note_version(self, version: int, data_count: int | None) -> None:
        m = self.model
        sent = len(m.store) + len(self._inflight or [])
        if m.owned and data_count and m.progress.base + data_count == sent:
            # The session holds everything sent to it: the newest sent is the newest read.
            ts = self._sent_timestamp(sent - 1)
            if ts is not None:
                m.ledger.record(version, ts, exact=True)
                return
        ts = self._newest_sent()
        if ts is None:
            return
        m.ledger.record(version, ts)
        if m.owned:
            self._status_wanted.set()

    async def _status_loop(self) -> None:
        """Read stream/status when an event says the server moved (throttled), and every
        STATUS_IDLE_INTERVAL while entries wait in its queue: how many drawn entries the
        model has read (app.core.progress), and a closer bound for the ledger's newest
        version (read after it was announced, so it can only be later, never earlier)."""
        m = self.model
        loop = asyncio.get_running_loop()
        while self._status_offered:
            # A timer sets the same event an event sets (not wait_for: see app.feeds.base).
            waiting = m.owned and (m.progress.queued > 0 or self._holding())
            timer = loop.call_later(STATUS_IDLE_INTERVAL, self._status_wanted.set) if waiting \
                else None
            try:
                await self._status_wanted.wait()
            finally:
                if timer is not None:
                    timer.cancel()
            self._status_wanted.clear()
            if not m.owned or not self._open.is_set():
                continue
            version, sid = m.data_version, m.session_id
            try:
                status = await self.client.sessions.stream_status(sid)
            except NotFoundError:
                continue  # gone: the main loop finds out and recreates
            except (LayerScaleError, OSError) as exc:
                if isinstance(exc, NotOfferedError) or getattr(exc, "status", None) in (405, 501):
                    self._status_offered = False  # a server without stream/status
                log.debug("stream/status: %s", exc)
            else:
                if sid == m.session_id:
                    self._apply_status(status, version)
            await asyncio.sleep(STATUS_MIN_INTERVAL)

    async def _learn_capacity(self) -> None:
        """Read the server's queue capacity once (stream/status) before the first push; a
        server that does not say is taken to hold HOLD_QUEUE."""
        m = self.model
        if self._status_offered:
            try:
                self._apply_status(await self.client.sessions.stream_status(m.session_id),
                                   m.data_version)
                return
            except (LayerScaleError, OSError) as exc:
                log.debug("stream/status for the queue's capacity: %s", exc)
        if m.progress.queue_capacity is None:
            m.progress.queue_capacity = 2 * HOLD_QUEUE

    def _apply_status(self, status: Any, version: int) -> None:
        m = self.model
        processed = status.statistics.items_processed
        m.progress.status(processed, status.streaming.queue_size,
                          status.streaming.queue_capacity)
        m.server_queue = status.streaming.queue_size
        ts = self._sent_timestamp(m.progress.base + processed - 1)
        if ts is not None and version:
            m.ledger.record(version, ts)
        self._progressed()
        m.touch()

    def _log_signal(self, qid: int, value: str, confidence: float | None, version: int) -> None:
        m = self.model
        found = m.ledger.candle_for(version)
        if found is None:  # a version announced before we listened: the newest sent is safe
            ts = self._newest_sent()
            found = None if ts is None else (ts, False)
        if found is not None:
            m.signals.add(qid, value, confidence, version, found[0], found[1], time.time())

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
        self._accepted += pushed
        self._draw(batch[:pushed], self._inflight_wire[:pushed])
        m.progress.acked(len(m.store), self._accepted, queue_size)
        rest = batch[pushed:]
        if rest:
            hold = m.policy == "hold"
            m.progress.dropped_by_server(len(rest), resent=hold)
            if hold:  # keep every entry: send the dropped ones again after a pause
                m.outbox.push_front(rest)
                self._dropped_pause = True
            else:
                m.note(f"The server's queue was full: it dropped {len(rest)} {m.stream.unit} "
                       f"({m.progress.dropped:,} in all; policy: latest wins).", "warning")
        self._inflight = None
        self._progressed()
        self._acked.set()

    def _draw(self, entries: list[Any], wires: list[dict[str, Any]] | None = None) -> None:
        """Store acknowledged entries (and journal their wire JSON: the pushed one when
        given, not built a second time)."""
        if entries:
            self.model.store.extend(entries)
            self.model.acked += len(entries)
            if self.journal is not None:
                self.journal.record(wires if wires is not None else
                                    [self.stream_type.to_wire(e) for e in entries])
            self.model.touch()

    # ------------------------------------------------------------------ backpressure
    def _hold_limit(self) -> int:
        """Entries "hold" lets wait at the server: HOLD_QUEUE, or half a smaller queue."""
        capacity = self.model.progress.queue_capacity
        return max(1, min(HOLD_QUEUE, capacity // 2)) if capacity else HOLD_QUEUE

    def _holding(self) -> bool:
        """The hold policy keeps the next batch back: the server's queue is long enough."""
        m = self.model
        return m.policy == "hold" and m.server_queue >= max(1, self._hold_limit() // 2)

    def _progressed(self) -> None:
        """The server's queue depth changed: a held push loop looks again."""
        self._queue_moved.set()

    def _batch_size(self) -> int:
        m = self.model
        if m.policy != "hold":
            return self.batch_max
        return max(1, min(self.batch_max, self._hold_limit() - m.server_queue))

    # ------------------------------------------------------------------ a full context
    def _context_is_full(self, message: str) -> None:
        m = self.model
        if m.progress.context_full:
            return
        m.progress.context_full = message
        self._unfull.clear()
        if self.feed is not None and not self.feed.paused:
            self.pause_feed(True)
            self._paused_for_full = True
        m.note(f"The session's context is full ({message}). Nothing more is sent: "
               f"{len(m.outbox):,} {m.stream.unit} wait in the outbox. Recreate the session "
               "with a sliding window (flash queries kept) or clear it to go on.", "error")

    async def recover_from_full(self, action: str, window_size: int | None = None) -> None:
        """The way out of a full context: "window" recreates the session with a sliding
        window of `window_size` entries (re-sending the newest of them), "clear" recreates
        it empty; both keep the flash queries, delete the full session, and resume."""
        m = self.model
        if m.spec is None:
            raise ValueError("only a session this dashboard created can be recreated")
        if action == "window":
            size = int(window_size or suggested_window(m))
            m.spec = replace(m.spec, window_size=size)
            reseed = True
        elif action == "clear":
            reseed = False
        else:
            raise ValueError(f"unknown action {action!r}")
        old = m.session_id
        # The full session's stream goes first, so none of its late events (more "full"
        # errors) lands on the new one; the main loop waits until the new one exists.
        self._replacing = asyncio.Event()
        try:
            if self._stream is not None:
                await self._stream.close()
            await self._recreate(reseed=reseed, reason="full")
        finally:
            self._replacing.set()
        with contextlib.suppress(LayerScaleError, OSError):
            await self.client.sessions.delete(old, timeout=60.0)

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
            if not self._unfull.is_set():
                await self._unfull.wait()
                continue
            if m.policy == "hold" and m.progress.queue_capacity is None:
                await self._learn_capacity()  # "hold" must know the queue before it fills
            if self._holding():  # the server has enough to read: let it catch up first
                self._queue_moved.clear()
                self._status_wanted.set()
                await self._queue_moved.wait()
                continue
            await m.outbox.wait_not_empty()
            if not self._open.is_set() or not self._unfull.is_set():
                continue
            batch = m.outbox.take(self._batch_size())
            self._inflight, self._uncertain = batch, False
            self._acked.clear()
            m.touch()
            try:
                latency.pushed(m)
                self._inflight_wire = [self.stream_type.to_wire(e) for e in batch]
                await stream.push(self._inflight_wire)
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
        self._accepted += arrived
        self._draw(batch[:arrived], self._inflight_wire[:arrived]
                   if len(self._inflight_wire) == len(batch) else None)
        m.progress.acked(len(m.store), self._accepted, status.streaming.queue_size)
        rest = batch[arrived:]
        if rest and m.progress.context_full:
            m.outbox.push_front(rest)  # kept for after the way out
        elif rest and self._rejecting:
            m.rejected += len(rest)
            m.refusal = self._refusal
            m.note(f"The server refused {len(rest)} {m.stream.unit}: {self._refusal}", "error")
        elif rest:
            m.outbox.push_front(rest)
        self._inflight, self._uncertain, self._rejecting = None, False, False
        m.touch()

    # ------------------------------------------------------------------ recreate
    async def _recreate(self, *, reseed: bool = True, reason: str = "lost") -> None:
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
        keep = min(n, m.spec.window_size or RESEED_MAX, RESEED_MAX) if reseed else 0
        m.progress.restarted(n, keep)
        m.server_queue = 0
        self._unfull.set()
        seeded = 0
        for start in range(n - keep, n, RESEED_CHUNK):
            chunk = [self.stream_type.to_wire(m.store[i])
                     for i in range(start, min(n, start + RESEED_CHUNK))]
            result = await self.client.sessions.push(new, chunk)
            seeded += result.pushed
        self._accepted = seeded
        m.progress.acked(n, seeded, None)
        m.ledger.clear()  # the new session counts versions from 0 again
        m.recreated += 1
        m.board.clear()
        m.data_version = 0
        await self.refresh_flash()  # the new session's query ids
        if reason == "full":
            how = (f"with a sliding window of {m.spec.window_size} {m.stream.unit}, re-sent "
                   f"the newest {seeded}" if reseed else "empty (cleared)")
            m.note(f"Recreated the full session as {new[:12]} {how}, with its "
                   f"{len(m.board)} flash queries; the feed continues.", "info")
        else:
            m.note(f"The server lost session {old[:12]} (restarted?). Recreated it as "
                   f"{new[:12]} with the same settings and {len(m.board)} flash queries, "
                   f"re-sent the {seeded} {m.stream.unit} in the plot's window; the feed "
                   "continues.", "warning")
        if self.journal is not None:
            self.journal.renamed(new, seeded, m.spec)
        if self._paused_for_full:
            self._paused_for_full = False
            self.pause_feed(False)
        if self.on_session_id is not None:
            self.on_session_id(old, new)
        self._progressed()
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


def flip_label(query: str, before: str, after: str, width: int = 28) -> str:
    """A flip marker's label: which query flipped, and from what to what."""
    return f"{clip(query, width)}: {clip(before.strip(), 14)} → {clip(after.strip(), 14)}"


def clip(text: str, width: int) -> str:
    """`text` on one line, cut at a word near `width` characters with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,.;:") + "…"


def suggested_window(model: SessionModel) -> int:
    """A sliding window for a session whose context filled: three quarters of the entries
    it held, so flash answers keep room to be computed."""
    return max(8, int(max(model.data_count, 1) * 0.75))
