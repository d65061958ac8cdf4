"""Bounded time series for the cockpit's live graphs (no Qt).

A `Series` keeps every sample of the last `recent` seconds (5 minutes) and, behind
that, one mean per `step` seconds back to `span` (1 hour). Both rings have a fixed
length, so an operator can leave the dashboard open for days and memory stays flat.
Times are whatever clock the caller passes (the pollers use `time.time()`), which
keeps the series testable and lets a bench replay an hour in a second.
"""

from __future__ import annotations

import csv
import io
import math
from collections import deque
from collections.abc import Iterable

import numpy as np

RECENT = 300.0  # seconds kept at full rate
SPAN = 3600.0  # seconds kept in all
STEP = 10.0  # width of one downsampled bucket
MAX_RATE = 4.0  # samples per second the full-rate ring is sized for


class Series:
    def __init__(self, recent: float = RECENT, span: float = SPAN, step: float = STEP,
                 max_rate: float = MAX_RATE) -> None:
        self.recent, self.span, self.step = recent, span, step
        self._fine: deque[tuple[float, float]] = deque(maxlen=int(recent * max_rate) + 1)
        self._coarse: deque[tuple[float, float]] = deque(maxlen=int(span / step) + 1)
        self._bucket = math.nan  # start time of the bucket being averaged
        self._sum = 0.0
        self._n = 0
        self.version = 0

    def __len__(self) -> int:
        return len(self._fine) + len(self._coarse)

    @property
    def last(self) -> float | None:
        return self._fine[-1][1] if self._fine else None

    def add(self, t: float, value: float) -> None:
        if self._fine and t < self._fine[-1][0]:
            return  # a sample from the past (clock step back): keep the series monotonic
        self._fine.append((t, float(value)))
        bucket = math.floor(t / self.step) * self.step
        if bucket != self._bucket:
            self._flush()
            self._bucket = bucket
        self._sum += float(value)
        self._n += 1
        self.version += 1

    def _flush(self) -> None:
        if self._n:
            self._coarse.append((self._bucket + self.step / 2, self._sum / self._n))
        self._sum, self._n = 0.0, 0

    def window(self, seconds: float, now: float) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) of the last `seconds`: full rate where kept, means further back."""
        since = now - seconds
        fine = [(t, v) for t, v in self._fine if t >= since and t >= now - self.recent]
        first = fine[0][0] if fine else now - self.recent
        coarse = [(t, v) for t, v in self._coarse if since <= t < first - self.step / 2] \
            if seconds > self.recent else []
        pts = coarse + fine
        if not pts:
            return np.empty(0), np.empty(0)
        arr = np.asarray(pts, dtype=float)
        return arr[:, 0], arr[:, 1]

    def samples(self) -> Iterable[tuple[float, float]]:
        """Every full-rate sample still held (for CSV export)."""
        return iter(self._fine)


class SeriesSet:
    """Named series sampled together (one row per poll), exportable as CSV."""

    def __init__(self, names: Iterable[str], **kwargs: float) -> None:
        self.names = list(names)
        self.series = {n: Series(**kwargs) for n in self.names}
        self._rows: deque[tuple[float, ...]] = deque(
            maxlen=int(kwargs.get("recent", RECENT) * kwargs.get("max_rate", MAX_RATE)) + 1)
        self.version = 0

    def __getitem__(self, name: str) -> Series:
        return self.series[name]

    def add(self, t: float, **values: float) -> None:
        for name, value in values.items():
            self.series[name].add(t, value)
        self._rows.append((t, *(float(values.get(n, math.nan)) for n in self.names)))
        self.version += 1

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["time", *self.names])
        for row in self._rows:
            writer.writerow([f"{row[0]:.3f}", *("" if math.isnan(v) else f"{v:g}"
                                                for v in row[1:])])
        return out.getvalue()
