"""Capped exponential backoff with jitter, shared by HTTP retries and WS reconnects."""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry ``attempt`` (0-based): ``min(cap, base * factor**attempt)``,
    scaled down by up to ``jitter`` (a fraction) so that many clients dropped at the
    same moment do not come back in lockstep."""

    base: float = 0.5
    cap: float = 8.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        raw = min(self.cap, self.base * self.factor ** max(0, min(attempt, 64)))
        r = (rng or random).random()
        return raw * (1.0 - self.jitter * r)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
