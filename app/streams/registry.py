"""The one list of stream types: everything type-specific is found from here.

Server, client, core and UI ask this registry; none keeps its own list of types. A new
type is one module with a `StreamType` subclass, named here. (Listed rather than
discovered: a frozen build only contains modules something imports.)
"""

from __future__ import annotations

from app.streams.base import StreamType
from app.streams.event import Event
from app.streams.iot import Iot
from app.streams.ohlcv import Ohlcv
from app.streams.spatial import Spatial
from app.streams.vitals import Vitals

__all__ = ["DEFAULT", "UnknownStreamType", "all_types", "get", "names"]

_TYPES: dict[str, type[StreamType]] = {t.name: t for t in (Ohlcv, Iot, Spatial, Event, Vitals)}
DEFAULT = "ohlcv"


class UnknownStreamType(KeyError):
    def __str__(self) -> str:
        return f"unknown stream type {self.args[0]!r} (known: {', '.join(_TYPES)})"


def get(name: str) -> type[StreamType]:
    try:
        return _TYPES[name]
    except KeyError:
        raise UnknownStreamType(name) from None


def names() -> tuple[str, ...]:
    return tuple(_TYPES)


def all_types() -> tuple[type[StreamType], ...]:
    return tuple(_TYPES.values())
