"""Statistics over the entries currently in a session's window.

Each stream type defines its own in the registry (app/streams: thresholds such as
tachycardia hr > 100 or a critical event's sev >= 4 are documented there and in README).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.streams import registry


def compute_stats(stream_type: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Statistics of an empty window are numbers too (0, "" for names), never null: the
    protocol's clients require them; non-finite ratios become 0."""
    return registry.get(stream_type).compute_stats(entries)
