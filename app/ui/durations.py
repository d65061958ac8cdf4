"""How long ago / how long, as short text for table cells and status lines."""

from __future__ import annotations

import time


def duration(seconds: float | None) -> str:
    """``"42 s"``, ``"7 min"``, ``"3.5 h"``, ``"2.0 d"``; ``"–"`` when unknown."""
    if seconds is None:
        return "–"
    s = max(0.0, float(seconds))
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def ago(ts: float, now: float | None = None) -> str:
    """Time since the unix timestamp `ts`; a date once it is more than a day old."""
    if not ts:
        return "–"
    s = max(0.0, (time.time() if now is None else now) - ts)
    if s >= 86400:
        return time.strftime("%Y-%m-%d", time.localtime(ts))
    return f"{duration(s)} ago"
