"""Stream entries: per-type validation (all-or-nothing) and rendering as text for the model."""

from __future__ import annotations

import math
from typing import Any

from . import config
from .errors import APIError

STREAM_TYPES = ("ohlcv", "iot", "spatial", "event", "vitals")

# field -> kind ("num", "int", "str"); order is the rendering order.
REQUIRED: dict[str, dict[str, str]] = {
    "ohlcv": {"o": "num", "h": "num", "l": "num", "c": "num", "v": "num"},
    "iot": {"sid": "str", "val": "num", "lo": "num", "hi": "num"},
    "spatial": {"x": "num", "y": "num", "z": "num", "spd": "num", "hdg": "num"},
    "event": {"src": "str", "sev": "int", "cat": "str", "cnt": "int"},
    "vitals": {"hr": "num", "bp_s": "num", "bp_d": "num", "spo2": "num", "temp": "num"},
}
OPTIONAL: dict[str, dict[str, str]] = {
    "ohlcv": {"timestamp": "num", "sym": "str"},
    "iot": {"timestamp": "num"},
    "spatial": {"timestamp": "num"},
    "event": {"timestamp": "num"},
    "vitals": {"timestamp": "num"},
}
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


def _out_of_range(name: str, kind: str, value: Any) -> str | None:
    """Why a well-typed value cannot be ingested, or None. Comparing a Python int with a
    float is exact and never overflows, so huge integers are caught here too."""
    if kind == "str":
        if len(value) > config.MAX_ENTRY_STRING:
            return f"is {len(value)} characters long; at most {config.MAX_ENTRY_STRING} allowed"
        return None
    if name == "timestamp":
        if not config.MIN_TIMESTAMP <= value <= config.MAX_TIMESTAMP:
            return ("must be unix seconds between years 1 and 9999 (milliseconds or "
                    "microseconds? divide by 1000 or 1e6)")
        return None
    limit = config.MAX_ENTRY_INT if kind == "int" else config.MAX_ENTRY_NUMBER
    if not -limit <= value <= limit:
        return f"is out of range: its magnitude must be at most {limit:g}"
    return None


def validate_entries(stream_type: str, data: Any, param: str = "data") -> list[dict[str, Any]]:
    """Check every entry before accepting any, so a batch is all-or-nothing.

    Returns normalised copies holding only the known fields (extra keys are ignored).
    """
    if not isinstance(data, list):
        raise APIError(400, f"{param} must be a list of entries", code="invalid_type", param=param)
    required = REQUIRED[stream_type]
    optional = OPTIONAL[stream_type]
    clean: list[dict[str, Any]] = []
    for index, entry in enumerate(data):
        where = f"{param}[{index}]"
        if not isinstance(entry, dict):
            raise APIError(
                422, f"{where}: entry must be an object", code="invalid_entry", param=where
            )
        out: dict[str, Any] = {}
        for name, kind in required.items():
            if name not in entry or entry[name] is None:
                raise APIError(
                    422,
                    f"{where}.{name}: field '{name}' is required for {stream_type} entries",
                    code="missing_field",
                    param=f"{where}.{name}",
                )
            out[name] = _checked(stream_type, where, name, kind, entry[name])
        for name, kind in optional.items():
            if entry.get(name) is not None:
                out[name] = _checked(stream_type, where, name, kind, entry[name])
        clean.append(out)
    return clean


def _checked(stream_type: str, where: str, name: str, kind: str, value: Any) -> Any:
    if not _fits(kind, value):
        raise APIError(
            422,
            f"{where}.{name}: must be {_KIND_NAMES[kind]} for {stream_type} entries, "
            f"got {type(value).__name__}",
            code="invalid_value",
            param=f"{where}.{name}",
        )
    problem = _out_of_range(name, kind, value)
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


def fmt_number(value: float) -> str:
    """Compact, stable rendering: few tokens, no float noise like 150.70000000000002."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in {"", "-0"} else "0"


def _fmt_time(ts: float) -> str:
    # Time of day only: every digit is a token for this tokenizer, and a full date
    # would double the cost of each entry. Plain arithmetic, not datetime: it has no
    # platform range limits (negative timestamps fail there on Windows).
    seconds = math.floor(ts) % 86400
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if secs else f"{hours:02d}:{minutes:02d}"


def render_entry(stream_type: str, entry: dict[str, Any]) -> str:
    """One line of text per entry; the model reads these lines as the session's data."""
    parts: list[str] = []
    if "timestamp" in entry:
        parts.append(_fmt_time(entry["timestamp"]))
    if stream_type == "ohlcv" and "sym" in entry:
        parts.append(str(entry["sym"]))
    for name, kind in REQUIRED[stream_type].items():
        value = entry[name]
        if stream_type == "ohlcv":
            # "O150" is one token cheaper per field than "o=150" and reads as well.
            parts.append(f"{name.upper()}{fmt_number(value)}")
        else:
            parts.append(f"{name}={value if kind == 'str' else fmt_number(value)}")
    return " ".join(parts) + "\n"
