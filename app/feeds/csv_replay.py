"""Replays an OHLCV CSV file as a feed (see app.feeds.csv_format for layouts)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.core.candles import Candle
from app.feeds.base import PacedFeed
from app.feeds.csv_format import OhlcvTable, RowProblem, parse_ohlcv_csv

__all__ = ["CsvReplayFeed"]


class CsvReplayFeed(PacedFeed):
    """Plays the good rows of a CSV file in time order, one candle per step.

    The file is read in the constructor; `problems` then lists every skipped
    row.  `speed` is candles per second (1.0 = one per second, math.inf =
    as fast as read).  For a big file, `await CsvReplayFeed.open(path)` reads
    it in a worker thread so the GUI loop is never blocked.
    """

    def __init__(self, path: str | Path, speed: float = 1.0, *, table: OhlcvTable | None = None):
        super().__init__(speed)
        self.path = Path(path)
        self._table = table if table is not None else parse_ohlcv_csv(self.path)
        self.problems: list[RowProblem] = list(self._table.problems)
        self._pos = 0

    @classmethod
    async def open(cls, path: str | Path, speed: float = 1.0) -> CsvReplayFeed:
        table = await asyncio.to_thread(parse_ohlcv_csv, Path(path))
        return cls(path, speed, table=table)

    @property
    def total(self) -> int:
        """Good rows in the file (the candles this feed will play)."""
        return len(self._table)

    @property
    def position(self) -> int:
        """Candles already played."""
        return self._pos

    @property
    def table(self) -> OhlcvTable:
        return self._table

    def _next_candle(self) -> Candle | None:
        i = self._pos
        tb = self._table
        if i >= len(tb):
            return None
        self._pos = i + 1
        return Candle(
            float(tb.t[i]),
            float(tb.o[i]),
            float(tb.h[i]),
            float(tb.l[i]),
            float(tb.c[i]),
            float(tb.v[i]),
        )
