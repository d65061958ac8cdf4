"""How far the server has got with what this dashboard sent one session, and so how fresh
each flash answer is.

Positions are indices into the session's store (what the plot draws), in the order the
server acknowledged them:

    [0, ingested)          read by the model: in its context, drawn solid
    [ingested, stored)     acknowledged, waiting in the server's queue: drawn faded
    in flight / outbox     not drawn (sent and not yet acknowledged, or not sent)

`ingested` comes from two exact sources for a session only we push to: a push_ack (our
accepted count minus the queue depth it reports) and `stream/status` (items processed),
each offset by `base` (the store entries that predate the current server session, after
a recreate). A `data_updated` only says that *some* batch was read; it moves nothing
here by itself, the runner reads the status after it.

An answer is fresh only when it was computed at the newest data version we know of and
nothing drawn is still waiting to be read; otherwise it is stale by so many entries and
seconds (since the first entry it did not see was acknowledged). A full context or a
session that is gone is said as such, whatever the versions.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

VERSIONS_KEPT = 512  # data versions whose coverage is remembered (answers lag a few at most)
ACKS_KEPT = 50_000  # acknowledged batches whose arrival time is remembered (at least)
DROP_WINDOW = 10.0  # seconds over which the drop rate is measured


class Freshness(StrEnum):
    WAITING = "waiting"  # no answer yet
    FRESH = "fresh"
    STALE = "stale"
    FULL = "full"  # the context is full: the model reads no new data
    GONE = "gone"  # the session no longer exists on the server


@dataclass(frozen=True, slots=True)
class Verdict:
    state: Freshness
    behind_entries: int = 0
    behind_seconds: float = 0.0

    def describe(self, unit: str = "entries") -> str:
        match self.state:
            case Freshness.STALE:
                if self.behind_entries <= 0:
                    return "stale · newer data read"
                return (f"stale · {self.behind_entries:,} {unit} behind, "
                        f"{_seconds(self.behind_seconds)}")
            case Freshness.FULL:
                return "context full · no new data read"
            case Freshness.GONE:
                return "session gone"
            case _:
                return self.state.value


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


@dataclass
class Progress:
    base: int = 0  # store entries older than the current server session
    ingested: int = 0  # store entries the model has read
    stored: int = 0  # store entries (acknowledged)
    queue: int = 0  # the server's queue depth as last reported
    queue_capacity: int | None = None
    latest_version: int = 0
    dropped: int = 0  # entries the server dropped and we did not send again (latest wins)
    resent: int = 0  # entries the server dropped and we sent again (hold)
    context_full: str = ""  # the server's words when the context is full
    gone: bool = False
    _covered: dict[int, int] = field(default_factory=dict)  # data version -> ingested at it
    # Store end index and arrival time of each acknowledged batch (parallel, sorted lists).
    _ack_end: list[int] = field(default_factory=list)
    _ack_at: list[float] = field(default_factory=list)
    _drops: deque[tuple[float, int]] = field(default_factory=deque)

    # ---------------------------------------------------------------- facts coming in
    def acked(self, stored: int, accepted: int, queue: int | None,
              now: float | None = None) -> None:
        """A push was acknowledged: the store now holds `stored` entries and the server
        session has accepted `accepted` of ours in total."""
        now = time.time() if now is None else now
        if stored > self.stored:
            self._ack_end.append(stored)
            self._ack_at.append(now)
            if len(self._ack_end) > 2 * ACKS_KEPT:
                del self._ack_end[:ACKS_KEPT], self._ack_at[:ACKS_KEPT]
        self.stored = stored
        if queue is not None:
            self.queue = max(0, int(queue))
            self._set_ingested(self.base + accepted - self.queue)

    def status(self, items_processed: int, queue: int, capacity: int | None = None) -> None:
        """stream/status of the current server session."""
        self.queue = max(0, int(queue))
        if capacity:
            self.queue_capacity = int(capacity)
        self._set_ingested(self.base + int(items_processed))

    def data_updated(self, version: int) -> None:
        if version >= self.latest_version:
            self.latest_version = version
            self._covered[version] = max(self._covered.get(version, 0), self.ingested)
            while len(self._covered) > VERSIONS_KEPT:
                del self._covered[min(self._covered)]

    def dropped_by_server(self, n: int, resent: bool, now: float | None = None) -> None:
        if n <= 0:
            return
        if resent:
            self.resent += n
            return
        self.dropped += n
        now = time.time() if now is None else now
        self._drops.append((now, n))

    def restarted(self, stored: int, reseeded: int) -> None:
        """A new server session: `reseeded` of the newest `stored` entries were sent to it
        again; the rest predate it."""
        self.base = stored - reseeded
        self.stored = stored
        self.ingested = self.base
        self.queue = 0
        self.latest_version = 0
        self._covered.clear()
        self.context_full = ""
        self.gone = False

    def _set_ingested(self, value: int) -> None:
        self.ingested = max(self.ingested, min(value, self.stored))
        if self.latest_version in self._covered:
            # What a status read just proved read at the newest version we know of.
            self._covered[self.latest_version] = max(self._covered[self.latest_version],
                                                     self.ingested)

    # ---------------------------------------------------------------- questions
    @property
    def queued(self) -> int:
        """Entries drawn (acknowledged) that the model has not read yet."""
        return max(0, self.stored - self.ingested)

    def drop_rate(self, now: float | None = None) -> float:
        now = time.time() if now is None else now
        while self._drops and now - self._drops[0][0] > DROP_WINDOW:
            self._drops.popleft()
        return sum(n for _, n in self._drops) / DROP_WINDOW

    def waiting_since(self, index: int) -> float | None:
        """When the entry at store `index` was acknowledged (None if before our records)."""
        i = bisect.bisect_right(self._ack_end, index)
        return self._ack_at[i] if i < len(self._ack_at) else None

    def oldest_queued_age(self, now: float | None = None) -> float:
        if not self.queued:
            return 0.0
        since = self.waiting_since(self.ingested)
        now = time.time() if now is None else now
        return 0.0 if since is None else max(0.0, now - since)

    def covered(self, version: int) -> int:
        """Store entries known read when data version `version` was announced."""
        if version >= self.latest_version and version in self._covered:
            return self._covered[version]
        keys = [v for v in self._covered if v <= version]
        return self._covered[max(keys)] if keys else self.base

    def verdict(self, answer_version: int | None, tracks_data: bool = True,
                now: float | None = None, current_version: int = 0) -> Verdict:
        """How fresh an answer computed at `answer_version` is, `current_version` being the
        newest data version known otherwise (a listing). Without `tracks_data` (a session
        fed elsewhere) only the versions can be compared."""
        latest = max(self.latest_version, current_version)
        if self.gone:
            return Verdict(Freshness.GONE)
        if self.context_full:
            return Verdict(Freshness.FULL)
        if answer_version is None:
            return Verdict(Freshness.WAITING)
        if not tracks_data:
            fresh = answer_version >= latest
            return Verdict(Freshness.FRESH if fresh else Freshness.STALE)
        if answer_version >= latest and not self.queued:
            return Verdict(Freshness.FRESH)
        seen = min(self.covered(answer_version), self.stored)
        behind = self.stored - seen
        since = self.waiting_since(seen) if behind else None
        now = time.time() if now is None else now
        return Verdict(Freshness.STALE, behind, 0.0 if since is None else max(0.0, now - since))
