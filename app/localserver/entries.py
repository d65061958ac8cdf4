"""Stream entries: per-type validation (all-or-nothing) and rendering as text for the model."""

from __future__ import annotations

import math
from typing import Any

from app.streams import registry, rendering
from app.streams.base import FieldSpec, Kind
from app.streams.rendering import Mode

from .errors import APIError

# Every stream type, its fields (kinds, required or optional, ranges), its rendering and its
# statistics come from the one registry (app/streams); these are views of it.
STREAM_TYPES = registry.names()
REQUIRED: dict[str, dict[str, Kind]] = {
    t.name: {f.name: f.kind for f in t.required()} for t in registry.all_types()}
OPTIONAL: dict[str, dict[str, Kind]] = {
    t.name: {f.name: f.kind for f in t.optional()} for t in registry.all_types()}
_SPECS: dict[str, dict[str, FieldSpec]] = {
    t.name: {f.name: f for f in t.fields()} for t in registry.all_types()}
_KIND_NAMES = {"num": "a number", "int": "an integer", "str": "a string"}


def _fits(kind: str, value: Any) -> bool:
    # bool is an int subclass in Python but never a valid number on the wire.
    if isinstance(value, bool):
        return False
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    # An int is checked by magnitude elsewhere: math.isfinite(10**400) raises OverflowError.
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _out_of_range(spec: FieldSpec, value: Any) -> str | None:
    """Why a well-typed value cannot be ingested, or None. Comparing a Python int with a
    float is exact and never overflows, so huge integers are caught here too."""
    if spec.kind == "str":
        if spec.max_length is not None and len(value) > spec.max_length:
            return f"is {len(value)} characters long; at most {spec.max_length} allowed"
        return None
    lo = -math.inf if spec.lo is None else spec.lo
    hi = math.inf if spec.hi is None else spec.hi
    if lo <= value <= hi:
        return None
    if spec.name == "timestamp":
        return ("must be unix seconds between years 1 and 9999 (milliseconds or "
                "microseconds? divide by 1000 or 1e6)")
    if lo == -hi:
        return f"is out of range: its magnitude must be at most {hi:g}"
    return f"is out of range: it must be between {lo:g} and {hi:g}"


def validate_entries(stream_type: str, data: Any, param: str = "data") -> list[dict[str, Any]]:
    """Check every entry before accepting any, so a batch is all-or-nothing.

    Returns normalised copies holding only the known fields (extra keys are ignored).
    """
    if not isinstance(data, list):
        raise APIError(400, f"{param} must be a list of entries", code="invalid_type", param=param)
    required = REQUIRED[stream_type]
    optional = OPTIONAL[stream_type]
    specs = _SPECS[stream_type]
    clean: list[dict[str, Any]] = []
    for index, entry in enumerate(data):
        where = f"{param}[{index}]"
        if not isinstance(entry, dict):
            raise APIError(
                422, f"{where}: entry must be an object", code="invalid_entry", param=where
            )
        out: dict[str, Any] = {}
        for name in required:
            if name not in entry or entry[name] is None:
                raise APIError(
                    422,
                    f"{where}.{name}: field '{name}' is required for {stream_type} entries",
                    code="missing_field",
                    param=f"{where}.{name}",
                )
            out[name] = _checked(stream_type, where, specs[name], entry[name])
        for name in optional:
            if entry.get(name) is not None:
                out[name] = _checked(stream_type, where, specs[name], entry[name])
        clean.append(out)
    return clean


def _checked(stream_type: str, where: str, spec: FieldSpec, value: Any) -> Any:
    name, kind = spec.name, spec.kind
    if not _fits(kind, value):
        raise APIError(
            422,
            f"{where}.{name}: must be {_KIND_NAMES[kind]} for {stream_type} entries, "
            f"got {type(value).__name__}",
            code="invalid_value",
            param=f"{where}.{name}",
        )
    problem = _out_of_range(spec, value)
    if problem is not None:
        raise APIError(422, f"{where}.{name}: {problem}", code="value_out_of_range",
                       param=f"{where}.{name}")
    if kind == "str" and not _encodable(value):
        raise APIError(422, f"{where}.{name}: contains an unpaired UTF-16 surrogate",
                       code="invalid_value", param=f"{where}.{name}")
    return int(value) if kind == "int" else value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Generation 2 sessions take raw text: each pushed string is one entry {"text": ...}.
RAW_TEXT = "text"


def render_entry(stream_type: str, entry: dict[str, Any], previous: dict[str, Any] | None = None,
                 mode: Mode = "full") -> str:
    """One line of text per entry; the model reads these lines as the session's data.
    `previous` is the entry rendered just before it in the session (compact rendering says
    each entry relative to it; app/streams/rendering.py)."""
    if stream_type == RAW_TEXT:
        text: str = entry["text"]
        return text if text.endswith("\n") else text + "\n"
    return rendering.render(stream_type, entry, previous, mode)
