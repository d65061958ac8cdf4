"""Flash queries of one session: latest answer, freshness, history, flips."""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app.core.confidence import Level, level, odds

HISTORY = 8
FLIPS_KEPT = 32

# Answers are compared by their verdict when they start with one, so "Yes, rising"
# followed by "Yes, the close is higher" is not a flip but "No." after "Yes." is.
_VERDICTS = {
    "yes", "no", "true", "false", "up", "down", "bullish", "bearish", "buy", "sell",
    "hold", "long", "short", "neutral", "flat", "higher", "lower", "increasing",
    "decreasing", "rising", "falling",
}
_WORD = re.compile(r"[a-z0-9]+")


def answer_key(value: str) -> str:
    """What two answers must share to count as the same answer."""
    words = _WORD.findall(value.lower())
    if not words:
        return ""
    if words[0] in _VERDICTS:
        return words[0]
    return " ".join(words)


@dataclass(frozen=True, slots=True)
class Answer:
    value: str
    confidence: float | None
    data_version: int
    evaluated_at: float  # server clock, unix s
    received_at: float  # our clock, unix s: ages are measured from here (no clock skew)

    @property
    def odds(self) -> float | None:
        return None if self.confidence is None else odds(self.confidence)

    @property
    def level(self) -> Level:
        return level(self.confidence)


@dataclass
class FlashQueryState:
    id: int
    query: str
    max_tokens: int = 32
    latest: Answer | None = None
    history: deque[Answer] = field(default_factory=lambda: deque(maxlen=HISTORY))
    flips: int = 0
    last_flip: tuple[str, str] | None = None  # (from, to) of the last flip

    def age(self, now: float | None = None) -> float | None:
        if self.latest is None:
            return None
        return max(0.0, (now if now is not None else time.time()) - self.latest.received_at)

    def is_fresh(self, current_version: int) -> bool:
        return self.latest is not None and self.latest.data_version >= current_version


@dataclass(frozen=True, slots=True)
class Flip:
    query_id: int
    query: str
    before: str
    after: str
    data_version: int
    at: float
    seq: int = 0  # 1 for the board's first flip, 2 for the next...


class FlashBoard:
    """All flash queries of a session, kept in the order they were registered."""

    def __init__(self) -> None:
        self.queries: dict[int, FlashQueryState] = {}
        self.version = 0
        # The latest flips, for a view's tray notes: it reads those after the last `seq` it
        # saw (the board is never drained by a view); only the newest are kept.
        self.flips: deque[Flip] = deque(maxlen=FLIPS_KEPT)
        self.flip_seq = 0
        self.newest: tuple[str, Answer] | None = None  # (query, answer) last taken, any query

    def __len__(self) -> int:
        return len(self.queries)

    def _bump(self) -> None:
        self.version += 1

    def set_queries(self, items: list[tuple[int, str, int]]) -> None:
        """Replace the registered set (id, query, max_tokens), keeping known answers."""
        keep = {qid for qid, _, _ in items}
        for qid in list(self.queries):
            if qid not in keep:
                del self.queries[qid]
        for qid, query, max_tokens in items:
            q = self.queries.get(qid)
            if q is None:
                self.queries[qid] = FlashQueryState(qid, query, max_tokens)
            else:
                q.query, q.max_tokens = query, max_tokens
        self._bump()

    def remove(self, qid: int) -> None:
        if self.queries.pop(qid, None) is not None:
            self._bump()

    def clear(self) -> None:
        self.queries.clear()
        self.newest = None
        self._bump()

    def record(
        self,
        qid: int,
        query: str,
        value: str,
        confidence: float | None,
        data_version: int,
        evaluated_at: float | None,
        now: float | None = None,
    ) -> Flip | None:
        """Take one answer (flash_ready or a listed FlashQuery); returns the flip it made."""
        now = time.time() if now is None else now
        q = self.queries.get(qid)
        if q is None:
            q = self.queries[qid] = FlashQueryState(qid, query)
        answer = Answer(value, confidence, int(data_version), evaluated_at or now, now)
        prev = q.latest
        if prev is not None and (
            prev.data_version > answer.data_version
            or (prev.data_version == answer.data_version and prev.value == value)
        ):
            return None  # an older or repeated answer (e.g. replayed after a reconnect)
        flip = None
        if prev is not None and answer_key(prev.value) != answer_key(value):
            q.flips += 1
            q.last_flip = (prev.value, value)
            self.flip_seq += 1
            flip = Flip(qid, q.query, prev.value, value, answer.data_version, now,
                        self.flip_seq)
            self.flips.append(flip)
        if prev is not None:
            q.history.appendleft(prev)
        q.latest = answer
        self.newest = (q.query, answer)
        self._bump()
        return flip

    def flips_since(self, seq: int) -> list[Flip]:
        """Flips after the one numbered `seq` (0: all kept), oldest first."""
        return [f for f in self.flips if f.seq > seq]

    def specs(self) -> list[dict[str, Any]]:
        """The queries as the protocol's `flash` list (to recreate a session)."""
        return [{"query": q.query, "max_tokens": q.max_tokens} for q in self.queries.values()]
