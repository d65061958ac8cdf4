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

from app.api import LayerScale
from app.api.generation import Generation
from app.core import per_generation
from app.core.gen2_compat import Ledger
from app.core.link import SessionRunner
from app.core.problems import Problem
from app.core.server import Banner, ServerMonitor, ServerState, cancel_quietly
from app.core.session import Mode, SessionModel, SessionSpec
from app.core.sessions import SessionsStore
from app.feeds.base import Feed
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

    def _open_model(self, model: SessionModel) -> SessionModel:
        runner = SessionRunner(self.runner_client(model), model, on_session_id=self._renamed)
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
        return self._open_model(model) if open_view else model

    def open_session(self, session_id: str, type_: str | None = None) -> SessionModel:
        """Open a view of a session (ours if we created it in this run, else observe)."""
        existing = self.find(session_id)
        if existing is not None:
            return existing.model
        row = self.sessions.rows.get(session_id)
        stype = type_ or (row.type if row else None) or registry.DEFAULT
        return self._open_model(SessionModel(session_id, stype, mode=Mode.EXTERNAL))

    async def close_session(self, model: SessionModel) -> None:
        item = next((o for o in self.open if o.model is model), None)
        if item is None:
            return
        model.closed_by_user = True
        await cancel_quietly(item.task)
        self.open.remove(item)
        self.version += 1

    async def delete_session(self, session_id: str) -> None:
        item = self.find(session_id)
        if item is not None:
            await self.close_session(item.model)
        # Generation 2 refuses (409) while a request runs on it: tried again for a while.
        await per_generation.delete_session(self.client, session_id)
        self.sessions.known_types.pop(session_id, None)
        self.poke()

    def attach_feed(self, model: SessionModel, feed: Feed, name: str) -> None:
        item = next(o for o in self.open if o.model is model)
        item.runner.attach_feed(feed, name)

    def runner_for(self, model: SessionModel) -> SessionRunner:
        return next(o.runner for o in self.open if o.model is model)
