"""What generation 2 keeps beside the shared ServerState: per-session extras (the fields gen 1
has no use for), the server's counters for /health, and the Session object's public view."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from starlette.requests import HTTPConnection

from ..errors import APIError
from ..sessions import Session
from ..state import ServerState

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Extra:
    pre_decode: bool = False
    window: int | None = None
    turns: int = 0
    push_dropped: int = 0  # entries the full queue dropped (oldest first)
    subscribers: int = 0  # open event streams and sockets: they hold off expiry


@dataclass
class Counters:
    """The /health counters this server can fill honestly (PROTOCOL-2 lists more; the rest
    describe a paged, batching GPU scheduler this CPU server does not have)."""

    queued: int = 0  # foreground model jobs waiting for the worker
    running: int = 0  # foreground model jobs on the worker (0 or 1: one worker thread)
    connections: int = 0  # open event streams and WebSockets
    requests_started: int = 0
    requests_ok: int = 0
    requests_failed: int = 0
    requests_cancelled: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    session_turns: int = 0
    session_cached_tokens: int = 0
    session_warm_turns: int = 0
    session_warmed_tokens: int = 0
    session_flash_hits: int = 0
    session_ready_exits: int = 0


class Gen2:
    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.extras: dict[str, Extra] = {}
        self.counters = Counters()
        self._lock = threading.Lock()

    def extra(self, session: Session) -> Extra:
        return self.extras.setdefault(session.id, Extra())

    def forget(self, session: Session) -> None:
        self.extras.pop(session.id, None)

    def tracked(self, fn: Callable[P, T]) -> Callable[P, T]:
        """Count a foreground model job as queued until the worker starts it, then running.
        Call it where the job is handed to the worker: it is counted as queued from here."""
        c = self.counters
        with self._lock:
            c.queued += 1

        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            with self._lock:  # the worker thread and the event loop both count
                c.queued -= 1
                c.running += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    c.running -= 1
        return run

    @contextmanager
    def request(self) -> Iterator[None]:
        """A generation request (chat, messages, generate, warm) from start to end."""
        c = self.counters
        c.requests_started += 1
        try:
            yield
        except APIError as exc:
            if exc.status == 499:
                c.requests_cancelled += 1
            else:
                c.requests_failed += 1
            raise
        except Exception:
            c.requests_failed += 1
            raise
        except BaseException:  # cancelled, or a stream closed by its client
            c.requests_cancelled += 1
            raise
        c.requests_ok += 1


def gen2_of(conn: HTTPConnection) -> Gen2:
    return conn.app.state.gen2  # type: ignore[no-any-return]


def session_of(conn: HTTPConnection, session_id: str | None = None) -> tuple[Gen2, Session]:
    g = gen2_of(conn)
    g.server.require_engine()
    sid = session_id if session_id is not None else conn.path_params["session_id"]
    return g, g.server.sessions().get(sid)


def pending_bytes(session: Session) -> int:
    return sum(len(e.get("text", "").encode("utf-8")) for e in session.ring)


def evicted(session: Session, extra: Extra) -> int:
    """Entries that entered the data region and have left it (slid out of the window, or
    skipped because they would have slid out at once): processed, not dropped, not held."""
    c = session.counters
    processing_drops = c.total_dropped - extra.push_dropped
    return max(0, c.items_processed - processing_drops - session.data_count)


def session_view(session: Session, extra: Extra, last_used: float | None = None
                 ) -> dict[str, Any]:
    # Every token this server holds is KV-resident, and a generate's tail is rolled back
    # as soon as it ends, so tokens == kv_tokens == data_end outside a running request.
    out: dict[str, Any] = {
        "id": session.id,
        "object": "session",
        "created": int(session.created_at),
        "last_used": int(last_used if last_used is not None else session.last_used_at),
        "tokens": session.n_tokens,
        "kv_tokens": session.n_tokens,
        "busy": session.in_use > 0,
        "turns": extra.turns,
        "data_end": session.n_tokens,
        "data_version": session.data_version,
        "pending": len(session.ring),
        "pre_decode": extra.pre_decode,
        "ready": False,  # no ready-position cache in this server
        "evicted": evicted(session, extra),
    }
    if extra.window is not None:
        out["window"] = extra.window
    return out


def idle_for(session: Session, extra: Extra, now: float | None = None) -> float | None:
    """Seconds unused, or None when something holds the session (a request, pending data,
    an open event stream)."""
    if session.in_use or session.ring or extra.subscribers:
        return None
    return (now or time.time()) - session.last_used_at
