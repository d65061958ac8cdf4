"""Alerts sent as an HTTP POST to a URL the user gives (runs on the asyncio loop).

The body is one JSON object per alert (README, "Alert webhook"):

    {"type": "layerscale.alert", "version": 1, "seq": 3, "session_id": "...",
     "query_id": 1, "query": "Is the trend bullish?",
     "rule": {"id": 2, "kind": "flip", "level": 0.8, "answer": "yes", "direction": "either",
              "text": "answer flips"},
     "bar": {"timestamp": 1709546400.0, "close": 152.31},
     "answer": {"value": "No", "key": "no", "p": 0.73, "confidence": 0.99, "data_version": 41},
     "previous": {"value": "Yes", ...} | null,
     "message": "...", "fired_at": 1709546461.2}

A 2xx answer delivers it. Connection failures, timeouts, 408, 429 and 5xx are tried
again with capped exponential backoff (ATTEMPTS tries in all); any other status is
final. Each alert's `deliveries["webhook"]` says how it went, in words the alert
log shows (never the URL's credentials: only the host is named).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.core.alerts import Alert
from app.core.server import backoff
from app.core.signals import Signal

log = logging.getLogger(__name__)

__all__ = ["ATTEMPTS", "WebhookSender", "body", "check_url"]

ATTEMPTS = 4
TIMEOUT = 5.0
RETRY_STATUS = frozenset({408, 425, 429})


def check_url(url: str) -> str:
    """The URL as given if it can be posted to, else ValueError saying why."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"a webhook URL starts with http:// or https://, not {url[:20]!r}")
    if not parts.hostname:
        raise ValueError("the webhook URL has no host")
    return url


def _answer(s: Signal | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"value": s.value, "key": s.key, "p": round(s.p, 6), "confidence": s.gap,
            "data_version": s.data_version, "candle_timestamp": s.candle_ts}


def body(alert: Alert, session_id: str = "") -> dict[str, Any]:
    r = alert.rule
    return {
        "type": "layerscale.alert", "version": 1, "seq": alert.seq, "session_id": session_id,
        "query_id": r.query_id, "query": alert.query,
        "rule": {"id": r.id, "kind": r.kind, "level": r.level, "answer": r.answer,
                 "direction": r.direction, "text": r.describe()},
        "bar": {"timestamp": alert.bar_ts, "close": alert.close},
        "answer": _answer(alert.signal), "previous": _answer(alert.before),
        "message": alert.message, "fired_at": alert.fired_at,
    }


class WebhookSender:
    """Posts alerts to `url`; use as an AlertEngine sink (`sender.submit`)."""

    def __init__(self, url: str, session_id: str = "", *, attempts: int = ATTEMPTS,
                 base_delay: float = 0.5, on_change: Any = None) -> None:
        self.url = check_url(url)
        self.host = urlsplit(self.url).hostname or ""
        self.session_id = session_id
        self.attempts = max(1, int(attempts))
        self.base_delay = base_delay
        self.on_change = on_change  # called after each delivery state change (a view's dirty flag)
        self._client = httpx.AsyncClient(timeout=TIMEOUT)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, alert: Alert) -> None:
        alert.deliveries["webhook"] = f"sending to {self.host}"
        task = asyncio.ensure_future(self.deliver(alert))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, alert: Alert) -> bool:
        payload = body(alert, self.session_id)
        why = ""
        for attempt in range(1, self.attempts + 1):
            try:
                resp = await self._client.post(self.url, json=payload)
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if 200 <= resp.status_code < 300:
                    alert.deliveries["webhook"] = (
                        f"delivered to {self.host} (HTTP {resp.status_code}"
                        + (f", try {attempt})" if attempt > 1 else ")"))
                    self._changed()
                    return True
                why = f"HTTP {resp.status_code}"
                if resp.status_code < 500 and resp.status_code not in RETRY_STATUS:
                    break  # the server said no for good (bad URL, auth): trying again won't help
            if attempt < self.attempts:
                delay = backoff(attempt, base=self.base_delay, cap=10.0)
                alert.deliveries["webhook"] = (f"{why}; try {attempt + 1} of {self.attempts} "
                                               f"in {delay:.1f} s")
                self._changed()
                await asyncio.sleep(delay)  # backoff between tries, not synchronisation
        alert.deliveries["webhook"] = f"failed: {why} ({self.host}, {attempt} tries)"
        log.info("webhook for alert %d failed: %s", alert.seq, why)
        self._changed()
        return False

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    async def drain(self) -> None:
        """Wait for every delivery under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._client.aclose()
