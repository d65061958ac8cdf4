"""Sessions: the token layout of each KV sequence, and the registry with its pool limit.

A session's sequence holds, in order: the system prompt, then segments appended later:
entries (the data region) and free text (append / kept answers). Positions are always
contiguous from 0, so n_tokens == pos_next. Methods marked "worker" touch llama.cpp and
must run on the model worker thread.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import config
from .engine import DecodeError, Engine, Generation
from .errors import APIError, ContextFullError, not_found
from .events import EventHub

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Sequence

WINDOW_MIN_HEADROOM = 64  # room kept free in sliding sessions so queries always fit


@dataclass
class Segment:
    kind: Literal["prompt", "text", "entry"]
    tokens: list[int]
    entry: dict[str, Any] | None = None


@dataclass
class FlashQuery:
    id: int
    query: str
    max_tokens: int
    tokens: list[int]
    value: str = ""
    has_answer: bool = False
    data_version: int = 0
    confidence: float | None = None
    evaluated_at: float | None = None
    kv_version: int = -1  # the session's kv_version the answer was computed at
    answer_n_tokens: int = 0
    finish_reason: str = "length"

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "query": self.query,
            "max_tokens": self.max_tokens,
            "n_tokens": len(self.tokens),
            "has_answer": self.has_answer,
            "value": self.value,
            "data_version": self.data_version,
            # Numbers even before the first answer (has_answer says whether there is one):
            # the protocol's clients require a float and integer unix seconds here.
            "confidence": self.confidence or 0.0,
            "evaluated_at": unix_seconds(self.evaluated_at),
        }

    def ready_event(self) -> dict[str, Any]:
        return {
            "type": "flash_ready",
            "id": self.id,
            "query": self.query,
            "value": self.value,
            "data_version": self.data_version,
            "confidence": self.confidence or 0.0,
            "evaluated_at": unix_seconds(self.evaluated_at),
        }


def unix_seconds(moment: float | None) -> int:
    return int(moment) if moment else 0


@dataclass
class IngestCounters:
    total_enqueued: int = 0
    total_dropped: int = 0
    batches_processed: int = 0
    items_processed: int = 0
    total_process_time_us: int = 0


@dataclass
class IngestPlan:
    """Entries about to be decoded into a session: `tokens` at positions start.. ."""

    accepted: list[tuple[dict[str, Any], list[int]]]
    rejected: int
    slid: int
    separator: list[int]
    start: int
    headroom: int
    tokens: list[int] = field(default_factory=list)


@dataclass
class QueryResult:
    generation: Generation
    n_prompt: int
    confidence: float | None
    clamped: bool


@dataclass
class Session:
    id: str
    type: str
    seq: int
    context: int
    window_size: int
    hub: EventHub
    segments: list[Segment] = field(default_factory=list)
    prefix_end: int = 0
    data_version: int = 0
    kv_version: int = 0
    flash: dict[int, FlashQuery] = field(default_factory=dict)
    next_flash_id: int = 1
    ring: deque[dict[str, Any]] = field(default_factory=deque)
    ring_capacity: int = config.QUEUE_CAPACITY
    counters: IngestCounters = field(default_factory=IngestCounters)
    # Set when the context is full (no window): later pushes are refused with it.
    ingest_error: str | None = None
    # Why entries were last dropped while the session went on ingesting.
    last_drop_reason: str | None = None
    created_at: float = field(default_factory=time.time)
    last_used_at: float = field(default_factory=time.time)
    last_inject_us: int = 0
    in_use: int = 0
    deleted: bool = False
    n_tokens: int = 0
    # The entry rendered last: compact rendering says each entry relative to it.
    last_rendered: dict[str, Any] | None = None

    # -- layout ---------------------------------------------------------------------------

    def tokens(self) -> list[int]:
        return [t for seg in self.segments for t in seg.tokens]

    def entries(self) -> list[dict[str, Any]]:
        return [seg.entry for seg in self.segments if seg.entry is not None]

    @property
    def data_count(self) -> int:
        return sum(1 for seg in self.segments if seg.kind == "entry")

    def data_region(self) -> tuple[int, int]:
        pos = 0
        start = end = None
        for seg in self.segments:
            if seg.kind == "entry":
                start = pos if start is None else start
                end = pos + len(seg.tokens)
            pos += len(seg.tokens)
        if start is None or end is None:
            return self.n_tokens, self.n_tokens
        return start, end

    def touch(self) -> None:
        self.last_used_at = time.time()

    def headroom(self) -> int:
        need = max((len(f.tokens) + f.max_tokens for f in self.flash.values()), default=0)
        return max(need, WINDOW_MIN_HEADROOM) if self.window_size else need

    # -- public views -------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "n_tokens": self.n_tokens,
            "context": self.context,
            "prefix_end": self.prefix_end,
            "last_inject_us": self.last_inject_us,
            "cache_usage": self.n_tokens / self.context if self.context else 0.0,
            "created_at": unix_seconds(self.created_at),
            "last_used_at": unix_seconds(self.last_used_at),
            "in_use": self.in_use > 0,
        }

    def state(self, engine: Engine) -> dict[str, Any]:
        start, end = self.data_region()
        region: dict[str, Any] = {"start": start, "end": end}
        if self.window_size:
            region["window_size"] = self.window_size
        return self.summary() | {
            "type": self.type,
            "pos_min": 0 if self.n_tokens else -1,
            "pos_max": self.n_tokens - 1,
            "pos_next": self.n_tokens,
            "data_region": region,
            "data_count": self.data_count,
            "context_text": engine.detokenize(self.tokens()),
        }

    # -- worker: KV edits ----------------------------------------------------------------------

    def check_alive(self) -> None:
        """worker: refuse to touch the sequence of a deleted session. Delete frees the
        sequence id at once, and the request lane is FIFO: a job queued before the
        delete (say, a generate whose body was still arriving) runs after the delete
        and before anything of the sequence's next owner, so this check at the start of
        every job is what keeps it from decoding into (or cleaning up) that owner's
        positions. A job already running when the delete came finishes first."""
        if self.deleted:
            raise not_found("session", self.id)

    def _push_segment(self, engine: Engine, segment: Segment) -> None:
        engine.decode(self.seq, segment.tokens, self.n_tokens, want_logits=False)
        self.segments.append(segment)
        self.n_tokens += len(segment.tokens)
        self.kv_version += 1

    def init_prompt(self, engine: Engine, prompt: str) -> None:
        """worker: decode the system prompt (with BOS when the model wants one)."""
        self.check_alive()
        tokens = engine.tokenize(prompt, add_special=engine.add_bos, parse_special=True)
        if len(tokens) > self.context:
            raise ContextFullError(
                f"system prompt is {len(tokens)} tokens, more than the session's context "
                f"of {self.context}")
        if tokens:
            self._push_segment(engine, Segment("prompt", tokens))

    def append_text(self, engine: Engine, text: str) -> int:
        """worker: append free text after whatever the session holds."""
        self.check_alive()
        tokens = engine.tokenize(text, add_special=engine.add_bos and not self.n_tokens,
                                 parse_special=True)
        if not tokens:
            return 0
        self._make_room(engine, len(tokens), headroom=0)
        self._decode_or_full(engine, Segment("text", tokens))
        return len(tokens)

    def _decode_or_full(self, engine: Engine, segment: Segment) -> None:
        try:
            self._push_segment(engine, segment)
        except DecodeError as exc:
            if exc.full:
                raise ContextFullError("the model's KV cache has no room left") from exc
            raise

    def _make_room(self, engine: Engine, n_new: int, headroom: int, min_victims: int = 0
                   ) -> None:
        """Slide the window (drop the oldest entries after the prefix: at least min_victims,
        and enough to fit n_new tokens) or refuse with a 4xx. One drop, so one K-shift."""
        excess = self.n_tokens + n_new + headroom - self.context
        if excess <= 0 and min_victims <= 0:
            return
        if not self.window_size:
            raise ContextFullError(
                f"session context is full: {self.n_tokens} + {n_new} tokens needed "
                f"(+{headroom} kept for queries) exceed {self.context}; set window_size "
                "to slide the data region")
        victims: list[int] = []
        freed = 0
        for index in self._slidable():
            if freed >= excess and len(victims) >= min_victims:
                break
            victims.append(index)
            freed += len(self.segments[index].tokens)
        if freed < excess:
            raise ContextFullError(
                f"session context is full even after sliding the window: {n_new} new tokens "
                f"do not fit in {self.context}")
        self.drop_segments(engine, victims)

    def _slidable(self) -> list[int]:
        """Indices of entry segments after the frozen prefix, oldest first."""
        out = []
        pos = 0
        for index, seg in enumerate(self.segments):
            if seg.kind == "entry" and pos >= self.prefix_end:
                out.append(index)
            pos += len(seg.tokens)
        return out

    def drop_segments(self, engine: Engine, indices: Sequence[int]) -> None:
        """worker: remove segments and shift later positions down so positions stay dense."""
        starts = []
        pos = 0
        for seg in self.segments:
            starts.append(pos)
            pos += len(seg.tokens)
        # Highest first: shifting later positions never moves an earlier victim.
        for index in sorted(indices, reverse=True):
            seg = self.segments[index]
            p0, n = starts[index], len(seg.tokens)
            engine.seq_rm(self.seq, p0, p0 + n)
            engine.seq_shift(self.seq, p0 + n, -1, -n)
        for index in sorted(indices, reverse=True):
            self.n_tokens -= len(self.segments[index].tokens)
            del self.segments[index]
        self.kv_version += 1

    def ingest(self, engine: Engine, entries: list[tuple[dict[str, Any], list[int]]]
               ) -> tuple[int, int, int]:
        """worker: add entries to the data region; returns (ingested, rejected, slid):
        every entry given is one of the three.

        Decodes only the new tokens. With a window, the oldest entries slide out first
        (those of this very call that would slide out at once are skipped: `slid`);
        without one, entries that no longer fit are rejected and the session reports it.
        """
        plan = self.plan_ingest(engine, entries)
        if plan.tokens:
            try:
                engine.decode(self.seq, plan.tokens, plan.start, want_logits=False)
            except DecodeError as exc:
                raise ContextFullError(f"could not decode entries: {exc}") from exc
        return self.commit_ingest(plan)

    def plan_ingest(self, engine: Engine, entries: list[tuple[dict[str, Any], list[int]]]
                    ) -> IngestPlan:
        """worker: what ingest() decodes, with room made for it (the window slid) but not
        decoded yet: the batched scheduler decodes several sessions' plans in one call
        and then commits each (commit_ingest)."""
        self.check_alive()
        headroom = self.headroom()
        n_given = len(entries)
        if self.window_size:
            entries = self.newest_that_fit(entries[-self.window_size:], headroom)
        slid = n_given - len(entries)
        accepted: list[tuple[dict[str, Any], list[int]]] = []
        separator = self._separator(engine) if entries else []
        n_new = len(separator)
        for entry, tokens in entries:
            if not self.window_size and (self.n_tokens + n_new + len(tokens) + headroom
                                         > self.context):
                break
            accepted.append((entry, tokens))
            n_new += len(tokens)
        plan = IngestPlan(accepted, len(entries) - len(accepted), slid, separator,
                          start=self.n_tokens, headroom=headroom)
        if accepted:
            self._make_room(engine, n_new, headroom, self._overflow(len(accepted)))
            plan.start = self.n_tokens
            plan.tokens = separator + [t for _, tokens in accepted for t in tokens]
        return plan

    def commit_ingest(self, plan: IngestPlan) -> tuple[int, int, int]:
        """worker: record a plan's tokens as decoded; returns (ingested, rejected, slid)."""
        if plan.accepted:
            if plan.separator:
                self.segments.append(Segment("text", plan.separator))
            for entry, tokens in plan.accepted:
                self.segments.append(Segment("entry", tokens, entry))
            self.n_tokens += len(plan.tokens)
            self.kv_version += 1
        if plan.rejected:
            self.ingest_error = (
                f"session context is full ({self.n_tokens} of {self.context} tokens, "
                f"{plan.headroom} kept for flash queries): {plan.rejected} entries rejected; "
                "set window_size to slide the data region")
        return len(plan.accepted), plan.rejected, plan.slid

    def entry_capacity(self) -> int:
        """Tokens one entry may take at most in this session: what the data region could
        hold if it were empty of entries that can leave (all of them without a window:
        an entry larger than this is the entry's fault, not a full session)."""
        movable = self._slidable() if self.window_size else [
            i for i, seg in enumerate(self.segments) if seg.kind == "entry"]
        fixed = self.n_tokens - sum(len(self.segments[i].tokens) for i in movable)
        # One token of margin for the newline that may separate data from a prompt.
        return min(config.MAX_ENTRY_TOKENS, self.context - self.headroom() - fixed - 1)

    def _overflow(self, n_entries: int) -> int:
        """Entries that must slide out so n_entries more fit the window (0 without one)."""
        return max(0, self.data_count + n_entries - self.window_size) if self.window_size else 0

    def slide_for(self, engine: Engine, entries: Sequence[tuple[dict[str, Any], list[int]]]
                  ) -> None:
        """worker: in a sliding session, make room for a whole batch at once, so that its
        chunks decode without sliding again one by one (each slide shifts the KV cache)."""
        if not self.window_size or not entries or self.deleted:
            return
        n_new = len(self._separator(engine)) + sum(len(t) for _, t in entries)
        self._make_room(engine, n_new, self.headroom(), self._overflow(len(entries)))

    def _separator(self, engine: Engine) -> list[int]:
        """Entries start on a line of their own: after a prompt or appended text that does
        not end with a newline, a newline goes first (the model would otherwise read
        "...yes or no.22:13:20")."""
        last = self.segments[-1] if self.segments else None
        if last is None or last.kind == "entry" or not last.tokens:
            return []
        if engine.detokenize(last.tokens[-1:]).endswith("\n"):
            return []
        return engine.tokenize("\n")

    def newest_that_fit(self, entries: list[tuple[dict[str, Any], list[int]]], headroom: int
                         ) -> list[tuple[dict[str, Any], list[int]]]:
        """In a sliding session, entries older than what the context can hold at all would
        slide out at once: skip them rather than decode and drop them."""
        slidable = sum(len(self.segments[i].tokens) for i in self._slidable())
        budget = self.context - headroom - (self.n_tokens - slidable)
        kept: list[tuple[dict[str, Any], list[int]]] = []
        used = 0
        for item in reversed(entries):
            if used + len(item[1]) > budget:
                break
            kept.append(item)
            used += len(item[1])
        kept.reverse()
        return kept

    def query(
        self,
        engine: Engine,
        prompt_tokens: list[int],
        max_tokens: int,
        *,
        stop: Sequence[str] = (),
        on_token: Callable[[int, str, int], None] | None = None,
        sure_gap: float | None = None,
        keep: bool = False,
    ) -> QueryResult:
        """worker: decode a question after the data, answer greedily, then roll back."""
        self.check_alive()
        start = self.n_tokens
        if not prompt_tokens:
            if not self.n_tokens:
                raise APIError(400, "nothing to generate from: the session is empty and no "
                               "prompt or messages were given", code="empty_prompt")
            # Re-decode the last token to get its logits: removing and re-adding one
            # position leaves the sequence exactly as it was.
            last = self.segments[-1].tokens[-1]
            engine.seq_rm(self.seq, start - 1, -1)
            engine.decode(self.seq, [last], start - 1)
            return self._answer(engine, start, start, [], max_tokens, stop, on_token,
                                sure_gap, keep)
        room = self.context - start - len(prompt_tokens)
        if room < 1:
            raise ContextFullError(
                f"prompt of {len(prompt_tokens)} tokens does not fit: the session holds "
                f"{start} of {self.context} tokens")
        try:
            engine.decode(self.seq, prompt_tokens, start)
        except DecodeError as exc:
            raise ContextFullError(f"could not decode the prompt: {exc}") from exc
        return self._answer(engine, start, start + len(prompt_tokens), prompt_tokens,
                            max_tokens, stop, on_token, sure_gap, keep)

    def _answer(self, engine: Engine, start: int, pos: int, prompt_tokens: list[int],
                max_tokens: int, stop: Sequence[str],
                on_token: Callable[[int, str, int], None] | None,
                sure_gap: float | None, keep: bool) -> QueryResult:
        room = self.context - pos
        clamped = max_tokens > room
        logits = engine.last_logits()
        _, gap = engine.top_gap(logits)
        try:
            gen = engine.generate(self.seq, pos, logits, min(max_tokens, room), stop=stop,
                                  on_token=on_token, sure_gap=sure_gap)
        except BaseException:
            engine.seq_rm(self.seq, start, -1)
            raise
        if keep and (prompt_tokens or gen.tokens):
            pending = gen.tokens[gen.n_decoded:]
            kept = prompt_tokens + gen.tokens
            if pending and pos + gen.n_decoded + len(pending) <= self.context:
                engine.decode(self.seq, pending, pos + gen.n_decoded, want_logits=False)
            else:
                kept = kept[: len(kept) - len(pending)]
                engine.seq_rm(self.seq, start + len(kept), -1)
            self.segments.append(Segment("text", kept))
            self.n_tokens += len(kept)
            self.kv_version += 1
        else:
            engine.seq_rm(self.seq, start, -1)
        return QueryResult(gen, len(prompt_tokens), gap, clamped)


class SessionRegistry:
    def __init__(self, pool_size: int, ctx_size: int,
                 queue_capacity: int = config.QUEUE_CAPACITY) -> None:
        self.pool_size = pool_size
        self.ctx_size = ctx_size
        self.queue_capacity = queue_capacity
        self._sessions: dict[str, Session] = {}
        self._free_seqs = list(range(pool_size))

    def __len__(self) -> int:
        return len(self._sessions)

    def all(self) -> list[Session]:
        return list(self._sessions.values())

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise not_found("session", session_id)
        return session

    def find(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def create(self, stream_type: str, context: int | None, window_size: int,
               loop: asyncio.AbstractEventLoop) -> Session:
        if not self._free_seqs:
            raise APIError(
                429, f"too many sessions: the pool holds at most {self.pool_size}; delete one "
                "first", code="session_limit",
                headers={"Retry-After": config.SESSION_LIMIT_RETRY_AFTER})
        seq = self._free_seqs.pop(0)
        session = Session(
            id=f"sess_{uuid.uuid4().hex[:24]}",
            type=stream_type,
            seq=seq,
            context=min(context or self.ctx_size, self.ctx_size),
            window_size=window_size,
            hub=EventHub(loop),
            ring_capacity=self.queue_capacity,
        )
        self._sessions[session.id] = session
        return session

    def rename(self, session: Session, new_id: str) -> None:
        """Give a just-created session the id its client chose (generation 2); 409 if taken."""
        if new_id in self._sessions:
            raise APIError(409, f"session {new_id} already exists", code="session_exists",
                           param="id")
        del self._sessions[session.id]
        session.id = new_id
        self._sessions[new_id] = session

    def detach(self, session: Session) -> bool:
        """Forget the session at once (later calls get 404); its sequence id stays taken
        until release(). False when it was already detached."""
        if self._sessions.pop(session.id, None) is None:
            return False
        session.deleted = True
        return True

    def release(self, seq: int) -> None:
        self._free_seqs.append(seq)
        self._free_seqs.sort()
