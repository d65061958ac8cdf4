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

log = logging.getLogger(__name__)

DETAIL_REFRESH = 10.0  # seconds between re-reading a session's type/flash count


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

    def key(self) -> tuple[Any, ...]:
        return (self.type, self.n_tokens, self.context, round(self.cache_usage, 4),
                self.in_use, self.last_used_at, self.flash_count, self.prefix_end)


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
        """Merge one listing; returns (and queues) what changed."""
        self.polls += 1
        if max_sessions is not None:
            self.max_sessions = max_sessions
        seen: set[str] = set()
        added: list[str] = []
        changed: list[str] = []
        for s in summaries:
            sid = s.session_id
            seen.add(sid)
            row = self.rows.get(sid)
            is_new = row is None
            if row is None:
                row = SessionRow(sid)
            before = None if is_new else row.key()
            row.n_tokens, row.context = s.n_tokens, s.context
            row.cache_usage = s.cache_usage
            row.in_use = s.in_use
            row.created_at, row.last_used_at = float(s.created_at), float(s.last_used_at)
            row.prefix_end = s.prefix_end or 0
            # Some servers add type and flash count to the summary (kept as extra fields).
            extra = s.model_extra or {}
            stype = extra.get("type") or self.known_types.get(sid)
            if isinstance(stype, str) and stype:
                row.type = stype
            count = extra.get("flash_count", extra.get("flash_queries"))
            if isinstance(count, list):
                count = len(count)
            if isinstance(count, int) and not isinstance(count, bool):
                row.flash_count = count
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
        await self.fill_details(client)
        return diff

    async def fill_details(self, client: LayerScale, budget: int = 4) -> None:
        """Type and flash count are not in the summary: read them for a few rows per poll."""
        now = time.monotonic()
        due = [r for r in self.rows.values()
               if r.type is None or r.flash_count is None or now - r.details_at > DETAIL_REFRESH]
        due.sort(key=lambda r: (r.type is not None, r.details_at))
        for row in due[:budget]:
            try:
                type_ = row.type
                if type_ is None:
                    type_ = (await client.sessions.get(row.session_id)).type
                flash = await client.sessions.list_flash(row.session_id)
                self.update_details(row.session_id, type_, flash.count)
            except asyncio.CancelledError:
                raise
            except LayerScaleError as exc:  # deleted meanwhile: the next listing drops it
                row.details_at = now
                log.debug("details of %s: %s", row.session_id, exc)
