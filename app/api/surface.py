"""One typed surface for the operations both generations have (``await client.surface()``).

Each generation keeps its own resource with its own models (``client.sessions`` for
generation 1, ``client.v2.sessions`` for generation 2); a caller that only needs what
both offer (health, sessions, flash queries, a prompt question, events, the socket)
uses a :class:`Surface` and gets the same models from either. A field one generation
does not have is ``None`` (``context`` on generation 2, ``pending`` on generation 1, ...).
What only one generation offers is read from ``surface.capabilities`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.api.gen2 import Gen2
from app.api.gen2_models import FlashQuery2, Session2
from app.api.generation import Capabilities, Detection, Generation
from app.api.models import FlashQuery, SessionEvent, SessionSummary
from app.api.reconnect import LinkState, ReconnectingSessionStream
from app.api.reconnect_sse import ReconnectingEvents
from app.api.sessions import Sessions
from app.api.streams import Stream
from app.api.transport import NOT_GIVEN, Timeout


@dataclass(frozen=True, slots=True)
class ServerHealth:
    status: str
    ready: bool
    model: str | None = None
    counters: dict[str, int] = field(default_factory=dict)  # gen 2: scheduler counters
    body: dict[str, Any] = field(default_factory=dict)  # the whole answer, as sent


@dataclass(frozen=True, slots=True)
class SessionOverview:
    """One session as a list shows it, from either generation."""

    id: str
    tokens: int
    busy: bool
    created: float
    last_used: float
    context: int | None = None  # gen 1: the session's context size
    cache_usage: float | None = None  # gen 1
    prefix_end: int | None = None  # gen 1
    type: str | None = None  # gen 1 servers may name the stream type
    kv_tokens: int | None = None  # gen 2
    pending: int | None = None  # gen 2: pushed, not ingested
    data_version: int | None = None  # gen 2 (gen 1 only says it on events)
    evicted: int | None = None  # gen 2: entries the window dropped
    window: int | None = None  # gen 2: sliding window in tokens

    @classmethod
    def from_gen1(cls, s: SessionSummary) -> SessionOverview:
        extra = s.model_extra or {}
        stype = getattr(s, "type", None) or extra.get("type")  # SessionState has it
        return cls(id=s.session_id, tokens=s.n_tokens, busy=s.in_use,
                   created=float(s.created_at), last_used=float(s.last_used_at),
                   context=s.context, cache_usage=s.cache_usage, prefix_end=s.prefix_end,
                   type=stype if isinstance(stype, str) and stype else None)

    @classmethod
    def from_gen2(cls, s: Session2) -> SessionOverview:
        return cls(id=s.id, tokens=s.tokens, busy=s.busy, created=float(s.created),
                   last_used=float(s.last_used if s.last_used is not None else s.created),
                   kv_tokens=s.kv_tokens, pending=s.pending, data_version=s.data_version,
                   evicted=s.evicted, window=s.window)


@dataclass(frozen=True, slots=True)
class FlashItem:
    id: int
    query: str
    max_tokens: int
    value: str | None
    data_version: int | None
    confidence: float | None
    evaluated_at: float | None

    @classmethod
    def of(cls, q: FlashQuery | FlashQuery2) -> FlashItem:
        answered = q.has_answer
        return cls(q.id, q.query, q.max_tokens, q.value if answered else None,
                   q.data_version if answered else None, q.confidence if answered else None,
                   q.evaluated_at if answered else None)


@dataclass(frozen=True, slots=True)
class FlashListing:
    queries: list[FlashItem]
    data_version: int


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    finish_reason: str | None
    data_version: int | None
    flash: bool = False


class Surface:
    """The common operations, answered by whichever generation the server speaks."""

    def __init__(self, detection: Detection, gen1: Sessions, gen2: Gen2,
                 gen1_health: Callable[..., Any], gen1_models: Callable[..., Any]) -> None:
        self.detection = detection
        self._s1, self._g2 = gen1, gen2
        self._health1, self._models1 = gen1_health, gen1_models

    @property
    def generation(self) -> Generation:
        return self.detection.generation

    @property
    def capabilities(self) -> Capabilities:
        return self.detection.capabilities

    @property
    def v2(self) -> bool:
        return self.generation is Generation.V2

    # -- server ------------------------------------------------------------------------
    async def health(self, *, timeout: Timeout = NOT_GIVEN) -> ServerHealth:
        """Raises ServiceUnavailableError while loading (both generations)."""
        if self.v2:
            h2 = await self._g2.health(timeout=timeout)
            return ServerHealth(h2.status, h2.status == "ok", None, h2.counters(),
                                h2.model_dump())
        h1 = await self._health1(timeout=timeout)  # a 200: ready (503 raised)
        return ServerHealth(h1.status, True, h1.model, {}, h1.model_dump())

    async def model_name(self, *, timeout: Timeout = NOT_GIVEN) -> str | None:
        listing = await (self._g2.models(timeout=timeout) if self.v2
                         else self._models1(timeout=timeout))
        return listing.data[0].id if listing.data else None

    # -- sessions ----------------------------------------------------------------------
    async def list_sessions(self, *, timeout: Timeout = NOT_GIVEN) -> list[SessionOverview]:
        if self.v2:
            return [SessionOverview.from_gen2(s)
                    for s in (await self._g2.sessions.list(timeout=timeout)).data]
        return [SessionOverview.from_gen1(s)
                for s in (await self._s1.list(timeout=timeout)).sessions]

    async def get_session(self, session_id: str, *,
                          timeout: Timeout = NOT_GIVEN) -> SessionOverview:
        """NotFoundError once the session is gone (both generations)."""
        if self.v2:
            return SessionOverview.from_gen2(
                await self._g2.sessions.get(session_id, timeout=timeout))
        return SessionOverview.from_gen1(await self._s1.get(session_id, timeout=timeout))

    async def delete_session(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> None:
        """Generation 2 answers 409 (ConflictError) while the session is busy."""
        if self.v2:
            await self._g2.sessions.delete(session_id, timeout=timeout)
        else:
            await self._s1.delete(session_id, timeout=timeout)

    # -- flash queries -----------------------------------------------------------------
    async def list_flash(self, session_id: str, *,
                         timeout: Timeout = NOT_GIVEN) -> FlashListing:
        if self.v2:
            l2 = await self._g2.sessions.list_flash(session_id, timeout=timeout)
            return FlashListing([FlashItem.of(q) for q in l2.data], l2.data_version)
        l1 = await self._s1.list_flash(session_id, timeout=timeout)
        return FlashListing([FlashItem.of(q) for q in l1.flash_queries],
                            l1.current_data_version)

    async def add_flash(self, session_id: str, query: str, max_tokens: int | None = None, *,
                        timeout: Timeout = NOT_GIVEN) -> int:
        """The new query's id."""
        if self.v2:
            return (await self._g2.sessions.flash(session_id, query, max_tokens,
                                                  timeout=timeout)).id
        return (await self._s1.flash(session_id, query, max_tokens, timeout=timeout)).id

    async def remove_flash(self, session_id: str, query_id: int, *,
                           timeout: Timeout = NOT_GIVEN) -> int:
        """How many queries remain."""
        if self.v2:
            return (await self._g2.sessions.unflash(session_id, query_id,
                                                    timeout=timeout)).remaining
        return (await self._s1.unflash(session_id, query_id, timeout=timeout)).remaining

    # -- questions and events ----------------------------------------------------------
    async def ask(self, session_id: str, prompt: str, *, max_tokens: int | None = None,
                  timeout: Timeout = NOT_GIVEN) -> Answer:
        """A one-off question over the session's data (``generate``, prompt only)."""
        if self.v2:
            g2 = await self._g2.sessions.generate(session_id, prompt, max_tokens=max_tokens,
                                                  timeout=timeout)
            return Answer(g2.text, g2.finish_reason, g2.data_version, bool(g2.flash))
        g1 = await self._s1.query(session_id, prompt=prompt, max_tokens=max_tokens,
                                  timeout=timeout)
        return Answer(g1.text, g1.finish_reason, g1.data_version, bool(g1.flash))

    def events(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> Stream[SessionEvent]:
        if self.v2:
            return self._g2.sessions.events(session_id, timeout=timeout)
        return self._s1.events(session_id, timeout=timeout)

    def reconnecting_events(self, session_id: str, *,
                            on_state: Callable[[LinkState], Any] | None = None,
                            **kwargs: Any) -> ReconnectingEvents:
        """SSE events that resubscribe after the stream ends or breaks (until the session
        is gone or the key refused); see :mod:`app.api.reconnect_sse`."""
        return ReconnectingEvents(lambda: self.events(session_id), on_state=on_state, **kwargs)

    def reconnecting_stream(self, session_id: str, *,
                            on_state: Callable[[LinkState], Any] | None = None,
                            **kwargs: Any) -> ReconnectingSessionStream:
        """The session WebSocket with reconnects; pushes are typed entries on generation 1
        and text lines on generation 2 (``capabilities.typed_entries``)."""
        if self.v2:
            return self._g2.sessions.reconnecting_stream(session_id, on_state=on_state, **kwargs)
        return self._s1.reconnecting_stream(session_id, on_state=on_state, **kwargs)


__all__ = ["Answer", "FlashItem", "FlashListing", "ServerHealth", "SessionOverview", "Surface"]
