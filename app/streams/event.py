"""Discrete events: a source, a severity (int, >= 4 is critical), a category and a count.

The plot is a timeline: one lane per source (or per category), events coloured by
severity, counts per time bin when zoomed out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from app.streams.base import (
    Entry,
    EntryModel,
    Int,
    SeededGenerator,
    StatsModel,
    StreamType,
    Text,
)

__all__ = ["CRITICAL_SEVERITY", "Event", "EventEntry", "EventStats"]

CRITICAL_SEVERITY = 4
MAX_SEVERITY_SHOWN = 5  # colours run 0..5; higher severities share the top colour


class EventEntry(EntryModel):
    src: Text = Field(description="source")
    sev: Int = Field(description="severity")
    cat: Text = Field(description="category")
    cnt: Int = Field(description="count")


class EventStats(StatsModel):
    total_event_count: int | None = None
    max_severity: int | None = None
    critical_events: int | None = None
    unique_sources: int | None = None
    unique_categories: int | None = None
    top_category: str | None = None
    top_category_count: int | None = None


# source -> (categories it reports, its usual severity)
_SOURCES = {
    "api-gw": (("timeout", "http_5xx", "rate_limit"), 2),
    "auth": (("login_failed", "token_expired"), 1),
    "db": (("slow_query", "deadlock", "replica_lag"), 2),
    "billing": (("payment_declined", "webhook_retry"), 1),
}


class _IncidentGenerator(SeededGenerator):
    """Quiet background noise from every source, and now and then a burst: one source
    floods with severe events of one category for a minute or two."""

    def __init__(self, seed: int, start: float, interval: float) -> None:
        super().__init__(seed, start, interval)
        self._burst: tuple[str, str, int] | None = None

    def take(self, n: int) -> list[Any]:
        rng = self._rng
        names = list(_SOURCES)
        out: list[EventEntry] = []
        for _ in range(n):
            if self._burst is None and rng.random() < 0.03:
                src = names[int(rng.integers(len(names)))]
                cats = _SOURCES[src][0]
                self._burst = (src, cats[int(rng.integers(len(cats)))], int(rng.integers(15, 40)))
            if self._burst is not None:
                src, cat, left = self._burst
                sev = int(min(5, _SOURCES[src][1] + 2 + rng.integers(0, 2)))
                cnt = int(rng.integers(3, 25))
                self._burst = (src, cat, left - 1) if left > 1 else None
                gap = self._interval * rng.uniform(0.1, 0.5)  # bursts are dense
            else:
                src = names[int(rng.integers(len(names)))]
                cats, base = _SOURCES[src]
                cat = cats[int(rng.integers(len(cats)))]
                sev = int(max(0, min(5, base + rng.integers(-1, 2))))
                cnt = int(rng.integers(1, 4))
                gap = self._interval * rng.uniform(0.5, 2.5)
            out.append(EventEntry.model_construct(timestamp=round(self._t, 3), src=src,
                                                  sev=sev, cat=cat, cnt=cnt))
            self._t += gap
        return out


class Event(StreamType):
    name = "event"
    title = "Event streams"
    entry_model = EventEntry
    stats_model = EventStats
    plot = "app.ui.plots.event:EventPlot"
    generator_class = _IncidentGenerator
    csv_aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "src": ("source", "host", "service", "origin"),
        "sev": ("severity", "level", "priority"),
        "cat": ("category", "kind", "event", "type"), "cnt": ("count", "n")}
    role = "an on-call site reliability engineer"
    describe = ("Events: src is the source, sev the severity (0 to 5, 4 and up critical), "
                "cat the category, cnt how many.")
    questions = ("Is there a critical event? Answer yes or no.",
                 "Is one source flooding? Answer yes or no.")
    unit = "events"
    count_label = "entries"  # the count is of entries; "events" is the sum of cnt

    @classmethod
    def _compact_fields(cls, entry: Entry, previous: Entry | None) -> list[str]:
        # "api-gw sev2 timeout x3": the source on every line (a flood is many lines of one
        # source), the category as its own words.
        return [str(entry["src"]), f"sev{entry['sev']}", str(entry["cat"]), f"x{entry['cnt']}"]

    @classmethod
    def _stats(cls, entries: Sequence[Entry]) -> dict[str, Any]:
        per_category: Counter[str] = Counter()
        for e in entries:
            per_category[e["cat"]] += e["cnt"]
        top = per_category.most_common(1)  # first-seen order among ties, as the server
        return {
            "total_event_count": sum(e["cnt"] for e in entries),
            "max_severity": max((e["sev"] for e in entries), default=0),
            "critical_events": sum(1 for e in entries if e["sev"] >= CRITICAL_SEVERITY),
            "unique_sources": len({e["src"] for e in entries}),
            "unique_categories": len(per_category),
            "top_category": top[0][0] if top else "",
            "top_category_count": top[0][1] if top else 0,
        }

    @classmethod
    def _stats_rows(cls, stats: StatsModel) -> list[tuple[str, str]]:
        assert isinstance(stats, EventStats)
        return [
            ("events (sum of cnt)", f"{stats.total_event_count or 0:,}"),
            ("critical (sev ≥ 4)", f"{stats.critical_events or 0:,}"),
            ("max severity", str(stats.max_severity)),
            ("sources / categories", f"{stats.unique_sources} / {stats.unique_categories}"),
            ("top category", f"{stats.top_category} ({stats.top_category_count or 0:,})"),
        ]
