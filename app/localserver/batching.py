"""Batched scheduling: the model work several sessions ask for at once, in shared jobs.

Each session's ingest processor (ingest.py) still drains its own ring in order, but instead
of one worker job per chunk and per flash query it hands its next chunk, or its flash
refresh, to this scheduler and awaits it. Whatever the sessions have handed in by the time
the worker reaches the scheduler's job is done together:

- ingest: the next chunk of every waiting session in one llama_decode call (a few hundred
  tokens in all, see config.BATCH_DECODE_TOKENS), so a job is as short as one session's
  chunk was;
- flash: one stale query of every waiting session per job (a round), the questions decoded
  together (one call per question length) and then each answer token of all unfinished
  answers together
  (flash.evaluate_round). A session's queries share its one KV sequence, so its second
  query comes in the next round; rounds repeat until no waiting session has a stale query.

The greedy answers are those of one-at-a-time evaluation (tests/localserver/
test_batching.py). With `--schedule sequential` the processors use the one-job-each path.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import config, flash
from .sessions import Session

if TYPE_CHECKING:
    from .ingest import Batch
    from .state import ServerState

log = logging.getLogger("layerscale.localserver.batching")


@dataclass
class _ChunkWait:
    session: Session
    batch: Batch
    done: asyncio.Future[None]


@dataclass
class _FlashWait:
    session: Session
    done: asyncio.Future[None]
    tried: set[int] = field(default_factory=set)  # each query answered once per refresh


class BatchScheduler:
    """Coalesces the sessions' ingest chunks and flash refreshes into shared worker jobs.

    Waits are added on the event loop and taken by the job on the worker thread (under a
    lock); a job resolves each wait on the loop when its part is done.
    """

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._chunks: list[_ChunkWait] = []
        self._flash: list[_FlashWait] = []
        self._chunk_job = False
        self._flash_job = False

    async def ingest_chunk(self, session: Session, batch: Batch) -> None:
        """Decode the next chunk of `batch`, together with other sessions' chunks."""
        done = asyncio.get_running_loop().create_future()
        with self._lock:
            self._chunks.append(_ChunkWait(session, batch, done))
            start = not self._chunk_job
            self._chunk_job = True
        if start:
            self._schedule(self._run_chunks)
        await done

    async def refresh_flash(self, session: Session) -> None:
        """Answer every stale flash query of `session`, in rounds shared with others."""
        done = asyncio.get_running_loop().create_future()
        with self._lock:
            self._flash.append(_FlashWait(session, done))
            start = not self._flash_job
            self._flash_job = True
        if start:
            self._schedule(self._run_flash)
        await done

    def _schedule(self, job: object) -> None:
        task = asyncio.ensure_future(self.state.worker.background(job))  # type: ignore[arg-type]
        task.add_done_callback(self._job_ended)

    def _job_ended(self, task: asyncio.Future[None]) -> None:
        if task.cancelled():
            return  # shutting down: the processors are cancelled too
        exc = task.exception()
        if exc is not None:
            log.error("batched job failed: %r", exc)

    # -- worker side ----------------------------------------------------------------------

    def _resolve(self, done: asyncio.Future[None], exc: BaseException | None = None) -> None:
        def settle() -> None:
            if done.done():
                return
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)
        done.get_loop().call_soon_threadsafe(settle)

    def _run_chunks(self) -> None:
        """worker: one shared decode of every waiting session's next chunk."""
        from .ingest import ingest_chunks

        with self._lock:
            waits, self._chunks = self._chunks, []
            self._chunk_job = False
        if not waits:
            return
        try:
            ingest_chunks(self.state, [(w.session, w.batch) for w in waits],
                          config.BATCH_DECODE_TOKENS)
        except BaseException as exc:
            for w in waits:
                self._resolve(w.done, exc)
            raise
        for w in waits:
            self._resolve(w.done)

    def _run_flash(self) -> None:
        """worker: one round, a stale query of every waiting session; sessions with more
        stale queries wait for the next round (another job, so requests get in between)."""
        with self._lock:
            waits, self._flash = self._flash, []
        picks: list[tuple[_FlashWait, int]] = []
        finished: list[_FlashWait] = []
        for w in waits:
            query_id = self._next_stale(w)
            if query_id is None:
                finished.append(w)
            else:
                w.tried.add(query_id)
                picks.append((w, query_id))
        error: BaseException | None = None
        if picks:
            try:
                engine = self.state.require_engine()
                timed = self.state.metrics.flash_evaluation
                started = time.perf_counter()
                events = flash.evaluate_round(engine, [(w.session, q) for w, q in picks])
                elapsed = time.perf_counter() - started
                for event in events:
                    if event is not None:
                        timed.observe(elapsed)
            except Exception as exc:  # never leave a processor waiting forever
                log.exception("flash round failed")
                error = exc
        again = [w for w, _ in picks] if error is None else []
        if error is not None:
            finished.extend(w for w, _ in picks)
        with self._lock:
            self._flash = again + self._flash
            self._flash_job = bool(self._flash)
            more = self._flash_job
        for w in finished:
            self._resolve(w.done)
        if more:
            # The next round goes to the back of the background lane: other sessions'
            # chunks and requests run in between.
            loop = self.state.loop
            assert loop is not None
            loop.call_soon_threadsafe(self._schedule, self._run_flash)

    @staticmethod
    def _next_stale(w: _FlashWait) -> int | None:
        session = w.session
        if session.deleted or not session.data_count:
            return None
        for query_id, fq in list(session.flash.items()):
            if query_id not in w.tried and not flash.is_fresh(session, fq):
                return query_id
        return None
