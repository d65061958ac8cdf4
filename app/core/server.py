"""What the dashboard knows about the server it is connected to, and the poll loop.

One loop (`ServerMonitor.run`) checks health and the model list until the server
is usable, then lists sessions every `interval` seconds. Any failure turns into a
banner (unreachable / key rejected / loading / error) and a retry with capped
exponential backoff; the banner clears by itself on the first success, so the
user never has to press anything when the cause goes away.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.api.errors import LayerScaleError
from app.api.generation import Capabilities, Detection, Generation
from app.core.problems import Diagnosis, Problem, diagnose
from app.core.sessions import SessionsStore

if TYPE_CHECKING:
    from app.api.surface import Surface

log = logging.getLogger(__name__)


def seconds_until(deadline: float | None, now: float | None = None) -> float | None:
    """Seconds from `now` (monotonic) to `deadline`, never negative; None without one."""
    if deadline is None:
        return None
    return max(0.0, deadline - (time.monotonic() if now is None else now))


@dataclass(frozen=True, slots=True)
class Banner:
    problem: Problem
    title: str
    detail: str


def banner_for(d: Diagnosis, url: str) -> Banner:
    if d.problem is Problem.UNREACHABLE:
        return Banner(d.problem, f"Server unreachable at {url}", d.message)
    if d.problem is Problem.AUTH:
        what = "missing or invalid" if d.status == 401 else "not allowed (expired?)"
        return Banner(
            d.problem,
            f"Licence key rejected ({d.status}): key {what}",
            "Set the key for this server (Server > Licence keys, or LAYERSCALE_LICENSE_KEY). "
            + d.message,
        )
    if d.problem is Problem.LOADING:
        return Banner(d.problem, "Server is starting: model still loading (503)", d.message)
    return Banner(d.problem, f"Server error{f' ({d.status})' if d.status else ''}", d.message)


class ServerState:
    """Connection status, health and model of the current server. Bumps `version` on change."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.status = "connecting"  # connecting | ok | problem
        self.banner: Banner | None = None
        self.model: str | None = None
        self.health: dict[str, Any] = {}
        self.retry_at: float | None = None  # monotonic time of the next attempt while failing
        self.last_ok: float | None = None
        self.failures = 0
        self.version = 0
        # API generation (app.api.generation), found with GETs once per connection.
        self.generation: Generation | None = None
        self.capabilities: Capabilities | None = None
        self.detection: str = ""  # how it was told, for the server's details
        self.counters: dict[str, int] = {}  # gen 2: /health's scheduler counters
        self.metrics: dict[str, float] = {}  # gen 2: /metrics' unlabelled samples
        self.metrics_error: str | None = None
        self.context_limit: int | None = None  # gen 2: the model's max_model_len

    def generation_label(self) -> str:
        """"API gen 2", or "" before the first detection (for the status bar)."""
        return self.generation.label if self.generation is not None else ""

    def set_generation(self, detection: Detection) -> bool:
        """Record the server's generation; True when it changed from a known other one."""
        changed = self.generation is not None and self.generation is not detection.generation
        if self.generation is not detection.generation:
            self.version += 1
        self.generation = detection.generation
        self.capabilities = detection.capabilities
        self.detection = f"{detection.evidence} ({'; '.join(detection.probes)})"
        return changed

    def details(self) -> list[tuple[str, str]]:
        """(label, value) rows for a server-details view: generation, what it offers."""
        rows = [("server", self.url), ("model", self.model or "?")]
        if self.generation is not None and self.capabilities is not None:
            rows.append(("API", f"{self.generation.label}: {self.detection}"))
            offered = [name for name, yes in self.capabilities.describe() if yes]
            missing = [name for name, yes in self.capabilities.describe() if not yes]
            rows.append(("offers", ", ".join(offered) or "-"))
            rows.append(("not offered", ", ".join(missing) or "-"))
        if self.counters:
            rows.append(("counters", ", ".join(f"{k} {v:,}" for k, v in self.counters.items())))
        if self.metrics:
            rows.append(("metrics", f"{len(self.metrics)} samples"))
        elif self.metrics_error:
            rows.append(("metrics", self.metrics_error))
        return rows

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def retry_in(self, now: float | None = None) -> float | None:
        return seconds_until(self.retry_at, now)

    def set_ok(self, model: str | None = None, health: dict[str, Any] | None = None) -> None:
        changed = not self.ok or (model is not None and model != self.model)
        self.status, self.banner, self.retry_at, self.failures = "ok", None, None, 0
        if model is not None:
            self.model = model
        if health is not None:
            self.health = health
        self.last_ok = time.time()
        if changed:
            self.version += 1

    def set_problem(self, exc: BaseException, retry_in: float | None) -> Banner:
        banner = banner_for(diagnose(exc), self.url)
        self.status, self.banner = "problem", banner
        self.failures += 1
        self.retry_at = None if retry_in is None else time.monotonic() + retry_in
        self.version += 1
        return banner


async def sleep_or_wake(event: asyncio.Event, delay: float) -> None:
    """Wait `delay` seconds or until `event` is set.

    Not asyncio.wait_for: cancelling a wait_for cancels and then *awaits* its inner task,
    which under qasync was seen to hang a shutdown for good.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=delay)
    finally:
        waiter.cancel()


async def cancel_quietly(task: asyncio.Task[Any] | None, grace: float = 2.0) -> None:
    """Cancel `task` and give it `grace` seconds to finish; never hangs the caller."""
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait({task}, timeout=grace)


def backoff(failures: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Capped exponential backoff with jitter (failures >= 1)."""
    delay = min(cap, base * 2 ** max(0, failures - 1))
    return delay * random.uniform(0.8, 1.2)


class ServerMonitor:
    def __init__(
        self,
        client: Any,
        state: ServerState,
        sessions: SessionsStore,
        interval: float = 1.5,
        health_every: float = 10.0,
        on_problem: Callable[[Banner], None] | None = None,
        on_generation: Callable[[Generation], None] | None = None,
    ) -> None:
        self.client = client
        self.on_problem = on_problem  # e.g. look the licence key up again after a 401/403
        # The server now speaks another generation (restarted with another --api).
        self.on_generation = on_generation
        self.surface: Surface | None = None
        self.state = state
        self.sessions = sessions
        self.interval = interval
        self.health_every = health_every
        self._wake = asyncio.Event()
        self._last_health = 0.0

    def poke(self) -> None:
        """Poll now (after a create/delete, or a user's Retry)."""
        self._wake.set()

    async def _surface(self) -> Surface:
        """The client's surface for this server; detection runs once per connection (the
        client forgets it when a request cannot reach the server, so a reconnect probes
        again, with GETs only)."""
        surface = await self.client.surface()
        if self.state.set_generation(surface.detection) and self.on_generation is not None:
            self.on_generation(surface.generation)
        self.surface = surface
        return surface

    async def check_health(self) -> None:
        surface = await self._surface()
        health = await surface.health()
        model = health.model
        if model is None:  # only the local gen-1 server names its model in its health
            model = await surface.model_name()
        if surface.v2:
            self.state.counters = health.counters
            self.state.context_limit = await self._context_limit()
            await self._read_metrics()
        self.state.set_ok(model=model, health=health.body)
        self._last_health = time.monotonic()

    async def _context_limit(self) -> int | None:
        listing = await self.client.v2.models()
        return listing.data[0].max_model_len if listing.data else None

    async def _read_metrics(self) -> None:
        """/metrics feeds the operator's figures; a failure there is no banner."""
        try:
            self.state.metrics = (await self.client.v2.metrics()).scalars()
            self.state.metrics_error = None
        except LayerScaleError as exc:
            self.state.metrics_error = diagnose(exc).message

    async def poll_once(self) -> None:
        surface = await self._surface()
        if not self.state.ok or time.monotonic() - self._last_health > self.health_every:
            await self.check_health()
        rows = await surface.list_sessions()
        # health is not authenticated; listing sessions is what proves the key works
        self.state.set_ok()
        await self.sessions.apply_surface(rows, surface, context=self.state.context_limit)

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
                delay = self.interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure becomes a banner, never a crash
                delay = backoff(self.state.failures + 1)
                banner = self.state.set_problem(exc, delay)
                log.info("server poll failed: %s", banner.title)
                if self.on_problem is not None:
                    self.on_problem(banner)
            self._wake.clear()
            await sleep_or_wake(self._wake, delay)
