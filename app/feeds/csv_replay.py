"""Replays a CSV file of one stream type as a feed (see app.feeds.csv_format for OHLCV
layouts, app.feeds.csv_entries for the other types)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.feeds.base import PacedFeed
from app.feeds.csv_format import RowProblem
from app.streams import registry
from app.streams.base import StreamType

__all__ = ["CsvReplayFeed", "read_csv"]


def read_csv(path: str | Path, stream: type[StreamType]) -> Any:
    """The type's table of good rows (`len`, `[i]`, `.problems`) read by its CSV reader."""
    module, _, name = stream.csv_reader.partition(":")
    reader: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return reader(Path(path), stream)


class CsvReplayFeed(PacedFeed):
    """Plays the good rows of a CSV file in time order, one entry per step.

    The file is read in the constructor; `problems` then lists every skipped
    row.  `speed` is entries per second (1.0 = one per second, math.inf =
    as fast as read).  For a big file, `await CsvReplayFeed.open(path)` reads
    it in a worker thread so the GUI loop is never blocked.
    """

    kind = "csv"

    def __init__(self, path: str | Path, speed: float = 1.0, *, stream: str = registry.DEFAULT,
                 table: Any = None) -> None:
        super().__init__(speed)
        self.path = Path(path)
        self.stream = registry.get(stream)
        self._table = table if table is not None else read_csv(self.path, self.stream)
        self.problems: list[RowProblem] = list(self._table.problems)
        self._pos = 0

    @classmethod
    async def open(cls, path: str | Path, speed: float = 1.0, *,
                   stream: str = registry.DEFAULT) -> CsvReplayFeed:
        table = await asyncio.to_thread(read_csv, Path(path), registry.get(stream))
        return cls(path, speed, stream=stream, table=table)

    def recipe(self) -> dict[str, Any]:
        return {"kind": self.kind, "stream": self.stream.name, "path": str(self.path.resolve())}

    @property
    def total(self) -> int:
        """Good rows in the file (the entries this feed will play)."""
        return len(self._table)

    @property
    def position(self) -> int:
        """Entries already played."""
        return self._pos

    @property
    def table(self) -> Any:
        return self._table

    def _next_entry(self) -> Any | None:
        i = self._pos
        if i >= len(self._table):
            return None
        self._pos = i + 1
        return self._table[i]
