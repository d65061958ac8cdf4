"""The server's sessions as stable rows.

Each poll of ``GET /v1/sessions`` is diffed into the rows already held: rows keep
their position and identity, only changed cells are reported, so the table view
updates in place and keeps its selection and sort (no reset, no flicker).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from app.api import LayerScale, LayerScaleError
from app.api.models import SessionList, SessionSummary
from app.api.surface import SessionOverview, Surface

log = logging.getLogger(__name__)

DETAIL_REFRESH = 10.0  # seconds between re-reading a session's type/flash count
UNTYPED = "text"  # the type cell of a generation-2 session nobody here created


@dataclass
class SessionRow:
    session_id: str
    type: str | None = None
    n_tokens: int = 0
    context: int = 0
    cache_usage: float = 0.0
    in_use: bool = False
    created_at: float = 0.0
    last_used_at: float = 0.0
    flash_count: int | None = None
    prefix_end: int = 0
    details_at: float = field(default=0.0, compare=False)  # monotonic time of the last detail read
    # API generation 2 only (None on gen 1): KV-resident tokens, pushed-not-ingested lines,
    # the durable data version, entries the sliding window dropped, the window in tokens.
    generation: int = 1
    kv_tokens: int | None = None
    pending: int | None = None
    data_version: int | None = None
    evicted: int | None = None
    window: int | None = None

    def key(self) -> tuple[Any, ...]:
        return (self.type, self.n_tokens, self.context, round(self.cache_usage, 4),
                self.in_use, self.last_used_at, self.flash_count, self.prefix_end,
                self.kv_tokens, self.pending, self.data_version, self.evicted, self.window)

    def tokens_text(self) -> str:
        """The table's tokens cell: of the context on gen 1; KV-resident and queue on gen 2."""
        if self.generation == 1 or self.kv_tokens == self.n_tokens:
            # Gen 2 with everything KV-resident: of the model's context, as gen 1 reads.
            return f"{self.n_tokens:,} / {self.context:,}" if self.context else f"{self.n_tokens:,}"
        return f"{self.n_tokens:,} · kv {self.kv_tokens or 0:,}"

    def in_use_text(self) -> str:
        """busy / idle, and on gen 2 the lines pushed but not yet read."""
        state = "busy" if self.in_use else "idle"
        return state + (f" · {self.pending:,} queued" if self.pending else "")

    def tooltip(self) -> str:
        if self.generation == 1:
            return (f"{self.session_id}\n{self.n_tokens} of {self.context} tokens "
                    f"({self.cache_usage:.0%}), prefix ends at {self.prefix_end}")
        window = f"sliding window {self.window:,} tokens" if self.window else "append-only"
        return (f"{self.session_id}\n{self.n_tokens:,} tokens, {self.kv_tokens or 0:,} KV-resident"
                f"{f' of {self.context:,}' if self.context else ''}\n"
                f"data version {self.data_version}, {self.pending or 0:,} pending, "
                f"{self.evicted or 0:,} evicted\n{window}")


@dataclass(frozen=True, slots=True)
class Diff:
    added: list[str]
    removed: list[str]
    changed: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


class SessionsStore:
    def __init__(self) -> None:
        self.rows: dict[str, SessionRow] = {}  # insertion-ordered: a row's index never moves
        self.order: list[str] = []
        self.max_sessions: int | None = None
        self.version = 0
        self.polls = 0  # listings applied (changed or not)
        self.pending: list[Diff] = []  # drained by the table model
        self.known_types: dict[str, str] = {}  # sessions we created or opened

    def __len__(self) -> int:
        return len(self.order)

    def apply(self, summaries: list[SessionSummary], max_sessions: int | None = None) -> Diff:
        """Merge one generation-1 listing; returns (and queues) what changed."""
        counts: dict[str, int] = {}
        for s in summaries:
            # Some servers add the flash count to the summary (kept as extra fields).
            extra = s.model_extra or {}
            count = extra.get("flash_count", extra.get("flash_queries"))
            if isinstance(count, list):
                count = len(count)
            if isinstance(count, int) and not isinstance(count, bool):
                counts[s.session_id] = count
        return self.apply_overviews([SessionOverview.from_gen1(s) for s in summaries],
                                    max_sessions, flash_counts=counts)

    def apply_overviews(self, overviews: list[SessionOverview], max_sessions: int | None = None,
                        *, flash_counts: dict[str, int] | None = None,
                        generation: int = 1, context: int | None = None) -> Diff:
        """Merge one listing of either generation (``context``: gen 2's model-wide limit)."""
        self.polls += 1
        if max_sessions is not None:
            self.max_sessions = max_sessions
        seen: set[str] = set()
        added: list[str] = []
        changed: list[str] = []
        for s in overviews:
            sid = s.id
            seen.add(sid)
            row = self.rows.get(sid)
            is_new = row is None
            if row is None:
                row = SessionRow(sid)
            before = None if is_new else row.key()
            row.generation = generation
            row.n_tokens = s.tokens
            row.context = s.context if s.context is not None else (context or 0)
            if s.cache_usage is not None:
                row.cache_usage = s.cache_usage
            else:  # gen 2: the session's share of the model's context
                row.cache_usage = min(1.0, s.tokens / row.context) if row.context else 0.0
            row.in_use = s.busy
            row.created_at, row.last_used_at = s.created, s.last_used
            row.prefix_end = s.prefix_end or 0
            row.kv_tokens, row.pending, row.data_version = s.kv_tokens, s.pending, s.data_version
            row.evicted, row.window = s.evicted, s.window
            stype = s.type or self.known_types.get(sid)
            if isinstance(stype, str) and stype:
                row.type = stype
            elif generation == 2 and row.type is None:
                row.type = UNTYPED  # gen 2 sessions hold raw text: nothing to read
            if flash_counts and sid in flash_counts:
                row.flash_count = flash_counts[sid]
            if is_new:
                self.rows[sid] = row
                self.order.append(sid)
                added.append(sid)
            elif row.key() != before:
                changed.append(sid)
        removed = [sid for sid in self.order if sid not in seen]
        for sid in removed:
            del self.rows[sid]
        if removed:
            self.order = [sid for sid in self.order if sid in seen]
        diff = Diff(added, removed, changed)
        if diff:
            self.pending.append(diff)
            self.version += 1
        return diff

    def update_details(self, sid: str, type_: str | None, flash_count: int | None) -> bool:
        row = self.rows.get(sid)
        if row is None:
            return False
        before = row.key()
        if type_:
            row.type = type_
        if flash_count is not None:
            row.flash_count = flash_count
        row.details_at = time.monotonic()
        if row.key() != before:
            self.pending.append(Diff([], [], [sid]))
            self.version += 1
            return True
        return False

    def take_pending(self) -> list[Diff]:
        diffs, self.pending = self.pending, []
        return diffs

    async def apply_listing(self, listing: SessionList, client: LayerScale) -> Diff:
        diff = self.apply(listing.sessions, listing.max_sessions)
        await self.fill_details(await client.surface())
        return diff

    async def apply_surface(self, overviews: list[SessionOverview], surface: Surface, *,
                            context: int | None = None) -> Diff:
        """One listing read through the client's common surface, then a few rows' details."""
        diff = self.apply_overviews(overviews, generation=int(surface.generation),
                                    context=context)
        await self.fill_details(surface)
        return diff

    async def fill_details(self, surface: Surface, budget: int = 4) -> None:
        """Type and flash count are not in the summary: read them for a few rows per poll."""
        now = time.monotonic()
        due = [r for r in self.rows.values()
               if r.type is None or r.flash_count is None or now - r.details_at > DETAIL_REFRESH]
        due.sort(key=lambda r: (r.type is not None, r.details_at))
        for row in due[:budget]:
            try:
                type_ = row.type
                if type_ is None:
                    type_ = (await surface.get_session(row.session_id)).type
                flash = await surface.list_flash(row.session_id)
                self.update_details(row.session_id, type_, len(flash.queries))
            except asyncio.CancelledError:
                raise
            except LayerScaleError as exc:  # deleted meanwhile: the next listing drops it
                row.details_at = now
                log.debug("details of %s: %s", row.session_id, exc)
