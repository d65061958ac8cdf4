"""Where entries come from: synthetic data of each stream type, CSV replay (asyncio, no Qt)."""

from app.feeds.base import Feed, PacedFeed
from app.feeds.csv_entries import EntryTable, parse_entries_csv
from app.feeds.csv_format import CsvFormatError, RowProblem, parse_ohlcv_csv
from app.feeds.csv_replay import CsvReplayFeed, read_csv
from app.feeds.synthetic import SyntheticFeed, random_walk

__all__ = [
    "CsvFormatError",
    "CsvReplayFeed",
    "EntryTable",
    "Feed",
    "PacedFeed",
    "RowProblem",
    "SyntheticFeed",
    "parse_entries_csv",
    "parse_ohlcv_csv",
    "random_walk",
    "read_csv",
]
