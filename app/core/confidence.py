"""Reading a flash answer's confidence.

The server reports confidence as the gap between the two highest logits of the
answer's first token (PROTOCOL.md). A raw logit gap means little to a trader, so
the dashboard shows it next to the top token's odds over the runner-up,
``p = exp(gap) / (1 + exp(gap))`` (0.5 = coin toss, 1.0 = certain), and a
three-step level used for colour.
"""

from __future__ import annotations

import math
from enum import StrEnum


class Level(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# p = 0.62 and p = 0.88: below ~0.6 the model barely prefers its answer over the
# runner-up; above ~0.88 the runner-up is an order of magnitude less likely.
MEDIUM_GAP = 0.5
HIGH_GAP = 2.0


def odds(gap: float) -> float:
    """Probability of the top token against the runner-up alone (0.5..1)."""
    gap = max(0.0, float(gap))
    if gap > 50:  # exp overflows long before this matters
        return 1.0
    e = math.exp(gap)
    return e / (1.0 + e)


def level(gap: float | None) -> Level:
    if gap is None or gap < MEDIUM_GAP:
        return Level.LOW
    return Level.MEDIUM if gap < HIGH_GAP else Level.HIGH


def describe(gap: float | None) -> str:
    """Short text for a table cell: ``"2.31 (p 0.91)"``."""
    if gap is None:
        return "–"
    return f"{gap:.2f} (p {odds(gap):.2f})"
