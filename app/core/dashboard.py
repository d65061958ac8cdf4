"""The dashboard's state as a whole: one server connection, its sessions, the open views.

Qt-free: the GUI (app.ui) and the tests drive the same object. Every network call
runs as an asyncio task on whatever loop is current (qasync's in the GUI).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.api import LayerScale, LayerScaleError
from app.api.generation import Generation
from app.core import per_generation
from app.core.archive import ArchivedSession, SessionArchive, SessionJournal
from app.core.gen2_compat import Ledger
from app.core.link import SessionRunner
from app.core.problems import Problem, diagnose
from app.core.server import Banner, ServerMonitor, ServerState, cancel_quietly
from app.core.session import Mode, SessionModel, SessionSpec
from app.core.sessions import SessionsStore
from app.feeds.base import Feed
from app.feeds.resume import feed_from_recipe
from app.streams import registry

log = logging.getLogger(__name__)

ClientFactory = Callable[[str, str | None], LayerScale]
KeyLookup = Callable[[str], Awaitable[str | None]]


def default_client(url: str, key: str | None) -> LayerScale:
    # Short timeouts: the dashboard polls, and a hung call must turn into a banner soon.
    return LayerScale(url, api_key=key, timeout=15.0)


@dataclass
class OpenSession:
    model: SessionModel
    runner: SessionRunner
    task: asyncio.Task[None]


class Dashboard:
    def __init__(
        self,
        url: str,
        *,
        key: str | None = None,
        client_factory: ClientFactory = default_client,
        poll_interval: float = 1.5,
        key_lookup: KeyLookup | None = None,
        archive: SessionArchive | None = None,
    ) -> None:
        self.client_factory = client_factory
        # Asked again whenever the server refuses the key, so a key the user stores (or
        # fixes) meanwhile is picked up without reconnecting by hand.
        self.key_lookup = key_lookup
        self._key_task: asyncio.Task[None] | None = None
        self.poll_interval = poll_interval
        self.url = url
        self._key = key
        self.server = ServerState(url)
        self.sessions = SessionsStore()
        self.client: LayerScale | None = None
        self.monitor: ServerMonitor | None = None
        self._monitor_task: asyncio.Task[None] | None = None
        self.open: list[OpenSession] = []
        self._ledgers: dict[str, Ledger] = {}  # gen 2: what each session acked (gen2_compat)
        self._regen_task: asyncio.Task[None] | None = None
        # Sessions this dashboard creates are kept here so a restart re-adopts them (None:
        # nothing kept, as in most tests).
        self.archive = archive
        self.archived_by_id: dict[str, ArchivedSession] = {}
        self.version = 0  # bumps when the set of open sessions changes

    @property
    def has_key(self) -> bool:
        return bool(self._key)

    def set_key(self, key: str | None) -> None:
        """The licence key for the next start(): looked up off the GUI thread by the caller."""
        self._key = key

    def __repr__(self) -> str:  # never shows the key
        return f"Dashboard(url={self.url!r}, open={len(self.open)})"

    # ------------------------------------------------------------------ connection
    def start(self) -> None:
        """Create the client and start polling (call from a running loop)."""
        self.client = self.client_factory(self.url, self._key)
        self.monitor = ServerMonitor(self.client, self.server, self.sessions, self.poll_interval,
                                     on_problem=self._on_problem,
                                     on_generation=self._generation_changed)
        self._monitor_task = asyncio.ensure_future(self.monitor.run())

    async def connect(self, url: str, key: str | None = None) -> None:
        """Switch to another server: closes every open session view first."""
        await self.stop()
        self.url, self._key = url, key
        self.server = ServerState(url)
        self.sessions = SessionsStore()
        self.version += 1
        self.start()

    def _on_problem(self, banner: Banner) -> None:
        if banner.problem is Problem.AUTH and self.key_lookup is not None and (
                self._key_task is None or self._key_task.done()):
            self._key_task = asyncio.ensure_future(self._recheck_key())

    async def _recheck_key(self) -> None:
        assert self.key_lookup is not None
        try:
            key = await self.key_lookup(self.url)
        except Exception as exc:  # an unusable keyring: the banner already says what to do
            log.info("key lookup failed: %s", type(exc).__name__)
            return
        if key != self._key:
            await self.use_key(key)

    async def use_key(self, key: str | None) -> None:
        """Talk to the same server with another key; open session views stay open."""
        self._key = key
        old, self.client = self.client, self.client_factory(self.url, key)
        if self.monitor is not None:
            self.monitor.client = self.client
            self.monitor.poke()
        for item in self.open:  # their next (re)connect uses the new key
            item.runner.client = self.runner_client(item.model)
        if old is not None:
            with contextlib.suppress(Exception):
                await old.aclose()

    async def stop(self) -> None:
        await cancel_quietly(self._key_task)
        for item in list(self.open):
            await self.close_session(item.model)
        await cancel_quietly(self._monitor_task)
        self._monitor_task = None
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.aclose()
            self.client = None

    def poke(self) -> None:
        if self.monitor is not None:
            self.monitor.poke()

    # ------------------------------------------------------------------ API generation
    @property
    def generation(self) -> Generation | None:
        return self.server.generation

    def runner_client(self, model: SessionModel) -> Any:
        """The client a session's runner talks to (generation 2: its routes, in gen-1 calls)."""
        return per_generation.runner_client(self.client, model, self._ledgers)

    def _generation_changed(self, generation: Generation) -> None:
        """The server at this URL now speaks another generation (restarted): the open views'
        runners speak the old one, so they are closed; the list refills by itself."""
        log.info("server now speaks %s: closing %d open view(s)", generation.label,
                 len(self.open))
        models = [item.model for item in self.open]
        for m in models:
            m.note(f"The server now speaks {generation.label}: reopen this session.", "warning")
        self._regen_task = asyncio.ensure_future(self._close_models(models))

    async def _close_models(self, models: list[SessionModel]) -> None:
        for m in models:
            await self.close_session(m)

    # ------------------------------------------------------------------ sessions
    def find(self, session_id: str) -> OpenSession | None:
        return next((o for o in self.open if o.model.session_id == session_id), None)

    def _open_model(self, model: SessionModel, journal: SessionJournal | None = None,
                    accepted: int = 0) -> SessionModel:
        runner = SessionRunner(self.runner_client(model), model, on_session_id=self._renamed,
                               journal=journal, accepted=accepted)
        task = asyncio.ensure_future(runner.run())
        self.open.append(OpenSession(model, runner, task))
        self.version += 1
        return model

    def _renamed(self, old: str, new: str) -> None:
        if old in self.sessions.known_types:
            self.sessions.known_types[new] = self.sessions.known_types[old]
        self.version += 1
        self.poke()

    async def create_session(self, spec: SessionSpec, *, open_view: bool = True) -> SessionModel:
        info = await per_generation.create_session(self.client, spec, self._ledgers)
        sid = info.session_id
        self.sessions.known_types[sid] = spec.type
        self.poke()
        model = SessionModel(sid, spec.type, mode=Mode.OWNED, spec=spec)
        journal = None
        if self.archive is not None:
            key = await self.archive.call(self.archive.remember, self.url, sid, spec.type,
                                          spec.to_dict())
            journal = SessionJournal(self.archive, key, 0)
        return self._open_model(model, journal) if open_view else model

    def open_session(self, session_id: str, type_: str | None = None) -> SessionModel:
        """Open a view of a session (ours if we created it in this run, else observe)."""
        existing = self.find(session_id)
        if existing is not None:
            return existing.model
        row = self.sessions.rows.get(session_id)
        stype = type_ or (row.type if row else None) or registry.DEFAULT
        return self._open_model(SessionModel(session_id, stype, mode=Mode.EXTERNAL))

    def type_known(self, session_id: str) -> bool:
        """Whether a session's stream type is known here (the listing reads types a few
        rows per poll; a view opened before would draw the wrong plot)."""
        row = self.sessions.rows.get(session_id)
        return (self.find(session_id) is not None or session_id in self.sessions.known_types
                or (row is not None and row.type is not None))

    async def open_session_typed(self, session_id: str) -> SessionModel:
        """`open_session`, asking the server for the session's type first if unknown."""
        type_ = self.sessions.known_types.get(session_id)
        if not self.type_known(session_id):
            type_ = (await (await self.client.surface()).get_session(session_id)).type
        return self.open_session(session_id, type_)

    async def close_session(self, model: SessionModel) -> None:
        """Stop a session's link (idempotent: a tab closed while the dashboard switches
        servers is closed once)."""
        item = next((o for o in self.open if o.model is model), None)
        if item is None:
            return
        model.closed_by_user = True
        self.open.remove(item)  # before awaiting: a second caller finds nothing to do
        self.version += 1
        await cancel_quietly(item.task)

    async def delete_session(self, session_id: str) -> None:
        item = self.find(session_id)
        if item is not None:
            await self.close_session(item.model)
        # Generation 2 refuses (409) while a request runs on it: tried again for a while.
        await per_generation.delete_session(self.client, session_id)
        self.sessions.known_types.pop(session_id, None)
        if item is not None and item.runner.journal is not None:
            item.runner.journal.forget()
        elif self.archive is not None:
            for kept in await self.archive.call(self.archive.sessions, self.url):
                if kept.session_id == session_id:
                    self.archive.post(self.archive.forget, kept.key)
        self.poke()

    # ------------------------------------------------------------------ re-adoption
    async def archived(self) -> list[ArchivedSession]:
        """Sessions this dashboard created on this server, as kept on disk (also cached in
        `archived_by_id`, so opening one from the sessions list adopts it)."""
        if self.archive is None:
            return []
        kept = await self.archive.call(self.archive.sessions, self.url)
        self.archived_by_id = {k.session_id: k for k in kept}
        return kept

    async def reopen(self, wanted: list[str], timeout: float = 60.0) -> list[SessionModel]:
        """Open the sessions `wanted` (the tabs of the last run), in order: ours are
        re-adopted (a session the server lost is recreated by its runner), others opened
        if the server still has them. Ours that are neither on the server nor wanted are
        forgotten."""
        kept = await self.archived()
        listed = await self._listed_ids(timeout)
        models = []
        for sid in wanted:
            if sid in self.archived_by_id:
                models.append(await self.adopt(self.archived_by_id[sid]))
            elif listed is not None and sid in listed:
                models.append(self.open_session(sid))
        if listed is not None and self.archive is not None:
            for k in kept:
                if k.session_id not in listed and k.session_id not in wanted:
                    self.archive.post(self.archive.forget, k.key)
                    self.archived_by_id.pop(k.session_id, None)
        return models

    async def _listed_ids(self, timeout: float) -> set[str] | None:
        """The server's session ids, asked until it answers or `timeout` passes."""
        # The monitor lists them (either generation); wait for its first listing.
        deadline = asyncio.get_running_loop().time() + timeout
        self.poke()
        while not self.sessions.polls:
            if asyncio.get_running_loop().time() > deadline:
                log.info("sessions not listed in %.0f s: nothing re-adopted", timeout)
                return None
            await asyncio.sleep(0.1)
        return set(self.sessions.rows)

    async def adopt(self, kept: ArchivedSession) -> SessionModel:
        """Open a session created by an earlier run of the dashboard as our own: its
        drawn history from disk, its feed resumed where the server's count says it got to.

        Entries the server acknowledged but the dying dashboard never wrote down are
        played again from the feed (same file or seed, so the same entries) and drawn
        without being sent twice."""
        assert self.archive is not None
        existing = self.find(kept.session_id)
        if existing is not None:
            return existing.model
        spec = SessionSpec.from_dict(kept.spec)
        model = SessionModel(kept.session_id, kept.type, mode=Mode.OWNED, spec=spec)
        stream = model.stream
        # Read and parsed on the archive's thread: a long history must not hold the GUI.
        stored = await self.archive.call(self.archive.entries, kept.key, stream.from_wire)
        model.store.extend(stored)
        end_seq = kept.first_seq + len(stored)
        journal = SessionJournal(self.archive, kept.key, end_seq)
        accepted = 0
        on_server = True
        try:
            status = await self.runner_client(model).sessions.stream_status(kept.session_id)
            accepted = status.statistics.total_enqueued
        except LayerScaleError as exc:
            on_server = diagnose(exc).problem is not Problem.NOT_FOUND
            # gone: the runner recreates it from the spec and re-sends the window
        feed = None
        extra: list[Any] = []
        if kept.feed is not None:
            try:
                feed = await feed_from_recipe(kept.feed, float(kept.feed.get("speed") or 1.0))
            except (OSError, ValueError) as exc:
                model.note(f"The feed could not be resumed: {exc}", "warning")
            else:
                # The feed already delivered what the journal holds since its start, and
                # the server may hold more than was written down before the crash.
                journaled = max(0, end_seq - kept.server_start)
                unseen = max(0, accepted - journaled) if on_server else 0
                # Generating or reading past what was played is CPU work: off the GUI loop.
                await asyncio.to_thread(feed.skip, max(0, end_seq - kept.feed_start))
                extra = await asyncio.to_thread(feed.skip, unseen)
        if extra:
            model.store.extend(extra)
            journal.record([stream.to_wire(e) for e in extra])
        self._open_model(model, journal, accepted if on_server else 0)
        self.sessions.known_types[kept.session_id] = kept.type
        model.note(f"Re-adopted from the last run: {len(model.store):,} {stream.unit} "
                   "redrawn" + (f", {len(extra)} recovered from the feed" if extra else "")
                   + ("; the feed resumes." if feed is not None else "."))
        if feed is not None:
            name = str((kept.feed or {}).get("name") or feed.kind)
            self.attach_feed(model, feed, name)
        return model

    def attach_feed(self, model: SessionModel, feed: Feed, name: str) -> None:
        item = next(o for o in self.open if o.model is model)
        item.runner.attach_feed(feed, name)

    def runner_for(self, model: SessionModel) -> SessionRunner:
        return next(o.runner for o in self.open if o.model is model)

