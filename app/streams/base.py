"""What every stream type definition is made of: fields, entry and stats models, the type class.

A type's *entry model* (pydantic) is the one definition of its fields: names, kinds
("num", "int", "str"), required or optional, and ranges. Everything else that needs the
fields (validation, rendering, CSV columns, the store's columns, the registry-vs-server
agreement test) reads them from the model through `FieldSpec`s, so there is no second list
to keep in sync.

Kinds and ranges follow the wire contract as the bundled server checks it today: a bool
is never a number; "num" must be finite with a magnitude of at most 1e15; "int" accepts an
integral float (``3.0``), magnitude at most 2**53; "str" must be a string of at most 256
characters; `timestamp` is unix seconds between the years 1 and 9999.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, get_args

import numpy as np
from annotated_types import Ge, Gt, Le, Lt, MaxLen
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.fields import FieldInfo

__all__ = [
    "Entry",
    "EntryModel",
    "FieldSpec",
    "Int",
    "Kind",
    "Num",
    "SeededGenerator",
    "StatsModel",
    "StreamType",
    "Text",
    "fmt_delta",
    "fmt_number",
    "fmt_offset",
    "fmt_si",
    "fmt_sig",
    "fmt_time",
    "show",
]

Kind = Literal["num", "int", "str"]
Entry = Mapping[str, Any]  # an entry as the wire carries it (a JSON object)


def _no_bool(value: Any) -> Any:
    # bool is an int subclass in Python (and pydantic's lax mode takes it as 1/0), but the
    # protocol never accepts true/false as a number.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _strict_str(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {type(value).__name__}")
    return value


MAX_NUMBER = 1e15
MAX_INT = 2**53
MAX_TEXT = 256  # characters
MIN_TIMESTAMP = -62_135_596_800  # 0001-01-01
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31

Num = Annotated[float, BeforeValidator(_no_bool),
                Field(allow_inf_nan=False, ge=-MAX_NUMBER, le=MAX_NUMBER)]
Int = Annotated[int, BeforeValidator(_no_bool), Field(ge=-MAX_INT, le=MAX_INT)]
Text = Annotated[str, BeforeValidator(_strict_str), Field(max_length=MAX_TEXT)]
Timestamp = Annotated[float, BeforeValidator(_no_bool),
                      Field(allow_inf_nan=False, ge=MIN_TIMESTAMP, le=MAX_TIMESTAMP)]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One entry field as the registry states it (derived from the entry model)."""

    name: str
    kind: Kind
    required: bool
    label: str
    lo: float | None = None  # inclusive bounds of a number
    hi: float | None = None
    max_length: int | None = None  # of a string


def _kind(annotation: Any) -> Kind:
    """"str"/"int"/"num" of a field's annotation (through Optional and Annotated)."""
    if annotation is str:
        return "str"
    if annotation is int:
        return "int"
    for arg in get_args(annotation):
        if arg is not type(None):
            kind = _kind(arg)
            if kind != "num":
                return kind
    return "num"


def _metadata(annotation: Any) -> list[Any]:
    """Constraints inside an Optional[Annotated[...]] (pydantic lifts them only when the
    Annotated is the field's whole annotation)."""
    out: list[Any] = []
    for item in getattr(annotation, "__metadata__", ()):
        out.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    for arg in get_args(annotation):
        if getattr(arg, "__metadata__", None) is not None:
            out.extend(_metadata(arg))
    return out


class EntryModel(BaseModel):
    """Base of every type's entry model: the client model pushed to a session.

    Unknown keys are ignored (the protocol says extra keys are ignored), instances are
    frozen, and `timestamp` (unix seconds) is optional on the wire as in the protocol.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    timestamp: Timestamp | None = Field(default=None, description="time")

    def to_entry(self) -> dict[str, Any]:
        """The protocol's JSON object for this entry (unset optional fields left out)."""
        return self.model_dump(exclude_none=True)

    @classmethod
    def field_specs(cls) -> tuple[FieldSpec, ...]:
        """Required fields first (in declaration order, the server's rendering order).

        Read on every entry rendered, so worked out once per model class."""
        cached = cls.__dict__.get("_field_specs_cache")
        if cached is None:
            cached = cls._build_field_specs()
            type.__setattr__(cls, "_field_specs_cache", cached)
        return cached

    @classmethod
    def _build_field_specs(cls) -> tuple[FieldSpec, ...]:
        specs: list[FieldSpec] = []
        for name, info in cls.model_fields.items():
            kind = _kind(info.annotation)
            lo = hi = max_length = None
            for meta in [*info.metadata, *_metadata(info.annotation)]:
                if isinstance(meta, MaxLen):
                    max_length = meta.max_length
                if isinstance(meta, Ge | Gt):
                    lo = float(meta.ge if isinstance(meta, Ge) else meta.gt)
                if isinstance(meta, Le | Lt):
                    hi = float(meta.le if isinstance(meta, Le) else meta.lt)
            specs.append(FieldSpec(name, kind, info.is_required(), info.description or name,
                                   lo, hi, max_length))
        return tuple(sorted(specs, key=lambda s: not s.required))


class StatsModel(BaseModel):
    """``GET /v1/sessions/{id}/stats``: base of every type's statistics model.

    Extra fields a server adds are kept; numbers of an empty window may be null or 0.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str
    count: int


def fmt_number(value: float) -> str:
    """Compact, stable rendering: few tokens, no float noise like 150.70000000000002."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in {"", "-0"} else "0"


def fmt_time(ts: float) -> str:
    # Time of day only (UTC): every digit is a token for the bundled model's tokenizer,
    # and a full date would double the cost of each entry. Arithmetic, not datetime: no
    # platform range limits (negative timestamps fail there on Windows).
    seconds = math.floor(ts) % 86400
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if secs else f"{hours:02d}:{minutes:02d}"


# -- compact rendering (see StreamType.render_compact) ---------------------------------------
# The bundled model's tokenizer spends a token per digit and per punctuation mark, so the
# compact rendering says each value with the digits the data has and no more, and leaves
# out what the previous line already said.

SIGNIFICANT = 6  # digits a float keeps at most: a price tick of 0.01 up to 9999.99


def _decimals(value: float, sig: int = SIGNIFICANT) -> int:
    """Decimals `value` needs: its own (up to 6), capped at `sig` significant digits."""
    if float(value).is_integer():
        return 0
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    text = f"{value:.6f}".rstrip("0")
    own = len(text) - text.index(".") - 1
    return max(0, min(own, sig - 1 - magnitude))


def fmt_sig(value: float, sig: int = SIGNIFICANT) -> str:
    """A number with the precision the data has: 150.2 stays 150.2, float noise and
    random-walk floats (100.123456789) stop at `sig` significant digits."""
    digits = _decimals(value, sig)
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"", "-0"} else text


def fmt_delta(value: float, base: float, sig: int = SIGNIFICANT) -> str:
    """`value` as a signed difference from `base` in the operands' own precision, without
    the leading zero ("+.8", "-1.25", "+0"): two digits where the absolute price has five."""
    digits = max(_decimals(value, sig), _decimals(base, sig))
    diff = round(value - base, digits)
    text = fmt_sig(abs(diff), sig)
    if text.startswith("0."):
        text = text[1:]
    return ("-" if diff < 0 and text != "0" else "+") + text


def fmt_si(value: float) -> str:
    """A magnitude in k/M/B with three significant digits (1200000 -> 1.2M, 1523 -> 1.52k):
    volumes and counts are read by size, not to the unit."""
    size = abs(value)
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= factor * 0.9995:
            return fmt_sig(value / factor, 3) + suffix
    return fmt_sig(value, 3)


def fmt_offset(ts: float | None, previous_ts: float | None) -> str | None:
    """Time as an offset from the previous entry ("+60"), the time of day for the first
    one, nothing when both are at the same instant (or the entry has no time)."""
    if ts is None:
        return None
    if previous_ts is None:
        return fmt_time(ts)
    diff = round(ts - previous_ts, 3)
    if diff == 0:
        return None
    # Tenths of a second past one second, two digits below it: "+2.4", not "+2.397".
    size = abs(diff)
    text = fmt_sig(round(size, 1)) if size >= 1 else fmt_sig(size, 2)
    return ("+" if diff > 0 else "-") + text


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def finite(stats: dict[str, Any]) -> dict[str, Any]:
    """Non-finite statistics (a ratio over a tiny first price) become 0, as on the server."""
    out: dict[str, Any] = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            value = finite(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = 0.0
        out[key] = value
    return out


def episodes(flags: Sequence[bool]) -> int:
    """Runs of consecutive True: how many times a condition began."""
    count, previous = 0, False
    for flag in flags:
        if flag and not previous:
            count += 1
        previous = flag
    return count


class StreamType:
    """One stream type: subclass it in a module of its own and list it in the registry.

    Class attributes say what the type is; methods with a default here work from the
    entry model's fields, and a type overrides only what it does differently.
    """

    name: ClassVar[str]
    title: ClassVar[str]  # what a user calls it ("IoT sensors")
    entry_model: ClassVar[type[EntryModel]]
    stats_model: ClassVar[type[StatsModel]]
    # The plot widget, as "module:Class" so this package stays Qt-free; app.ui resolves it.
    plot: ClassVar[str]
    # Synthetic entries: called as (seed, start, interval, **params), see generator().
    generator_class: ClassVar[Callable[..., Generator]]
    # CSV: header names accepted for each field (besides the field's own name).
    csv_aliases: ClassVar[dict[str, tuple[str, ...]]] = {}
    # The CSV reader, as "module:function" (path -> table of entries + bad rows by line).
    csv_reader: ClassVar[str] = "app.feeds.csv_entries:parse_entries_csv"
    # For the New session dialog (plain instructions) and the demo (the bundled model's
    # ChatML frame), and the flash questions the bundled model can answer on this data.
    describe: ClassVar[str]  # "Each line is one ... reading: sid=..., val=..."
    role: ClassVar[str]  # "a sensor engineer"
    questions: ClassVar[tuple[str, ...]]
    unit: ClassVar[str] = "entries"  # for "12 readings drawn", "speed 5 readings/s"
    count_label: ClassVar[str | None] = None  # the stats panel's count row; None: `unit`
    interval: ClassVar[float] = 1.0  # seconds between two synthetic entries
    demo_params: ClassVar[dict[str, Any]] = {}  # the generator's settings for the demo

    # ------------------------------------------------------------------ fields
    @classmethod
    def fields(cls) -> tuple[FieldSpec, ...]:
        return cls.entry_model.field_specs()

    @classmethod
    def required(cls) -> tuple[FieldSpec, ...]:
        return tuple(f for f in cls.fields() if f.required)

    @classmethod
    def optional(cls) -> tuple[FieldSpec, ...]:
        return tuple(f for f in cls.fields() if not f.required)

    @classmethod
    def validate(cls, entry: Entry) -> EntryModel:
        """A wire entry as this type's model (pydantic.ValidationError if it does not fit)."""
        return cls.entry_model.model_validate(entry)

    @classmethod
    def to_wire(cls, entry: Any) -> dict[str, Any]:
        """What the link sends for an entry held in the outbox or the store."""
        return dict(entry.to_entry())

    @classmethod
    def from_wire(cls, wire: Entry) -> Any:
        """An entry as the store and the outbox hold it, from its wire JSON (the inverse
        of `to_wire`; a session's history read back from disk)."""
        return cls.validate(wire)

    # --------------------------------------------------------------- rendering
    @classmethod
    def render(cls, entry: Entry) -> str:
        """One line of text per entry, as the server decodes it into the session.

        The bundled server renders entries itself (app/localserver/entries.py); a test
        proves this is the same text, so the server can switch to the registry.
        """
        parts: list[str] = []
        if entry.get("timestamp") is not None:
            parts.append(fmt_time(entry["timestamp"]))
        parts.extend(cls._render_fields(entry))
        return " ".join(parts) + "\n"

    @classmethod
    def _render_fields(cls, entry: Entry) -> list[str]:
        return [f"{f.name}={entry[f.name] if f.kind == 'str' else fmt_number(entry[f.name])}"
                for f in cls.required()]

    @classmethod
    def render_compact(cls, entry: Entry, previous: Entry | None) -> str:
        """The same entry in fewer tokens, given the entry rendered just before it in the
        same stream (None for the first): time as an offset from it, unchanged context
        left out. A pure function of the two, so a client that keeps the previous entry
        renders exactly the text the server decodes (see app/streams/rendering.py)."""
        parts: list[str] = []
        when = fmt_offset(entry.get("timestamp"),
                          previous.get("timestamp") if previous is not None else None)
        if when is not None:
            parts.append(when)
        parts.extend(cls._compact_fields(entry, previous))
        return " ".join(parts) + "\n"

    @classmethod
    def _compact_fields(cls, entry: Entry, previous: Entry | None) -> list[str]:
        """Default: name and value run together ("val70.1"); types override."""
        return [f"{f.name}{entry[f.name] if f.kind == 'str' else fmt_sig(entry[f.name])}"
                for f in cls.required()]

    # -------------------------------------------------------------- statistics
    @classmethod
    def compute_stats(cls, entries: Sequence[Entry]) -> dict[str, Any]:
        """Statistics over the entries in a session's window (the server's definition).

        An empty window gives numbers too (0, "" for names), never null.
        """
        return finite({"type": cls.name, "count": len(entries)} | cls._stats(entries))

    @classmethod
    def _stats(cls, entries: Sequence[Entry]) -> dict[str, Any]:
        """The type's own statistics (after "type" and "count", which every type has)."""
        raise NotImplementedError

    @classmethod
    def stats_lines(cls, stats: StatsModel) -> list[tuple[str, str]]:
        """(label, value) rows for the stats panel beside the plot: the count, then the
        type's own rows unless the window is empty."""
        rows = [(cls.count_label or cls.unit, f"{stats.count:,}")]
        return [*rows, *cls._stats_rows(stats)] if stats.count else rows

    @classmethod
    def _stats_rows(cls, stats: StatsModel) -> list[tuple[str, str]]:
        return []

    # ---------------------------------------------------------- store and feed
    @classmethod
    def new_store(cls) -> Any:
        """An empty store for this type's entries (what the plot draws)."""
        from app.streams.store import ColumnStore

        return ColumnStore(cls)

    @classmethod
    def generator(cls, *, seed: int, start: float, interval: float,
                  **params: Any) -> Generator:
        """Believable synthetic entries, `interval` seconds apart from `start`."""
        return cls.generator_class(seed, start, interval, **params)

    # ------------------------------------------------------------ session setup
    @classmethod
    def dialog_prompt(cls) -> str:
        return (f"You are {cls.role}. {cls.describe} Oldest first. Answer questions about "
                "the data briefly: yes or no first.")

    @classmethod
    def demo_prompt(cls) -> str:
        # The bundled model (SmolLM2, ChatML) reads raw session text: a ChatML system turn
        # and a "Question: ... Answer:" frame make it answer yes/no instead of continuing
        # the data lines.
        return (f"<|im_start|>system\nYou are {cls.role}. Answer briefly, starting with yes "
                f"or no.<|im_end|>\n<|im_start|>user\n{cls.describe} Oldest first:\n")

    @classmethod
    def demo_questions(cls) -> tuple[str, ...]:
        return tuple(frame_question(q) for q in cls.questions)


def frame_question(question: str) -> str:
    """A flash question as the bundled model (a small chat model reading raw session text)
    answers it: on its own line, ending in "Answer:"."""
    return f"\nQuestion: {question}\nAnswer:"


class Generator:
    """Stateful synthetic entries: `take(n)` continues where the last call ended."""

    def take(self, n: int) -> list[Any]:
        raise NotImplementedError


class SeededGenerator(Generator):
    """A generator that draws from its own seeded RNG (runs repeat exactly) and keeps the
    time of its next entry."""

    def __init__(self, seed: int, start: float, interval: float) -> None:
        self._rng = np.random.default_rng(seed)
        self._t, self._interval = float(start), float(interval)


def show(value: float | None, digits: int = 2) -> str:
    """A statistic for the stats panel: thousands separators, no trailing zeros, – for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
