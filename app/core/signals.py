"""Which candle each flash answer is about, and every answer received (no Qt, no I/O).

The server answers a flash query after ingesting data; the answer carries the
`data_version` it was computed at, and each `data_updated(v)` event says the data
moved to version v. The candle version v "ended with" is therefore the newest candle
the server had ingested when it announced v. `VersionLedger` records that per
version from what the link knows when `data_updated(v)` arrives:

* exactly, when the session holds every candle sent to it (`data_count` equals what
  was sent since the session began: nothing waits in its queue, nothing slid out of
  its window), so the newest sent is the newest read;
* otherwise as an upper bound: the newest candle the link had sent (drawn or in
  flight). The server cannot have ingested a candle it was never sent, so the bound
  is never *earlier* than the true candle, and scoring from it can only be late,
  never look ahead. A `stream/status` read after the event tightens it (the
  server's `items_processed` counts entries taken off its ring, in order).

`SignalLog` keeps every answer received (the flash board keeps only the last few),
with the candle it is about, for scoring, alerts and the confidence panes.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from app.core.confidence import odds
from app.core.flash import answer_key

__all__ = ["Signal", "SignalLog", "VersionLedger"]


class VersionLedger:
    """data_version -> timestamp of the candle that version ended with."""

    def __init__(self) -> None:
        self._versions: list[int] = []  # ascending
        self._stamps: list[float] = []
        self._exact: list[bool] = []

    def __len__(self) -> int:
        return len(self._versions)

    def record(self, version: int, timestamp: float, *, exact: bool = False) -> None:
        """Version `version` ended at or before the candle at `timestamp`.

        Recording a version again keeps the earlier of the two times (both are upper
        bounds or exact); an exact record wins over a bound.
        """
        version = int(version)
        i = bisect.bisect_left(self._versions, version)
        if i < len(self._versions) and self._versions[i] == version:
            if exact and not self._exact[i]:
                self._stamps[i], self._exact[i] = timestamp, True
            elif exact == self._exact[i]:
                self._stamps[i] = min(self._stamps[i], timestamp)
            return
        self._versions.insert(i, version)
        self._stamps.insert(i, float(timestamp))
        self._exact.insert(i, bool(exact))

    def candle_for(self, version: int) -> tuple[float, bool] | None:
        """(timestamp, exact) for `version`, or None when it was never announced to us.

        Versions are announced in order; an answer whose version we never saw announced
        has no candle here, and the caller falls back to what it knows at receipt.
        """
        i = bisect.bisect_left(self._versions, int(version))
        if i < len(self._versions) and self._versions[i] == int(version):
            return self._stamps[i], self._exact[i]
        return None

    def clear(self) -> None:
        """The session was recreated: versions start again from 0."""
        self._versions.clear()
        self._stamps.clear()
        self._exact.clear()


@dataclass(frozen=True, slots=True)
class Signal:
    """One flash answer as received, with the candle it is about."""

    query_id: int
    value: str
    key: str  # answer_key(value): what flips and scoring compare
    gap: float | None
    data_version: int
    candle_ts: float  # the candle its data version ended with (see the module docstring)
    exact: bool  # candle_ts is exact, not an upper bound
    received_at: float
    seq: int  # 1, 2, ... in the order received (all queries of the session)

    @property
    def p(self) -> float:
        """p = e^gap / (1 + e^gap) as the flash panel shows it (0.5 without a gap)."""
        return 0.5 if self.gap is None else odds(self.gap)


class SignalLog:
    """Every flash answer a session received, per query, in the order received."""

    def __init__(self) -> None:
        self._by_query: dict[int, list[Signal]] = {}
        self.seq = 0
        self.version = 0

    def add(self, query_id: int, value: str, gap: float | None, data_version: int,
            candle_ts: float, exact: bool, received_at: float) -> Signal | None:
        """Record an answer; None for a repeat of the last one (same version and value)."""
        items = self._by_query.setdefault(int(query_id), [])
        if items:
            last = items[-1]
            if data_version < last.data_version or (
                    data_version == last.data_version and value == last.value):
                return None  # the board ignores these too (replays after a reconnect)
            # Never about an earlier candle than the answer before it: answers arrive in
            # version order, and the candles their versions ended with do too.
            candle_ts = max(candle_ts, last.candle_ts)
        self.seq += 1
        sig = Signal(int(query_id), value, answer_key(value), gap, int(data_version),
                     float(candle_ts), bool(exact), float(received_at), self.seq)
        items.append(sig)
        self.version += 1
        return sig

    def for_query(self, query_id: int) -> list[Signal]:
        return self._by_query.get(int(query_id), [])

    def query_ids(self) -> list[int]:
        return list(self._by_query)

    def forget(self, query_id: int) -> None:
        if self._by_query.pop(int(query_id), None) is not None:
            self.version += 1

    def clear(self) -> None:
        self._by_query.clear()
        self.version += 1

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_query.values())
