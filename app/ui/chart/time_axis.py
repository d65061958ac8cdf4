"""Readable time ticks for an index-based x axis (candle i is drawn at x = i).

Ticks sit on the first candle at or after round calendar times (every 5 min,
every hour, each day, each month...), chosen so labels stay about 100 px
apart; a label shows the date where the day changes, the year where the year
changes.  Positions come from `searchsorted` on the time column.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

import numpy as np
from PySide6.QtGui import QFont

from app.streams.candles import CandleStore
from app.ui.chart.axes import FastAxis

__all__ = ["ClockAxis", "TimeAxisItem", "clock_ticks", "format_time", "time_ticks"]

_DAY = 86_400
_SUB_DAY_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    14400,
    21600,
    43200,
)
_DAY_STEPS = (1, 2, 7, 14)
_MONTH_STEPS = (1, 2, 3, 6)


def _local(ts: float, tz: tzinfo | None) -> datetime:
    return datetime.fromtimestamp(ts, tz) if tz is not None else datetime.fromtimestamp(ts)


def format_time(ts: float, tz: tzinfo | None = None, *, seconds: bool = False) -> str:
    """Full timestamp for the crosshair readout."""
    return _local(ts, tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _boundaries(t0: float, t1: float, step: float, tz: tzinfo | None) -> list[float]:
    """Round calendar times in [t0, t1] every `step` seconds (day/month/year aware)."""
    start = _local(t0, tz)
    out: list[float] = []
    if step < _DAY:
        offset = start.utcoffset()
        off = offset.total_seconds() if offset is not None else 0.0
        first = np.floor((t0 + off) / step) * step - off
        return np.arange(first, t1 + step, step).tolist()
    if step < 28 * _DAY:
        days = int(step // _DAY)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        if days == 7 or days == 14:
            day -= timedelta(days=day.weekday())  # weeks start on Monday
        while (ts := day.timestamp()) <= t1:
            out.append(ts)
            # datetime + timedelta is wall-clock arithmetic: midnight stays midnight over DST.
            day += timedelta(days=days)
        return out
    if step < 365 * _DAY:
        months = round(step / (30 * _DAY))
        month0 = (start.month - 1) // months * months
        y, m = start.year, month0
        while True:
            when = start.replace(
                year=y + m // 12, month=m % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0
            )
            if when.timestamp() > t1:
                return out
            out.append(when.timestamp())
            m += months
    years = max(1, round(step / (365 * _DAY)))
    y = start.year // years * years
    while True:
        when = start.replace(year=y, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        if when.timestamp() > t1:
            return out
        out.append(when.timestamp())
        y += years


def _steps() -> list[float]:
    return (
        [float(s) for s in _SUB_DAY_STEPS]
        + [float(d * _DAY) for d in _DAY_STEPS]
        + [float(m * 30 * _DAY) for m in _MONTH_STEPS]
        + [float(y * 365 * _DAY) for y in (1, 2, 5, 10, 25, 50, 100)]
    )


_STEPS = _steps()


def _step(per_label: float) -> float:
    """The shortest round step at least `per_label` seconds long."""
    return next((s for s in _STEPS if s >= per_label), _STEPS[-1])


def time_ticks(
    t: np.ndarray,
    x0: float,
    x1: float,
    px: float,
    tz: tzinfo | None = None,
    min_px: float = 100.0,
) -> list[tuple[int, str]]:
    """(candle index, label) ticks for the visible x range [x0, x1] spanning `px` pixels."""
    n = int(t.shape[0])
    i0 = max(0, int(np.ceil(x0)))
    i1 = min(n - 1, int(np.floor(x1)))
    if n == 0 or i1 < i0 or px <= 0:
        return []
    span = float(t[i1] - t[i0])
    if span <= 0:
        return [(i0, _local(float(t[i0]), tz).strftime("%H:%M"))]
    max_labels = max(1.0, px / min_px)
    # Spread over the candles actually visible, so gaps (weekends) do not thin labels.
    per_label = span / max_labels * ((i1 - i0) / max(1.0, (x1 - x0)))
    step = _step(per_label)
    bounds = np.asarray(_boundaries(float(t[i0]), float(t[i1]), step, tz))
    idx = np.searchsorted(t, bounds, side="left")
    # A tick belongs to its round time only if a candle starts within one step
    # of it; after a gap (nights, weekends, the start of the data) the first
    # candle would otherwise carry a label that collides with the next one.
    keep = (idx >= i0) & (idx <= i1)
    keep[keep] &= t[idx[keep]] - bounds[keep] < step
    idx = np.unique(idx[keep])
    px_per_index = px / max(1e-9, x1 - x0)
    ticks: list[tuple[int, str]] = []
    prev: float | None = None
    last_i: int | None = None
    for i in idx.tolist():
        if last_i is not None and (i - last_i) * px_per_index < min_px * 0.6:
            continue
        ts = float(t[i])
        ticks.append((i, _cached_label(ts, prev, step, tz)))
        prev = ts
        last_i = i
    return ticks


def clock_ticks(t0: float, t1: float, px: float, tz: tzinfo | None = None,
                min_px: float = 100.0) -> list[tuple[float, str]]:
    """(unix time, label) ticks at round times in [t0, t1] for an axis `px` pixels long
    that plots time itself (not candle indices)."""
    if not t1 > t0 or px <= 0:
        return []
    per_label = (t1 - t0) / max(1.0, px / min_px)
    step = _step(per_label)
    ticks: list[tuple[float, str]] = []
    prev: float | None = None
    for ts in _boundaries(t0, t1, step, tz):
        if t0 <= ts <= t1:
            ticks.append((ts, _cached_label(ts, prev, step, tz)))
            prev = ts
    return ticks


_LABELS: dict[tuple[float, float | None, float, tzinfo | None], str] = {}


def _cached_label(ts: float, prev: float | None, step: float, tz: tzinfo | None) -> str:
    # While following, the same ticks come back frame after frame.
    key = (ts, prev, step, tz)
    label = _LABELS.get(key)
    if label is None:
        if len(_LABELS) > 4096:
            _LABELS.clear()
        label = _label(_local(ts, tz), None if prev is None else _local(prev, tz), step)
        _LABELS[key] = label
    return label


def _label(when: datetime, prev: datetime | None, step: float) -> str:
    new_year = prev is None or when.year != prev.year
    if step >= 365 * _DAY:
        return f"{when.year}"
    if step >= 28 * _DAY:
        return f"{when.year}" if new_year and when.month == 1 else f"{when:%b}"
    if step >= _DAY:
        if new_year and when.month == 1 and when.day <= step / _DAY:
            return f"{when.year}"
        return f"{when:%b} {when.day}"
    if prev is None or when.date() != prev.date():
        if when.hour == 0 and when.minute == 0:
            return f"{when:%b} {when.day}"
        return f"{when:%b} {when.day} {when:%H:%M}" if prev is not None else f"{when:%H:%M}"
    return f"{when:%H:%M:%S}" if step < 60 else f"{when:%H:%M}"


class TimeAxisItem(FastAxis):
    """Bottom axis labelling candle indices with the candles' times."""

    def __init__(
        self, store: CandleStore, tz: tzinfo | None = None, *, text: str, line: str, font: QFont
    ) -> None:
        super().__init__("bottom", text=text, line=line, font=font)
        self._store = store
        self.tz = tz

    def ticks(self, lo: float, hi: float, length_px: float) -> list[tuple[float, str]]:
        return [
            (float(i), label) for i, label in time_ticks(self._store.t, lo, hi, length_px, self.tz)
        ]

    def data_key(self) -> tuple[float, ...]:
        return (len(self._store), self._store.epoch)


class ClockAxis(FastAxis):
    """Bottom axis of a plot whose x is unix time (the cockpit's live graphs)."""

    def __init__(self, tz: tzinfo | None = None, *, text: str, line: str, font: QFont) -> None:
        super().__init__("bottom", text=text, line=line, font=font)
        self.tz = tz

    def ticks(self, lo: float, hi: float, length_px: float) -> list[tuple[float, str]]:
        return clock_ticks(lo, hi, length_px, self.tz, min_px=80.0)
