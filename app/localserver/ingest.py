"""Streaming ingest: a bounded ring per session, drained by a background processor.

push() never blocks: entries beyond the ring's free space are dropped and counted.
The processor takes batches off the ring, renders them as text, has the worker decode
only the new tokens, bumps data_version, emits data_updated, then re-answers every
flash query (each one a separate worker job so other requests interleave).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from . import config, flash
from .entries import render_entry
from .errors import ContextFullError
from .sessions import Session
from .state import ServerState

log = logging.getLogger("layerscale.localserver.ingest")


def push(state: ServerState, session: Session, entries: list[dict[str, Any]]
         ) -> dict[str, Any]:
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
            "error": session.ingest_error,
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


def _ingest_batch(state: ServerState, session: Session, batch: list[dict[str, Any]]) -> None:
    """worker: tokenize, decode, count, notify."""
    if session.deleted:
        return
    engine = state.require_engine()
    started = time.perf_counter()
    items = [(e, engine.tokenize(render_entry(session.type, e))) for e in batch]
    try:
        ingested, rejected = session.ingest(engine, items)
    except ContextFullError as exc:
        ingested, rejected = 0, len(items)
        session.ingest_error = exc.message
    elapsed_us = int((time.perf_counter() - started) * 1e6)
    c = session.counters
    c.batches_processed += 1
    # Rejected entries count as processed (taken off the ring) and as dropped, so a
    # client waiting for items_processed >= total_enqueued is not left hanging.
    c.items_processed += len(batch)
    c.total_dropped += rejected
    c.total_process_time_us += elapsed_us
    session.last_inject_us = elapsed_us
    if ingested:
        session.data_version += 1
        session.hub.publish({
            "type": "data_updated",
            "data_version": session.data_version,
            "data_count": session.data_count,
            "pos_next": session.n_tokens,
        })
    if rejected:
        session.hub.publish({"type": "error", "message": session.ingest_error,
                             "code": "context_length_exceeded"})


class IngestProcessor:
    def __init__(self, state: ServerState, session: Session) -> None:
        self.state = state
        self.session = session
        self._wakeup = asyncio.Event()
        self.running = False
        self.task = asyncio.get_running_loop().create_task(self._run(),
                                                           name=f"ingest-{session.id}")

    def wake(self) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        session = self.session
        worker = self.state.worker
        while not session.deleted:
            await self._wakeup.wait()
            self._wakeup.clear()
            self.running = True
            try:
                while session.ring and not session.deleted:
                    n = min(len(session.ring), config.MAX_ENTRIES_PER_BATCH)
                    batch = [session.ring.popleft() for _ in range(n)]
                    await worker.call(_ingest_batch, self.state, session, batch)
                    await self._refresh_flash()
                await self._refresh_flash()
            except Exception:
                log.exception("ingest processor failed for %s", session.id)
                session.ingest_error = "internal error while ingesting; see server log"
            finally:
                self.running = False

    async def _refresh_flash(self) -> None:
        session = self.session
        if not session.data_count:
            return
        engine = self.state.require_engine()
        for query_id in list(session.flash):
            if session.deleted:
                return
            await self.state.worker.call(flash.evaluate, engine, session, query_id)

    def stop(self) -> None:
        self.task.cancel()
