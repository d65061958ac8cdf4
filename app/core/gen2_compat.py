"""The session runner's calls, answered by an API generation-2 server.

The runner (app.core.link) and the query console speak in generation 1's terms: typed
entries, ``stream/status``, ``init`` with a prompt. Against a generation-2 server the
dashboard hands them a :class:`Gen2RunnerClient` instead of the client, whose
``sessions`` answers those same calls with generation-2 routes:

- entries are rendered to text lines here, with the stream type's own ``render`` (the
  registry's, which the bundled server uses too), and pushed as raw text;
- a push_ack's ``pending`` is the queue depth; its ``dropped`` are the server's oldest
  *unprocessed* lines (maybe earlier batches'), reported as a note, never re-sent;
- ``stream/status`` is built from ``GET /v1/sessions/{id}`` (``pending``) and the server's
  own ``total_pushed`` from the last ack (the ledger). Generation 2 has no enqueue counter
  to read after a dropped link, so a batch whose ack was lost counts as not arrived and
  goes out again: nothing is lost; if it had arrived, the next ack's ``total_pushed``
  shows the surplus and a note says how many lines the server got twice;
- create makes the session (id, pre_decode, window in tokens; a window asked for only in
  entries becomes three quarters of the model's context), pushes the spec's prompt as its
  first text and registers the flash queries;
- statistics are not offered (NotOfferedError, shown as "not offered by this server").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.api import LayerScale
from app.api.errors import ConflictError, NotOfferedError
from app.api.gen2_models import FlashQuery2, PushAck2
from app.api.gen2_ws import Gen2SessionSocket, split_lines
from app.api.models import (
    DataUpdatedEvent,
    FlashList,
    FlashQuery,
    GenerateChunk,
    PushAckEvent,
    PushResult,
    SessionEvent,
    SessionInfo,
    StreamStatus,
)
from app.api.reconnect import LinkState, ReconnectingSessionStream
from app.api.streams import Stream
from app.api.ws import ws_url
from app.core.session import SessionSpec
from app.streams import rendering
from app.streams.base import StreamType

log = logging.getLogger(__name__)

Notify = Callable[[str, str], None]  # (text, level) -> a note on the session's view
WINDOW_SHARE = 0.75  # of max_model_len, for a window given in entries only


@dataclass
class Ledger:
    """What one generation-2 session told us about our pushes (shared by its runners)."""

    total_pushed: int = 0  # the server's count, from the last ack
    total_dropped: int = 0
    pending: int = 0
    offset: int = 0  # lines pushed that are not store entries (the prompt)
    twice: int = 0  # lines the server got twice after a lost ack
    known: bool = False  # an ack was seen: later surpluses mean lines that arrived twice
    evicted: int = 0  # entries the window dropped, from the last session read
    previous: dict[str, Any] | None = None  # the last entry rendered (compact lines follow it)

    @property
    def entries(self) -> int:
        """Store entries the server accepted (the runner's enqueue counter)."""
        return max(0, self.total_pushed - self.offset)

    def held(self, pending: int) -> int:
        """Entries the session holds: read (neither waiting nor dropped) minus evicted."""
        return max(0, self.entries - pending - self.total_dropped - self.evicted)

    def ack(self, pushed: int, total_pushed: int, total_dropped: int, pending: int,
            notify: Notify | None) -> None:
        surplus = total_pushed - self.total_pushed - pushed
        new_drops = total_dropped - self.total_dropped if self.known else 0
        self.total_pushed, self.total_dropped, self.pending = total_pushed, total_dropped, pending
        known, self.known = self.known, True
        if surplus > 0 and known:
            self.twice += surplus
            if notify:
                notify(f"{surplus} line(s) reached the server twice: a push whose answer was "
                       "lost when the link dropped was sent again (generation 2 cannot say "
                       "whether it had arrived).", "warning")
        if new_drops > 0 and notify:
            notify(f"The server dropped its {new_drops} oldest unprocessed line(s) "
                   "(its queue overflowed).", "warning")


def render_lines(stream: type[StreamType], entries: Iterable[Any],
                 ledger: Ledger | None = None) -> list[str]:
    """Entries (wire dicts or entry models) as the text lines the bundled server renders
    them to (its compact rendering, app.streams.rendering: each line after the one before,
    the session's last entry kept in its `ledger`)."""
    wires = [dict(e) if isinstance(e, Mapping) else stream.to_wire(e) for e in entries]
    lines = rendering.render_lines(stream.name, wires,
                                   ledger.previous if ledger is not None else None)
    if ledger is not None and wires:
        ledger.previous = wires[-1]
    return lines


class _RenderingSocket(Gen2SessionSocket):
    """The gen-2 socket behind the runner: typed entries in, gen-1-shaped acks out."""

    def __init__(self, *args: Any, stream: type[StreamType], ledger: Ledger,
                 notify: Notify | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stream_type, self._ledger, self._notify = stream, ledger, notify

    async def push(self, entries: Any) -> None:  # type: ignore[override]
        lines = entries if isinstance(entries, str) else render_lines(
            self._stream_type, entries, self._ledger)
        await super().push(lines)

    async def recv(self) -> SessionEvent:
        event = await super().recv()
        if isinstance(event, PushAckEvent) and event.total_pushed is not None:
            self._ledger.ack(event.pushed, event.total_pushed, event.total_dropped or 0,
                             event.pending or 0, self._notify)
            # `dropped` named older lines, not this batch's: nothing of it is to re-send.
            return event.model_copy(update={"dropped": 0, "queue_size": event.pending})
        if isinstance(event, DataUpdatedEvent) and event.data_count is None:
            # Gen 2 says tokens, not entries: the count the status strip shows, from ours.
            return event.model_copy(update={"data_count": self._ledger.held(event.pending or 0)})
        return event


class Gen2CompatSessions:
    """Generation-1 session calls (as the runner makes them) over generation 2."""

    def __init__(self, client: LayerScale, stream: type[StreamType], *,
                 ledgers: dict[str, Ledger], spec: Callable[[], SessionSpec | None],
                 notify: Notify | None = None) -> None:
        self._c = client
        self._s2 = client.v2.sessions
        self._stream = stream
        self._ledgers = ledgers
        self._spec = spec
        self.notify = notify

    def ledger(self, session_id: str) -> Ledger:
        return self._ledgers.setdefault(session_id, Ledger())

    # -- lifecycle ---------------------------------------------------------------------
    async def create(self, type: str, *, prompt: str | None = None,
                     context: int | None = None, window_size: int | None = None,
                     flash: Sequence[Mapping[str, Any]] | None = None,
                     mark_prefix: bool = False, **_: Any) -> SessionInfo:
        """The session with the spec's gen-2 options, its prompt pushed, its queries set.

        ``context`` and ``mark_prefix`` have no generation-2 equivalent (the model's
        context is the limit; there is no prefix to mark) and are not sent.
        """
        spec = self._spec() or SessionSpec(type=type)
        window = spec.window_tokens
        if window is None and (window_size or spec.window_size):
            window = await self._default_window()
        try:
            s = await self._s2.create(id=spec.session_id, pre_decode=spec.pre_decode or None,
                                      window=window)
        except ConflictError:
            if spec.session_id is None:
                raise
            # A recreate while the old id is still held: the server names the new one.
            s = await self._s2.create(pre_decode=spec.pre_decode or None, window=window)
        ledger = self._ledgers[s.id] = Ledger()
        try:
            if prompt:
                ack = await self._s2.push(s.id, [prompt.rstrip("\n") + "\n"])
                ledger.offset = ack.pushed
                ledger.ack(ack.pushed, ack.total_pushed, ack.total_dropped, ack.pending, None)
            for item in flash or ():
                await self._s2.flash(s.id, str(item["query"]), item.get("max_tokens"))
        except BaseException:
            await asyncio.shield(self._delete_quietly(s.id))
            raise
        return SessionInfo(session_id=s.id, type=type, n_tokens=s.tokens,
                           context=context or 0, pos_max=s.tokens, window_size=window_size,
                           flash_queries=len(flash or ()))

    async def _default_window(self) -> int | None:
        """A window asked for in entries (gen 1's unit) but not in tokens: three quarters
        of the model's context, so the session slides instead of filling up."""
        models = (await self._c.v2.models()).data
        limit = models[0].max_model_len if models else None
        return int(limit * WINDOW_SHARE) if limit else None

    async def _delete_quietly(self, session_id: str) -> None:
        try:
            await self._s2.delete(session_id, timeout=10.0)
        except Exception:  # the half-made session expires on its own after an hour
            log.warning("could not delete half-created session %s", session_id)

    async def get(self, session_id: str, **kw: Any) -> Any:
        return await self._s2.get(session_id, **kw)

    async def delete(self, session_id: str, **kw: Any) -> Any:
        result = await self._s2.delete(session_id, **kw)
        self._ledgers.pop(session_id, None)
        return result

    # -- ingest ------------------------------------------------------------------------
    async def push(self, session_id: str, data: Iterable[Any], **kw: Any) -> PushResult:
        lines = render_lines(self._stream, data, self.ledger(session_id))
        acks: list[PushAck2] = []
        for batch in split_lines(lines):
            acks.append(await self._s2.push(session_id, batch, **kw))
        ledger = self.ledger(session_id)
        for ack in acks:
            ledger.ack(ack.pushed, ack.total_pushed, ack.total_dropped, ack.pending, self.notify)
        last = acks[-1]
        return PushResult(pushed=sum(a.pushed for a in acks), dropped=0,
                          queue_size=last.pending, queue_capacity=0,
                          total_enqueued=ledger.entries, total_dropped=last.total_dropped)

    async def stream_status(self, session_id: str, **kw: Any) -> StreamStatus:
        s = await self._s2.get(session_id, **kw)
        ledger = self.ledger(session_id)
        ledger.pending, ledger.evicted = s.pending, s.evicted
        processed = max(0, ledger.entries - s.pending - ledger.total_dropped)
        return StreamStatus.model_validate({
            "type": self._stream.name,
            "streaming": {"initialized": True, "running": True, "error": None,
                          "queue_size": s.pending, "queue_capacity": 0,
                          "window_size": s.window},
            "statistics": {"total_enqueued": ledger.entries,
                           "total_dropped": ledger.total_dropped,
                           "batches_processed": s.data_version,
                           "items_processed": processed,
                           "total_process_time_us": 0, "avg_process_time_us": 0},
            "data": {"initialized": True, "data_count": ledger.held(s.pending),
                     "total_data_tokens": s.data_end, "pos_next": s.tokens},
        })

    async def stats(self, session_id: str, **_: Any) -> Any:
        raise NotOfferedError("per-type statistics")

    # -- flash queries -----------------------------------------------------------------
    async def list_flash(self, session_id: str, **kw: Any) -> FlashList:
        listing = await self._s2.list_flash(session_id, **kw)
        return FlashList(flash_queries=[_as_gen1(q) for q in listing.data],
                         count=len(listing.data), current_data_version=listing.data_version)

    async def flash(self, session_id: str, query: str, max_tokens: int | None = None,
                    **kw: Any) -> FlashQuery2:
        return await self._s2.flash(session_id, query, max_tokens, **kw)

    async def unflash(self, session_id: str, query_id: int, **kw: Any) -> Any:
        return await self._s2.unflash(session_id, query_id, **kw)

    # -- questions ---------------------------------------------------------------------
    def query_stream(self, session_id: str, **kw: Any) -> Stream[GenerateChunk]:
        """The console's streamed question: the client's own (generation-aware) one."""
        return self._c.sessions.query_stream(session_id, **kw)

    # -- link --------------------------------------------------------------------------
    def reconnecting_stream(self, session_id: str, *,
                            on_state: Callable[[LinkState], Any] | None = None,
                            **kw: Any) -> ReconnectingSessionStream:
        t = self._c._transport  # the client's one transport: same key, same redaction
        ledger = self.ledger(session_id)

        def socket() -> _RenderingSocket:
            return _RenderingSocket(
                ws_url(t.base_url, f"/v1/sessions/{_seg(session_id)}/ws"), t.auth_headers(),
                options=self._c.socket_options, redact=t.redact, stream=self._stream,
                ledger=ledger, notify=self.notify)

        return ReconnectingSessionStream(socket, on_state=on_state, **kw)


def _seg(session_id: str) -> str:
    from app.api.transport import path_segment

    return path_segment(session_id, "session_id")


def _as_gen1(q: FlashQuery2) -> FlashQuery:
    return FlashQuery(id=q.id, query=q.query, max_tokens=q.max_tokens, n_tokens=q.tokens,
                      has_answer=q.value is not None, value=q.value or "",
                      data_version=q.data_version, confidence=q.confidence,
                      evaluated_at=q.evaluated_at, fresh=q.fresh)


class Gen2RunnerClient:
    """Stands in for the client in a session runner on a generation-2 server.

    Everything but ``sessions`` is the real client's (``v2``, ``capabilities``, ...).
    """

    def __init__(self, client: LayerScale, sessions: Gen2CompatSessions) -> None:
        self._client = client
        self.sessions = sessions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


__all__ = ["Gen2CompatSessions", "Gen2RunnerClient", "Ledger", "render_lines"]
