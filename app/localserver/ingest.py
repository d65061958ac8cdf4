"""Streaming ingest: a bounded ring per session, drained by a background processor.

push() never blocks: entries beyond the ring's free space are dropped and counted.
The processor takes batches off the ring, renders them as text, has the worker decode
only the new tokens in chunks of a few hundred tokens (each chunk bumps data_version and
emits data_updated), then re-answers every flash query. Every chunk and every flash
answer is a separate background job on the worker, so requests and other sessions'
ingest interleave with a heavy backlog. With batched scheduling (the default, batching.py)
the chunks and flash answers of all sessions waiting at the same time share those jobs and
their llama_decode calls instead. Entries are rendered in arrival order, each relative to
the one rendered before it (compact rendering, app/streams/rendering.py). Flash queries are
answered again once per drained batch (everything the ring held), not per entry.

Nothing a client sends can stop a session's ingest: an entry that cannot be ingested
(too many tokens for the session, or any failure while rendering or decoding it) is
counted as processed and dropped, with the reason in stream/status, and the processor
goes on with the next one. Only a full context without a window stops ingest, and the
next push says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from . import config, flash
from .engine import DecodeError, DecodePart
from .entries import render_entry
from .errors import ContextFullError, not_found
from .sessions import IngestPlan, Session
from .state import ServerState

log = logging.getLogger("layerscale.localserver.ingest")


def push(state: ServerState, session: Session, entries: list[dict[str, Any]]
         ) -> dict[str, Any]:
    if session.deleted:  # deleted while the request body was still arriving
        raise not_found("session", session.id)
    if session.ingest_error and not session.window_size:
        raise ContextFullError(session.ingest_error)
    free = session.ring_capacity - len(session.ring)
    accepted = entries[:max(free, 0)]
    dropped = len(entries) - len(accepted)
    session.ring.extend(accepted)
    counters = session.counters
    counters.total_enqueued += len(accepted)
    counters.total_dropped += dropped
    session.touch()
    processor = state.processors.get(session.id)
    if processor is not None and accepted:
        processor.wake()
    return {
        "pushed": len(accepted),
        "dropped": dropped,
        "queue_size": len(session.ring),
        "queue_capacity": session.ring_capacity,
        "total_enqueued": counters.total_enqueued,
        "total_dropped": counters.total_dropped,
    }


def status(state: ServerState, session: Session) -> dict[str, Any]:
    processor = state.processors.get(session.id)
    c = session.counters
    return {
        "type": session.type,
        "streaming": {
            "initialized": True,
            "running": processor is not None and processor.running,
            # True once ingest has stopped (a full context without a window); the next
            # push is refused with the reason. Entries dropped while the session goes on
            # are counted in total_dropped, the latest reason in last_drop_reason.
            "error": session.ingest_error is not None,
            # Not in the protocol's table (extra keys are allowed): the reasons, in words.
            "error_message": session.ingest_error,
            "last_drop_reason": session.last_drop_reason,
            "queue_size": len(session.ring),
            "queue_capacity": session.ring_capacity,
            "window_size": session.window_size,
            "process_interval_us": config.PROCESS_INTERVAL_US,
        },
        "statistics": {
            "total_enqueued": c.total_enqueued,
            "total_dropped": c.total_dropped,
            "batches_processed": c.batches_processed,
            "items_processed": c.items_processed,
            "total_process_time_us": c.total_process_time_us,
            "avg_process_time_us": (c.total_process_time_us / c.batches_processed
                                    if c.batches_processed else 0.0),
        },
        "data": {
            "initialized": session.data_count > 0,
            "data_count": session.data_count,
            "total_data_tokens": sum(len(s.tokens) for s in session.segments
                                     if s.kind == "entry"),
            "pos_next": session.n_tokens,
        },
    }


@dataclass
class Batch:
    """Entries taken off the ring together: one flash refresh after all of them.

    Decoding happens in chunks of about config.INGEST_CHUNK_TOKENS tokens, one worker job
    each, so requests and other sessions' work run in between. `accounted` counts the
    entries already reflected in the session's counters, so that whatever goes wrong
    later, the rest can still be counted rather than lost silently.
    """

    size: int
    pending: deque[tuple[dict[str, Any], list[int]]]
    skipped: int = 0
    dropped: int = 0
    reason: str | None = None
    accounted: int = 0

    @property
    def unaccounted(self) -> int:
        return self.size - self.accounted


def _drop(session: Session, n: int, reason: str) -> None:
    """Count n entries as taken off the ring and dropped, and say why."""
    c = session.counters
    c.items_processed += n
    c.total_dropped += n
    session.last_drop_reason = reason


def _prepare(state: ServerState, session: Session, entries: list[dict[str, Any]]) -> Batch:
    """worker: tokenize a batch, setting aside entries that could never fit this session.
    In a sliding session, skip entries that would slide out within this very batch rather
    than decode them and drop them again, and slide the window once for the whole batch."""
    batch = Batch(size=len(entries), pending=deque())
    if session.deleted:
        return batch
    engine = state.require_engine()
    capacity = session.entry_capacity()
    items: list[tuple[dict[str, Any], list[int]]] = []
    mode = state.config.render
    for index, entry in enumerate(entries):
        try:
            tokens = engine.tokenize(render_entry(session.type, entry, session.last_rendered,
                                                  mode))
        except Exception as exc:  # one entry must never take the batch with it
            log.warning("entry of %s not ingested: %s", session.id, type(exc).__name__)
            batch.dropped += 1
            batch.reason = f"an entry could not be rendered ({type(exc).__name__}); dropped"
            continue
        if len(tokens) > capacity:
            batch.dropped += 1
            batch.reason = (f"entry {index} of a batch takes {len(tokens)} tokens; at most "
                            f"{max(capacity, 0)} fit one entry of this session: dropped")
            continue
        items.append((entry, tokens))
        session.last_rendered = entry
    if not session.window_size:
        batch.pending.extend(items)
        return batch
    kept = session.newest_that_fit(items[-session.window_size:], session.headroom())
    with contextlib.suppress(ContextFullError):  # the chunks report it as they come
        session.slide_for(engine, kept)
    batch.pending.extend(kept)
    batch.skipped = len(items) - len(kept)
    return batch


@dataclass
class Chunk:
    """Entries of a batch decoded in one worker job, and what became of them."""

    items: list[tuple[dict[str, Any], list[int]]]
    n_tokens: int
    skipped: int
    dropped: int
    ingested: int = 0
    rejected: int = 0
    full: bool = False


def _take_chunk(batch: Batch, max_tokens: int) -> Chunk:
    """The next entries of a batch, about max_tokens tokens (at least one entry), counted
    as accounted for from here on whatever happens to them."""
    items: list[tuple[dict[str, Any], list[int]]] = []
    n_tokens = 0
    while batch.pending and (not items or n_tokens < max_tokens):
        item = batch.pending.popleft()
        items.append(item)
        n_tokens += len(item[1])
    chunk = Chunk(items, n_tokens, batch.skipped, batch.dropped)
    batch.skipped = batch.dropped = 0
    batch.accounted += len(items) + chunk.skipped + chunk.dropped
    return chunk


def _ingested(chunk: Chunk, outcome: tuple[int, int, int]) -> None:
    ingested, rejected, slid = outcome
    chunk.ingested, chunk.rejected, chunk.full = ingested, rejected, rejected > 0
    chunk.skipped += slid


def _failed(session: Session, batch: Batch, chunk: Chunk, exc: Exception) -> None:
    """A chunk that could not be ingested: dropped, with the reason; a full context without
    a window stops the session's ingest."""
    chunk.ingested, chunk.rejected = 0, len(chunk.items)
    if isinstance(exc, ContextFullError):
        if session.window_size:  # a sliding session is never full for good
            batch.reason = f"{exc.message}: {len(chunk.items)} entries dropped"
        else:
            chunk.full = True
            session.ingest_error = exc.message
        return
    # e.g. a decode failure: drop this chunk, keep the session
    log.warning("chunk of %s not ingested: %s", session.id, exc)
    batch.reason = f"{len(chunk.items)} entries could not be decoded ({exc}); dropped"


def _ingest_chunk(state: ServerState, session: Session, batch: Batch) -> None:
    """worker: decode the next chunk of a batch into the session, count, notify."""
    chunk = _take_chunk(batch, config.INGEST_CHUNK_TOKENS)
    if session.deleted:
        return
    engine = state.require_engine()
    started = time.perf_counter()
    try:
        _ingested(chunk, session.ingest(engine, chunk.items))
    except Exception as exc:
        _failed(session, batch, chunk, exc)
    _account(state, session, batch, chunk, int((time.perf_counter() - started) * 1e6))


def ingest_chunks(state: ServerState, work: list[tuple[Session, Batch]], max_tokens: int
                  ) -> None:
    """worker: the next chunk of several sessions' batches (about max_tokens tokens in
    all), decoded in shared llama_decode calls, then counted and notified per session as
    _ingest_chunk does. If the shared decode fails, each session's chunk is decoded on its
    own, so one session's trouble never costs another its entries."""
    engine = state.require_engine()
    started = time.perf_counter()
    per_session = max(config.MIN_BATCHED_CHUNK_TOKENS, max_tokens // max(len(work), 1))
    planned: list[tuple[Session, Batch, Chunk, IngestPlan]] = []
    done: list[tuple[Session, Batch, Chunk]] = []
    for session, batch in work:
        chunk = _take_chunk(batch, per_session)
        if session.deleted:
            continue
        try:
            planned.append((session, batch, chunk, session.plan_ingest(engine, chunk.items)))
        except Exception as exc:
            _failed(session, batch, chunk, exc)
            done.append((session, batch, chunk))
    parts = [DecodePart(s.seq, plan.tokens, plan.start, want_logits=False)
             for s, _, _, plan in planned if plan.tokens]
    alone = False
    try:
        engine.decode_many(parts)
    except DecodeError as exc:
        log.warning("shared decode of %d sessions failed (%s): decoding each alone",
                    len(parts), exc)
        alone = True
    for session, batch, chunk, plan in planned:
        try:
            if alone and plan.tokens:
                try:
                    engine.decode(session.seq, plan.tokens, plan.start, want_logits=False)
                except DecodeError as exc:
                    raise ContextFullError(f"could not decode entries: {exc}") from exc
            _ingested(chunk, session.commit_ingest(plan))
        except Exception as exc:
            _failed(session, batch, chunk, exc)
        done.append((session, batch, chunk))
    elapsed_us = int((time.perf_counter() - started) * 1e6)
    for session, batch, chunk in done:
        _account(state, session, batch, chunk, elapsed_us)


def _account(state: ServerState, session: Session, batch: Batch, chunk: Chunk,
             elapsed_us: int) -> None:
    """worker: count a decoded (or dropped) chunk and tell the session's subscribers."""
    rejected, full = chunk.rejected, chunk.full
    if full:
        # The context is full: the rest of the batch would not fit either.
        rejected += len(batch.pending)
        batch.accounted += len(batch.pending)
        batch.pending.clear()
    c = session.counters
    c.batches_processed += 1
    # Rejected and skipped entries count as processed (taken off the ring); rejected
    # ones also as dropped, so a client waiting for items_processed >= total_enqueued
    # is not left hanging.
    c.items_processed += chunk.ingested + chunk.skipped
    c.total_process_time_us += elapsed_us
    session.last_inject_us = elapsed_us
    state.metrics.ingest_chunk(len(chunk.items), chunk.ingested, chunk.n_tokens, elapsed_us)
    if rejected or chunk.dropped:
        _drop(session, rejected + chunk.dropped,
              (session.ingest_error if full else batch.reason) or "entries dropped")
    if chunk.ingested:
        session.data_version += 1
        session.hub.publish({
            "type": "data_updated",
            "data_version": session.data_version,
            "data_count": session.data_count,
            "pos_next": session.n_tokens,
        })
    if full:
        session.hub.publish({"type": "error", "message": session.ingest_error,
                             "code": 400})


class IngestProcessor:
    def __init__(self, state: ServerState, session: Session) -> None:
        self.state = state
        self.session = session
        self._wakeup = asyncio.Event()
        self.running = False
        self.task = asyncio.get_running_loop().create_task(self._run(),
                                                           name=f"ingest-{session.id}")
        if session.ring:  # pushed while the session's prompt was still being decoded
            self.wake()

    def wake(self) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        session = self.session
        while not session.deleted:
            await self._wakeup.wait()
            self._wakeup.clear()
            self.running = True
            try:
                while session.ring and not session.deleted:
                    n = min(len(session.ring), config.MAX_ENTRIES_PER_BATCH)
                    await self._ingest([session.ring.popleft() for _ in range(n)])
                    await self._refresh_flash()
                await self._refresh_flash()
            finally:
                self.running = False

    async def _ingest(self, entries: list[dict[str, Any]]) -> None:
        session = self.session
        worker = self.state.worker
        batch: Batch | None = None
        try:
            batch = await worker.background(_prepare, self.state, session, entries)
            while (batch.pending or batch.skipped or batch.dropped) and not session.deleted:
                if self.state.config.schedule == "batched":
                    await self.state.batcher.ingest_chunk(session, batch)
                else:
                    await worker.background(_ingest_chunk, self.state, session, batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("ingest failed for %s", session.id)
            lost = len(entries) if batch is None else batch.unaccounted
            if lost and not session.deleted:
                _drop(session, lost, f"{lost} entries could not be ingested "
                      f"({type(exc).__name__}; see the server log); dropped")

    async def _refresh_flash(self) -> None:
        session = self.session
        if not session.data_count:
            return
        if self.state.config.schedule == "batched":
            try:
                await self.state.batcher.refresh_flash(session)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("flash refresh of %s failed", session.id)
            return
        engine = self.state.require_engine()
        for query_id in list(session.flash):
            if session.deleted:
                return
            try:
                await self.state.worker.background(
                    self.state.metrics.timed_flash(flash.evaluate), engine, session, query_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("flash query %d of %s failed", query_id, session.id)

    def stop(self) -> None:
        self.task.cancel()
