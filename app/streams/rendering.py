"""Entries as the text lines a model reads: one pure function for server and dashboard.

Two renderings of every stream type:

- ``"compact"`` (the default): fewer tokens per entry. Time is an offset from the previous
  entry, context that did not change is left out (an OHLCV symbol), numbers carry the
  digits the data has, magnitudes are in k/M. A line therefore depends on the entry
  rendered just before it in the same stream, and nothing else.
- ``"full"``: every entry on its own (time of day, every field named); what the server
  decoded before compact rendering existed, kept for comparison (``--render full``).

    from app.streams.rendering import render, render_lines
    render("ohlcv", entry, previous)         # one line, "\\n"-terminated
    render_lines("ohlcv", entries)            # a run of entries, each after the one before

The bundled server renders a session's entries in arrival order with the entry it rendered
last as `previous` (app/localserver/ingest.py); a client holding the same entries in the
same order gets the same text by calling the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from app.streams import registry
from app.streams.base import Entry

__all__ = ["MODES", "Mode", "render", "render_lines"]

Mode = Literal["compact", "full"]
MODES: tuple[Mode, ...] = ("compact", "full")


def render(stream_type: str, entry: Entry, previous: Entry | None = None,
           mode: Mode = "compact") -> str:
    """One line of text for `entry`, given the entry rendered just before it (or None)."""
    stream = registry.get(stream_type)
    if mode == "full":
        return stream.render(entry)
    if mode == "compact":
        return stream.render_compact(entry, previous)
    raise ValueError(f"unknown rendering {mode!r} (known: {', '.join(MODES)})")


def render_lines(stream_type: str, entries: Iterable[Entry], previous: Entry | None = None,
                 mode: Mode = "compact") -> list[str]:
    """Lines for consecutive entries of one stream, each rendered after the one before."""
    out: list[str] = []
    for entry in entries:
        out.append(render(stream_type, entry, previous, mode))
        previous = entry
    return out
