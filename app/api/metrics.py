"""``GET /metrics`` (generation 2): Prometheus text read with prometheus_client's parser.

The exposition format has escaping, labels, comments and histogram suffixes; a kept
parser reads it the way Prometheus itself does, so nothing here parses it by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from app.api.errors import ProtocolError


@dataclass(frozen=True)
class Metrics:
    """The families of one scrape, by name; ``value()`` reads one sample."""

    families: dict[str, Metric] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Metrics:
        try:
            families = {f.name: f for f in text_string_to_metric_families(text)}
        except (ValueError, TypeError, IndexError) as exc:
            raise ProtocolError(f"/metrics is not Prometheus text: {exc}") from None
        return cls(families)

    def __len__(self) -> int:
        return len(self.families)

    def names(self) -> list[str]:
        return sorted(self.families)

    def value(self, sample: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The value of sample ``sample`` (e.g. ``x_total``) whose labels include ``labels``."""
        want = dict(labels or {})
        for family in self.families.values():
            for s in family.samples:
                if s.name == sample and all(s.labels.get(k) == v for k, v in want.items()):
                    return float(s.value)
        return None

    def scalars(self) -> dict[str, float]:
        """Every unlabelled sample by name (counters, gauges): what an operator panel lists."""
        out: dict[str, float] = {}
        for family in self.families.values():
            for s in family.samples:
                if not s.labels and not s.name.endswith(("_created", "_bucket")):
                    out[s.name] = float(s.value)
        return out


__all__ = ["Metrics"]
