"""Where candles come from: synthetic random walk, CSV replay (asyncio, no Qt)."""

from app.feeds.base import Feed, PacedFeed
from app.feeds.csv_format import CsvFormatError, RowProblem, parse_ohlcv_csv
from app.feeds.csv_replay import CsvReplayFeed
from app.feeds.synthetic import SyntheticFeed, random_walk

__all__ = [
    "CsvFormatError",
    "CsvReplayFeed",
    "Feed",
    "PacedFeed",
    "RowProblem",
    "SyntheticFeed",
    "parse_ohlcv_csv",
    "random_walk",
]
