"""Long-range history of a server's figures from Prometheus's HTTP query API.

The dashboard measures live figures itself (app.core.fleet) and forgets them when it
closes; a Prometheus that scrapes the servers (resources/monitoring/prometheus.yml) keeps
hours and days of them. This asks its `/api/v1/query_range` for one figure of one server,
found by `instance` = host:port of the server's URL, as the bundled scrape config names it.

Rates are read from the recording rules of resources/monitoring/rules.yml when Prometheus
has loaded them, otherwise the same expression is evaluated on the raw counters.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

# What the history graph can show: (title, unit, recorded series or None, raw expression).
# `{sel}` is replaced by the label selector of one server.
FIGURES: dict[str, tuple[str, str, str | None, str]] = {
    "tokens_per_s": ("ingest tokens/s", "tokens/s", "layerscale:ingest_tokens:rate1m",
                     "rate(layerscale_ingest_tokens_total{sel}[1m])"),
    "entries_per_s": ("entries processed/s", "entries/s", "layerscale:entries_processed:rate1m",
                      "rate(layerscale_entries_processed_total{sel}[1m])"),
    "drops_per_s": ("drops/s", "entries/s", "layerscale:entries_dropped:rate1m",
                    "rate(layerscale_entries_dropped_total{sel}[1m])"),
    "pushed": ("entries pushed (total)", "entries", None, "layerscale_entries_pushed_total{sel}"),
    "sessions": ("sessions", "sessions", None, "layerscale_sessions{sel}"),
    "queue": ("queue depth", "entries", None, "layerscale_queue_entries{sel}"),
    "flash_p95": ("flash evaluation p95", "s", "layerscale:flash_evaluation_seconds:p95_5m",
                  "histogram_quantile(0.95, sum by (le) "
                  "(rate(layerscale_flash_evaluation_seconds_bucket{sel}[5m])))"),
}
MAX_POINTS = 600  # per query: what a plot of a few hundred pixels can show


class HistoryError(RuntimeError):
    """Prometheus could not be asked, or refused the query (its own words)."""


@dataclass
class Series:
    labels: dict[str, str]
    times: list[float] = field(default_factory=list)  # unix seconds
    values: list[float] = field(default_factory=list)


def instance_of(server_url: str) -> str:
    """host:port of a server URL, as Prometheus labels its target (default ports filled)."""
    parts = urlsplit(server_url if "//" in server_url else f"http://{server_url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def step_for(seconds: float) -> float:
    """A step that keeps a range within MAX_POINTS points (at least 1 s)."""
    return max(1.0, math.ceil(seconds / MAX_POINTS))


class PrometheusHistory:
    def __init__(self, url: str, *, timeout: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"PrometheusHistory({self.url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def query_range(self, promql: str, start: float, end: float,
                          step: float | None = None) -> list[Series]:
        step = step or step_for(end - start)
        # Points fall on start + k * step: start on that grid counted back from `end`, so
        # the newest point is `end` itself and recent activity is never a step away.
        start = end - math.floor((end - start) / step) * step
        try:
            r = await self._http.get("/api/v1/query_range", params={
                "query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}",
                "step": f"{step:g}"})
        except httpx.HTTPError as exc:
            raise HistoryError(f"Prometheus at {self.url} unreachable: "
                               f"{type(exc).__name__}") from None
        try:
            body = r.json()
        except ValueError:
            raise HistoryError(f"Prometheus at {self.url} answered {r.status_code} "
                               "without JSON: is this a Prometheus?") from None
        if r.status_code != 200 or body.get("status") != "success":
            raise HistoryError(f"Prometheus refused the query ({r.status_code}): "
                               f"{body.get('error', 'no reason given')}")
        data = body.get("data") or {}
        out: list[Series] = []
        for item in data.get("result") or []:
            series = Series(dict(item.get("metric") or {}))
            for t, v in item.get("values") or []:
                value = float(v)
                if math.isfinite(value):  # NaN: a quantile with no observations yet
                    series.times.append(float(t))
                    series.values.append(value)
            out.append(series)
        return out

    async def figure(self, server_url: str, figure: str, seconds: float,
                     end: float | None = None) -> Series:
        """One figure of one server over the last `seconds`: the recorded series when
        there is one, else the raw expression. Empty when Prometheus has nothing."""
        _title, _unit, recorded, raw = FIGURES[figure]
        sel = f'{{instance="{instance_of(server_url)}"}}'
        end = time.time() if end is None else end
        start = end - seconds
        if recorded is not None:
            found = await self.query_range(f"{recorded}{sel}", start, end)
            if found and found[0].times:
                return _merged(found)
        return _merged(await self.query_range(raw.replace("{sel}", sel), start, end))


def _merged(found: list[Series]) -> Series:
    """Several series for one instance (e.g. two jobs scraping it): summed per time."""
    if len(found) == 1:
        return found[0]
    total: dict[float, float] = {}
    for s in found:
        for t, v in zip(s.times, s.values, strict=True):
            total[t] = total.get(t, 0.0) + v
    times = sorted(total)
    return Series({}, times, [total[t] for t in times])
