"""Everything the dashboard shows about one open session (plain data, no Qt, no I/O).

The runner in `app.core.link` writes here; views read it on their display timer
and compare `version` (and the store's own `version`) to skip work. Views never change
it: they ask the runner (feed control, flash queries) or set `stats_wanted`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from app.api.models import Stats
from app.core.flash import FlashBoard
from app.core.outbox import Outbox
from app.core.progress import Progress, Verdict
from app.core.server import seconds_until
from app.core.signals import SignalLog, VersionLedger
from app.streams import registry

NOTES = 20


class Mode(StrEnum):
    OWNED = "owned"  # created here: our feed pushes to it, we recreate it if the server loses it
    EXTERNAL = "external"  # fed by another program: link, data version and flash answers only
    OBSERVE = "observe"  # external + a local feed drawn in the plot but never pushed


@dataclass(frozen=True)
class SessionSpec:
    """How a session was created, so it can be created again identically."""

    type: str = registry.DEFAULT
    prompt: str | None = None
    context: int | None = None
    window_size: int | None = None
    flash: tuple[str, ...] = ()
    flash_max_tokens: int = 16
    mark_prefix: bool = True
    # API generation 2 (app.core.gen2_compat): the id to ask for, pre-decode, and a sliding
    # window in tokens (generation 1's window_size counts entries). Not sent to gen 1.
    session_id: str | None = None
    pre_decode: bool = False
    window_tokens: int | None = None

    def create_kwargs(self, flash: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"type": self.type, "mark_prefix": self.mark_prefix}
        if self.prompt:
            kwargs["prompt"] = self.prompt
        if self.context:
            kwargs["context"] = self.context
        if self.window_size:
            kwargs["window_size"] = self.window_size
        items = flash if flash is not None else [
            {"query": q, "max_tokens": self.flash_max_tokens} for q in self.flash]
        if items:
            kwargs["flash"] = items
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        """As JSON (app.core.archive keeps it): the flash questions as a list."""
        return {**asdict(self), "flash": list(self.flash)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionSpec:
        """The inverse of `to_dict` (unknown keys ignored)."""
        kwargs = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        kwargs["flash"] = tuple(kwargs.get("flash") or ())
        return cls(**kwargs)


@dataclass
class LinkInfo:
    status: str = "connecting"  # connecting | open | reconnecting | closed
    reason: str | None = None
    retry_at: float | None = None  # monotonic time of the next attempt
    attempt: int = 0
    reconnects: int = 0

    def retry_in(self, now: float | None = None) -> float | None:
        return seconds_until(self.retry_at, now)

    def describe(self, now: float | None = None) -> str:
        if self.status == "reconnecting":
            wait = self.retry_in(now)
            why = f" ({self.reason})" if self.reason else ""
            return (f"reconnecting in {wait:.0f} s{why}" if wait is not None
                    else f"reconnecting{why}")
        if self.status == "closed":
            return f"closed: {self.reason}" if self.reason else "closed"
        return self.status


@dataclass
class Note:
    at: float
    text: str
    level: str = "info"  # info | warning | error


@dataclass(frozen=True, slots=True)
class Marker:
    """A moment to flag on the plot's time axis (where a flash answer changed)."""

    timestamp: float
    label: str
    colour: str


@dataclass
class FeedInfo:
    name: str = ""
    kind: str = ""  # synthetic | csv | ...
    total: int | None = None  # entries it will play, when known
    paused: bool = False
    speed: float = 1.0
    done: bool = False
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    emitted: int = 0

    @property
    def running(self) -> bool:
        """A feed is attached and has not finished (or been stopped)."""
        return bool(self.kind) and not self.done


class SessionModel:
    def __init__(
        self,
        session_id: str,
        type_: str = registry.DEFAULT,
        *,
        mode: Mode = Mode.EXTERNAL,
        spec: SessionSpec | None = None,
        outbox_capacity: int | None = None,
    ) -> None:
        self.session_id = session_id
        self.type = type_
        self.stream = registry.get(type_)
        self.mode = mode
        self.spec = spec
        self.store: Any = self.stream.new_store()  # the type's store (CandleStore, ColumnStore)
        self.board = FlashBoard()
        self.signals = SignalLog()  # every answer received, with its candle (scoring, alerts)
        self.ledger = VersionLedger()  # data_version -> the candle it ended with
        self.outbox = Outbox(outbox_capacity) if outbox_capacity else Outbox()
        self.progress = Progress()  # what the model has read of what is drawn; freshness
        self.policy = "hold"  # or "latest": see app.core.link (backpressure)
        self.link = LinkInfo()
        self.feed = FeedInfo()
        self.data_version = 0
        self.data_count = 0
        self.server_queue = 0  # the server's ingest queue depth, from the last push_ack
        self.acked = 0  # entries the server accepted from us (stored, drawn)
        self.rejected = 0  # entries the server refused (bad data), shown, never resent
        self.refusal = ""  # the server's last refusal, in its own words
        self.recreated = 0
        self.notes: deque[Note] = deque(maxlen=NOTES)
        self.markers: list[Marker] = []  # append-only: a view draws the ones it has not yet
        self.stats: Stats | None = None  # the type's statistics model, while stats_wanted
        self.stats_error: str | None = None
        self.stats_wanted = False  # a view shows the statistics: the runner keeps them fresh
        self.closed_by_user = False
        self.version = 0

    @property
    def owned(self) -> bool:
        return self.mode is Mode.OWNED

    @property
    def pushes(self) -> bool:
        """Whether a feed attached to this session sends its entries to the server."""
        return self.mode is Mode.OWNED

    def touch(self) -> None:
        self.version += 1

    def verdict(self, answer_version: int | None, now: float | None = None) -> Verdict:
        """How fresh an answer computed at `answer_version` is (app.core.progress)."""
        return self.progress.verdict(answer_version, tracks_data=self.owned, now=now,
                                     current_version=self.data_version)

    def note(self, text: str, level: str = "info") -> None:
        self.notes.append(Note(time.time(), text, level))
        self.touch()

    def title(self) -> str:
        return f"{self.session_id[:12]} · {self.type}"
