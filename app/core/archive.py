"""Sessions this dashboard created, kept on disk so a restart re-adopts them.

One SQLite file under the user's data folder: a row per session (server URL, id, stream
type, the spec it was created from, the feed that was playing) and the entries the
server acknowledged, in order, as their wire JSON. SQLite in WAL mode commits each batch
as one transaction, so a dashboard killed mid-write leaves the last whole batch, never
half of one.

All work runs on one thread of its own (writes in submission order); the asyncio side
only submits. Bounded: at most MAX_ENTRIES per session (the oldest go first) and
MAX_SESSIONS sessions (the least recently used go first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from app.paths import APP_NAME

log = logging.getLogger(__name__)

MAX_ENTRIES = 250_000
MAX_SESSIONS = 64
PRUNE_EVERY = 4096  # entries appended between two trims of a session

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    server TEXT NOT NULL,
    session_id TEXT NOT NULL,
    type TEXT NOT NULL,
    spec TEXT NOT NULL,
    feed TEXT,
    feed_start INTEGER NOT NULL DEFAULT 0,
    server_start INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    used REAL NOT NULL,
    UNIQUE (server, session_id)
);
CREATE TABLE IF NOT EXISTS entries (
    session INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    wire TEXT NOT NULL,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;
"""


def default_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / "sessions.sqlite3"


@dataclass(frozen=True)
class ArchivedSession:
    key: int
    server: str
    session_id: str
    type: str
    spec: dict[str, Any]
    feed: dict[str, Any] | None  # how to play the feed again (kind, path/seed, speed, ...)
    feed_start: int  # the seq of the feed's first entry
    server_start: int  # the seq of the first entry the current server session holds
    first_seq: int  # seq of the oldest entry kept
    count: int  # entries kept


class SessionArchive:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-archive")
        self._db: sqlite3.Connection | None = None
        self._appended: dict[int, int] = {}
        self._closed = False
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- plumbing
    def _conn(self) -> sqlite3.Connection:  # archive thread only
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # survives a crash of the app
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        with self._lock:
            if self._closed:
                raise RuntimeError("session archive is closed")
            return self._pool.submit(self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            log.warning("session archive %s: %s", self.path, exc)
            raise

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self._submit(fn, *args))

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Fire and forget (writes): in order, errors logged, never raised at the caller."""
        try:
            self._submit(fn, *args)
        except RuntimeError:
            log.debug("archive closed; %s dropped", fn.__name__)

    def flush(self) -> None:
        """Block until every submitted write is done (shutdown, tests)."""
        with contextlib.suppress(RuntimeError):
            self._submit(lambda: None).result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pool.submit(self._close_db).result()
        self._pool.shutdown(wait=True)

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---------------------------------------------------------------- writes
    def remember(self, server: str, session_id: str, type_: str, spec: dict[str, Any]) -> int:
        """Record a session (thread: archive). Returns its key."""
        db = self._conn()
        now = time.time()
        db.execute("INSERT INTO sessions (server, session_id, type, spec, created, used) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (server, session_id) DO UPDATE "
                   "SET used = excluded.used", (server, session_id, type_, json.dumps(spec),
                                                now, now))
        key = int(db.execute("SELECT key FROM sessions WHERE server = ? AND session_id = ?",
                             (server, session_id)).fetchone()[0])
        self._trim_sessions(db)
        return key

    def _trim_sessions(self, db: sqlite3.Connection) -> None:
        old = [row[0] for row in db.execute(
            "SELECT key FROM sessions ORDER BY used DESC LIMIT -1 OFFSET ?", (MAX_SESSIONS,))]
        for key in old:
            self.forget(key)

    def renamed(self, key: int, session_id: str, server_start: int,
                spec: dict[str, Any] | None = None) -> None:
        db = self._conn()
        db.execute("UPDATE sessions SET session_id = ?, server_start = ?, used = ? "
                   "WHERE key = ?", (session_id, server_start, time.time(), key))
        if spec is not None:
            db.execute("UPDATE sessions SET spec = ? WHERE key = ?", (json.dumps(spec), key))

    def append(self, key: int, start_seq: int, wires: list[dict[str, Any]]) -> None:
        db = self._conn()
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO entries (session, seq, wire) VALUES (?, ?, ?)",
                           [(key, start_seq + i, json.dumps(w, separators=(",", ":")))
                            for i, w in enumerate(wires)])
            db.execute("UPDATE sessions SET used = ? WHERE key = ?", (time.time(), key))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._appended[key] = self._appended.get(key, 0) + len(wires)
        if self._appended[key] >= PRUNE_EVERY:
            self._appended[key] = 0
            db.execute("DELETE FROM entries WHERE session = ? AND seq < ?",
                       (key, start_seq + len(wires) - MAX_ENTRIES))

    def set_feed(self, key: int, feed: dict[str, Any] | None, feed_start: int) -> None:
        self._conn().execute("UPDATE sessions SET feed = ?, feed_start = ? WHERE key = ?",
                             (None if feed is None else json.dumps(feed), feed_start, key))

    def forget(self, key: int) -> None:
        db = self._conn()
        db.execute("DELETE FROM entries WHERE session = ?", (key,))
        db.execute("DELETE FROM sessions WHERE key = ?", (key,))
        self._appended.pop(key, None)

    # ---------------------------------------------------------------- reads
    def sessions(self, server: str) -> list[ArchivedSession]:
        db = self._conn()
        rows = db.execute(
            "SELECT s.key, s.server, s.session_id, s.type, s.spec, s.feed, s.feed_start, "
            "s.server_start, MIN(e.seq), COUNT(e.seq) FROM sessions s "
            "LEFT JOIN entries e "
            "ON e.session = s.key WHERE s.server = ? GROUP BY s.key ORDER BY s.created",
            (server,)).fetchall()
        return [ArchivedSession(int(k), srv, sid, typ, json.loads(spec),
                                None if feed is None else json.loads(feed), int(start),
                                int(server_start), int(first or 0), int(n))
                for k, srv, sid, typ, spec, feed, start, server_start, first, n in rows]

    def entries(self, key: int, parse: Callable[[Any], Any] | None = None) -> list[Any]:
        """A session's entries in order, as wire dicts or as `parse` makes them."""
        rows = self._conn().execute("SELECT wire FROM entries WHERE session = ? ORDER BY seq",
                                    (key,))
        wires = [json.loads(w) for (w,) in rows]
        return wires if parse is None else [parse(w) for w in wires]


class SessionJournal:
    """One session's side of the archive, for its runner: appends in order, never waits."""

    def __init__(self, archive: SessionArchive, key: int, next_seq: int) -> None:
        self.archive = archive
        self.key = key
        self.seq = next_seq

    def record(self, wires: list[dict[str, Any]]) -> None:
        if wires:
            self.archive.post(self.archive.append, self.key, self.seq, wires)
            self.seq += len(wires)

    def feed(self, recipe: dict[str, Any] | None, start_seq: int | None = None) -> None:
        """The feed now playing (None: none, or stopped by the user); its first entry will
        be (or was) at `start_seq`."""
        self.archive.post(self.archive.set_feed, self.key, recipe,
                          self.seq if start_seq is None else start_seq)

    def renamed(self, session_id: str, resent: int, spec: Any = None) -> None:
        """The session was recreated as `session_id` with the newest `resent` entries."""
        self.archive.post(self.archive.renamed, self.key, session_id, self.seq - resent,
                          None if spec is None else spec.to_dict())

    def forget(self) -> None:
        self.archive.post(self.archive.forget, self.key)

