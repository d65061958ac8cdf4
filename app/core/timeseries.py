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
from collections.abc import Iterable

import numpy as np

RECENT = 300.0  # seconds kept at full rate
SPAN = 3600.0  # seconds kept in all
STEP = 10.0  # width of one downsampled bucket
MAX_RATE = 1.0  # samples per second the full-rate ring is sized for (the pollers' rate)


class Ring:
    """A fixed-size ring of float rows in one numpy array, filled (and so resident) at
    construction: holding it full costs no more memory than holding it empty."""

    def __init__(self, size: int, width: int = 1) -> None:
        self.data = np.full((max(1, size), width), np.nan)
        self.size = self.data.shape[0]
        self.count = 0  # rows ever appended
        self.head = 0  # where the next row goes

    def __len__(self) -> int:
        return min(self.count, self.size)

    def append(self, *row: float) -> None:
        self.data[self.head] = row
        self.head = (self.head + 1) % self.size
        self.count += 1

    def rows(self) -> np.ndarray:
        """The rows held, oldest first (a copy)."""
        if self.count < self.size:
            return self.data[: self.count].copy()
        return np.concatenate((self.data[self.head:], self.data[: self.head]))

    def last(self) -> np.ndarray | None:
        return None if self.count == 0 else self.data[(self.head - 1) % self.size]


class Series:
    def __init__(self, recent: float = RECENT, span: float = SPAN, step: float = STEP,
                 max_rate: float = MAX_RATE) -> None:
        self.recent, self.span, self.step = recent, span, step
        self._fine = Ring(int(recent * max_rate) + 1, 2)
        self._coarse = Ring(int(span / step) + 1, 2)
        self._bucket = math.nan  # start time of the bucket being averaged
        self._sum = 0.0
        self._n = 0
        self.version = 0

    def __len__(self) -> int:
        return len(self._fine) + len(self._coarse)

    @property
    def last(self) -> float | None:
        row = self._fine.last()
        return None if row is None else float(row[1])

    def add(self, t: float, value: float) -> None:
        last = self._fine.last()
        if last is not None and t < last[0]:
            return  # a sample from the past (clock step back): keep the series monotonic
        self._fine.append(t, float(value))
        bucket = math.floor(t / self.step) * self.step
        if bucket != self._bucket:
            self._flush()
            self._bucket = bucket
        self._sum += float(value)
        self._n += 1
        self.version += 1

    def _flush(self) -> None:
        if self._n:
            self._coarse.append(self._bucket + self.step / 2, self._sum / self._n)
        self._sum, self._n = 0.0, 0

    def window(self, seconds: float, now: float) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) of the last `seconds`: full rate where kept, means further back."""
        since = now - seconds
        fine = self._fine.rows()
        fine = fine[(fine[:, 0] >= since) & (fine[:, 0] >= now - self.recent)]
        first = fine[0, 0] if len(fine) else now - self.recent
        if seconds > self.recent:
            coarse = self._coarse.rows()
            coarse = coarse[(coarse[:, 0] >= since) & (coarse[:, 0] < first - self.step / 2)]
            pts = np.concatenate((coarse, fine)) if len(coarse) else fine
        else:
            pts = fine
        return pts[:, 0], pts[:, 1]

    def samples(self) -> np.ndarray:
        """Every full-rate sample still held, as (time, value) rows (for CSV export)."""
        return self._fine.rows()


class SeriesSet:
    """Named series sampled together (one row per poll), exportable as CSV."""

    def __init__(self, names: Iterable[str], **kwargs: float) -> None:
        self.names = list(names)
        self.series = {n: Series(**kwargs) for n in self.names}
        size = int(kwargs.get("recent", RECENT) * kwargs.get("max_rate", MAX_RATE)) + 1
        self._rows = Ring(size, 1 + len(self.names))
        self.version = 0

    def __getitem__(self, name: str) -> Series:
        return self.series[name]

    def add(self, t: float, **values: float) -> None:
        for name, value in values.items():
            self.series[name].add(t, value)
        self._rows.append(t, *(float(values.get(n, math.nan)) for n in self.names))
        self.version += 1

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["time", *self.names])
        for row in self._rows.rows():
            writer.writerow([f"{row[0]:.3f}", *("" if math.isnan(v) else f"{v:g}"
                                                for v in row[1:])])
        return out.getvalue()
