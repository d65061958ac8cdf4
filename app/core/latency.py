"""Ingest latencies the dashboard measures itself, per open session (no Qt).

The session's link (app.core.link) calls `pushed()` when a batch goes out and
`observe()` for every event that arrives; from those this module measures

* push -> data_updated: from sending a batch to the first data_updated after it
  (the server has decoded it into the context), one sample per batch;
* data_updated -> flash_ready: from a data_updated of version v to each flash_ready
  computed at version v (one sample per query per version);

and keeps a log of every flash answer for CSV export. All bounded: an hour of a
busy session costs the same memory as a minute. State is held per SessionModel in
a weak map, so nothing here outlives a closed session.
"""

from __future__ import annotations

import csv
import io
import time
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.api.models import DataUpdatedEvent, FlashReadyEvent
from app.core.timeseries import Ring

SAMPLES = 2048  # latency samples kept per measure
PENDING = 512  # batches awaiting their data_updated
VERSIONS = 256  # data versions awaiting their flash answers
FLASH_LOG = 2000  # flash answers kept per session for export


class Samples:
    """The last SAMPLES values of one latency (seconds), with percentiles."""

    def __init__(self, size: int = SAMPLES) -> None:
        self._ring = Ring(size)

    @property
    def count(self) -> int:
        """All samples ever taken."""
        return self._ring.count

    @property
    def values(self) -> list[float]:
        return [float(v) for v in self._ring.rows()[:, 0]]

    def add(self, seconds: float) -> None:
        self._ring.append(seconds)

    def percentile(self, q: float) -> float | None:
        if not self._ring.count:
            return None
        return float(np.percentile(self._ring.rows()[:, 0], q))

    @property
    def last(self) -> float | None:
        row = self._ring.last()
        return None if row is None else float(row[0])


@dataclass(frozen=True, slots=True)
class FlashRecord:
    received_at: float  # our clock, unix s
    query_id: int
    query: str
    value: str
    confidence: float | None
    data_version: int | None
    evaluated_at: float | None
    latency: float | None  # seconds from that version's data_updated, when seen


FLASH_COLUMNS = ("received_at", "query_id", "query", "value", "confidence", "data_version",
                 "evaluated_at", "after_data_updated_ms")


class LinkTimes:
    def __init__(self) -> None:
        self.push_to_update = Samples()
        self.update_to_flash = Samples()
        self.flash_log: deque[FlashRecord] = deque(maxlen=FLASH_LOG)
        self._pending: deque[float] = deque(maxlen=PENDING)  # monotonic send times
        self._updated: OrderedDict[int, float] = OrderedDict()  # data version -> monotonic
        self.events = 0
        self.version = 0

    def pushed(self, now: float | None = None) -> None:
        self._pending.append(time.monotonic() if now is None else now)

    def observe(self, event: Any, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        self.events += 1
        if isinstance(event, DataUpdatedEvent):
            while self._pending and self._pending[0] <= t:
                self.push_to_update.add(t - self._pending.popleft())
            self._updated[event.data_version] = t
            while len(self._updated) > VERSIONS:
                self._updated.popitem(last=False)
            self.version += 1
        elif isinstance(event, FlashReadyEvent):
            since = self._updated.get(event.data_version) if event.data_version is not None \
                else None
            latency = None if since is None else t - since
            if latency is not None:
                self.update_to_flash.add(latency)
            self.flash_log.append(FlashRecord(time.time(), event.id, event.query, event.value,
                                              event.confidence, event.data_version,
                                              event.evaluated_at, latency))
            self.version += 1

    def flash_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(FLASH_COLUMNS)
        for r in self.flash_log:
            writer.writerow([f"{r.received_at:.3f}", r.query_id, r.query, r.value,
                             "" if r.confidence is None else f"{r.confidence:.4f}",
                             "" if r.data_version is None else r.data_version,
                             "" if r.evaluated_at is None else f"{r.evaluated_at:.3f}",
                             "" if r.latency is None else f"{r.latency * 1e3:.1f}"])
        return out.getvalue()


_TIMES: weakref.WeakKeyDictionary[Any, LinkTimes] = weakref.WeakKeyDictionary()


def times_for(model: Any) -> LinkTimes:
    """The LinkTimes of one SessionModel (made on first use)."""
    found = _TIMES.get(model)
    if found is None:
        found = _TIMES[model] = LinkTimes()
    return found


def pushed(model: Any) -> None:
    """Hook: the link sent a batch for `model`."""
    times_for(model).pushed()


def observe(model: Any, event: Any) -> None:
    """Hook: an event arrived on `model`'s link."""
    times_for(model).observe(event)
