"""The live link of one open session: feed -> outbox -> WebSocket push -> ack -> chart.

Delivery rule (none lost, none drawn twice, in order):

* one batch is in flight at a time; the next is taken from the outbox only after
  the server acknowledged the previous one, so acks match batches by order alone;
* a `push_ack` draws the first `pushed` candles of the batch (the chart shows what
  the model has); `dropped` ones (the server's ring was full) go back to the front
  of the outbox and are pushed again after a short pause;
* if the socket drops with a batch in flight, nobody knows whether the server got
  it. After the reconnect the runner reads `stream/status`: `total_enqueued` minus
  what we know was accepted says how many of the batch arrived; those are drawn,
  the rest go back to the front of the outbox. (Exact for sessions the dashboard
  owns, which nobody else pushes to; that is why only owned sessions push.)
* if the session is gone (the server restarted: 404), an owned session is created
  again from its spec with its current flash queries, the candles the chart holds
  (the last `window_size` of them) are pushed again so the model sees the same
  data, the in-flight batch goes back to the outbox, and the feed continues.

Sessions fed by other programs are never pushed to. Attaching a feed to one runs
it in *observe-only* mode: its candles go straight into the chart (a local overlay
of what the user believes the other program sends) and the server is not touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from app.core import fields
from app.core.candles import Candle
from app.core.problems import Problem, diagnose
from app.core.server import backoff, cancel_quietly
from app.core.session import Mode, SessionModel

log = logging.getLogger(__name__)

BATCH_MAX = 256
RESEED_MAX = 4096  # a window-less session re-seeds at most this many of the newest candles
RESEED_CHUNK = 256
DROPPED_PAUSE = 0.2  # seconds to wait before re-pushing what a full server ring dropped
FLIP_COLOUR = "#f0b429"


class SessionRunner:
    """Runs one session's link until cancelled (tab closed) or the session is deleted."""

    def __init__(
        self,
        client: Any,
        model: SessionModel,
        *,
        batch_max: int = BATCH_MAX,
        on_session_id: Callable[[str, str], None] | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.batch_max = batch_max
        self.on_session_id = on_session_id  # (old, new) after a recreate
        self._stream: Any = None
        self._open = asyncio.Event()
        self._acked = asyncio.Event()
        self._inflight: list[Candle] | None = None
        self._uncertain = False  # the in-flight batch may or may not have reached the server
        self._rejecting = False  # ...and an error event says the server refused it
        self._dropped_pause = False  # the server's ring was full: wait before pushing again
        self._accepted = 0  # entries the server enqueued from us on the current session
        self.feed: Any = None
        self._feed_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ feeds
    def attach_feed(self, feed: Any, name: str = "feed") -> None:
        """Start pumping `feed`; replaces any feed already attached."""
        self.detach_feed()
        m = self.model
        if m.mode is Mode.EXTERNAL:
            m.mode = Mode.OBSERVE
            m.note("Feed attached in observe-only mode: candles are drawn here, "
                   "not sent to this session (another program feeds it).")
        m.feed.name, m.feed.done, m.feed.emitted = name, False, 0
        m.feed.speed, m.feed.paused = float(feed.speed), bool(feed.paused)
        problems = getattr(feed, "problems", None) or []
        m.feed.problems = [(int(p.line), str(p.message)) for p in problems]
        if m.feed.problems:
            m.note(f"{len(m.feed.problems)} unreadable row(s) in {name} skipped "
                   f"(first at line {m.feed.problems[0][0]}: {m.feed.problems[0][1]})", "warning")
        self.feed = feed
        self._feed_task = asyncio.ensure_future(self._pump(feed))
        m.touch()

    def detach_feed(self) -> None:
        if self._feed_task is not None:
            self._feed_task.cancel()
            self._feed_task = None

    async def _pump(self, feed: Any) -> None:
        m = self.model
        try:
            async for candle in feed:
                m.feed.emitted += 1
                if m.pushes:
                    await m.outbox.put(candle)
                else:
                    m.store.append(candle)
                m.touch()
        finally:
            m.feed.done = bool(getattr(feed, "done", True))
            m.touch()

    # ------------------------------------------------------------------ main loop
    async def run(self) -> None:
        m = self.model
        failures = 0
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
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    d = diagnose(exc)
                    gone = d.problem is Problem.NOT_FOUND
                    why = d.message
                if gone and m.owned and m.spec is not None:
                    try:
                        await self._recreate()
                        failures = 0
                        continue
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
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
    def _on_state(self, state: Any) -> None:
        m = self.model
        status = str(fields.get(state, "status", "connecting"))
        reason = fields.get(state, "reason")
        retry_in = fields.get(state, "retry_in")
        if status == "reconnecting" and m.link.status == "open":
            m.link.reconnects += 1
        self._set_link(status, reason, retry_in=retry_in, attempt=fields.get(state, "attempt", 0))
        if status == "open":
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
    def _handle(self, event: Any) -> None:
        m = self.model
        kind = fields.get(event, "type")
        if kind == "connected":
            version = fields.get(event, "data_version")
            if version is not None:
                m.data_version = int(version)
            self._spawn(self.refresh_flash())
        elif kind == "data_updated":
            m.data_version = int(fields.get(event, "data_version", m.data_version))
            count = fields.get(event, "data_count")
            if count is not None:
                m.data_count = int(count)
        elif kind == "flash_ready":
            self._record_answer(event)
        elif kind == "push_ack":
            self._on_ack(int(fields.get(event, "pushed", 0)), int(fields.get(event, "dropped", 0)),
                         fields.get(event, "queue_size"))
        elif kind == "error":
            msg = str(fields.get(event, "message", "error"))
            m.note(f"Server error on the link: {msg}", "error")
            if self._inflight is not None and not self._uncertain:
                # Probably our push was refused; status will tell how much was taken.
                self._uncertain = True
                self._rejecting = True
                self._acked.set()
        m.touch()

    def _record_answer(self, item: Any) -> None:
        m = self.model
        value = fields.get(item, "value")
        version = fields.get(item, "data_version")
        if value is None or version is None or (fields.get(item, "has_answer") is False):
            return
        flip = m.board.record(
            int(fields.get(item, "id")), str(fields.get(item, "query", "")), str(value),
            fields.get(item, "confidence"), int(version), fields.get(item, "evaluated_at"))
        if flip is not None and len(m.store):
            ts = m.store.last_timestamp
            if ts is not None:
                m.markers.append((ts, f"{flip.before.strip()[:12]} → {flip.after.strip()[:12]}",
                                  FLIP_COLOUR))

    async def refresh_flash(self) -> None:
        """Read the registered queries and their cached answers (after (re)connecting)."""
        m = self.model
        try:
            listing = await self.client.sessions.list_flash(m.session_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("list_flash %s: %s", m.session_id, exc)
            return
        items = fields.get(listing, "flash_queries") or []
        m.board.set_queries([(int(fields.get(q, "id")), str(fields.get(q, "query")),
                              int(fields.get(q, "max_tokens", 32) or 32)) for q in items])
        current = fields.get(listing, "current_data_version")
        if current is not None:
            m.data_version = max(m.data_version, int(current))
        for q in items:
            self._record_answer(q)
        m.touch()

    async def add_flash(self, query: str, max_tokens: int = 16) -> None:
        await self.client.sessions.flash(self.model.session_id, query, max_tokens=max_tokens)
        await self.refresh_flash()

    async def remove_flash(self, query_id: int) -> None:
        await self.client.sessions.unflash(self.model.session_id, query_id)
        self.model.board.remove(query_id)
        self.model.touch()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ pushing
    def _on_ack(self, pushed: int, dropped: int, queue_size: Any) -> None:
        m = self.model
        if queue_size is not None:
            m.server_queue = int(queue_size)
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

    def _draw(self, candles: list[Candle]) -> None:
        if candles:
            self.model.store.extend(candles)
            self.model.acked += len(candles)
            self.model.touch()

    async def _push_loop(self, stream: Any) -> None:
        m = self.model
        while True:
            await self._open.wait()
            if self._inflight is not None and self._uncertain:
                try:
                    await self._resolve_inflight()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # server gone again, or the session: retry or recreate
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
                await stream.push([c.to_entry() for c in batch])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
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
        enqueued = int(fields.path(status, "statistics", "total_enqueued", default=0))
        arrived = max(0, min(len(batch), enqueued - self._accepted))
        self._draw(batch[:arrived])
        self._accepted += arrived
        rest = batch[arrived:]
        if rest and self._rejecting:
            m.rejected += len(rest)
            m.note(f"The server refused {len(rest)} candle(s); they were not drawn.", "error")
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
        new = str(fields.get(info, "session_id"))
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
            chunk = [m.store[i].to_entry() for i in range(start, min(n, start + RESEED_CHUNK))]
            result = await self.client.sessions.push(new, chunk)
            seeded += int(fields.get(result, "pushed", len(chunk)))
        self._accepted = seeded
        m.recreated += 1
        m.board.clear()
        m.data_version = 0
        await self.refresh_flash()  # the new session's query ids
        m.note(f"The server lost session {old[:12]} (restarted?). Recreated it as {new[:12]} "
               f"with the same settings and {len(m.board)} flash queries, re-sent the "
               f"{seeded} candles in the chart's window; the feed continues.", "warning")
        if self.on_session_id is not None:
            self.on_session_id(old, new)
        m.touch()
