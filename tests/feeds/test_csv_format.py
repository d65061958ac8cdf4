"""CSV layouts the replay feed must read, and rows it must report and skip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.feeds import CsvFormatError, RowProblem, parse_ohlcv_csv
from app.feeds.csv_format import parse_time

DATA = Path(__file__).parent / "data"


def _ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_yahoo_layout_ignores_adj_close() -> None:
    table = parse_ohlcv_csv(DATA / "yahoo_daily.csv")
    assert table.problems == []
    assert table.t.tolist() == [_ts(2024, 1, 2), _ts(2024, 1, 3), _ts(2024, 1, 4)]
    assert table.c.tolist() == [185.64, 184.25, 181.91]  # Close, not Adj Close
    assert table.v[0] == 82488700


def test_short_names_with_unix_milliseconds() -> None:
    table = parse_ohlcv_csv(DATA / "short_names_ms.csv")
    assert table.problems == []
    assert table.t.tolist() == [1704067200.0, 1704067260.0, 1704067320.0]
    assert table.o[0] == 42283.58
    assert table.h[0] == 42554.57
    assert table.l[0] == 42261.02
    assert table.v[2] == 650.0


def test_unnamed_first_index_column() -> None:
    table = parse_ohlcv_csv(DATA / "pandas_index.csv")
    assert table.problems == []
    assert table.t.tolist() == [_ts(2024, 3, 1, 9, 30), _ts(2024, 3, 1, 9, 31)]
    assert table.c.tolist() == [10.2, 10.3]


def test_semicolon_uppercase_unix_seconds_crlf() -> None:
    table = parse_ohlcv_csv(DATA / "semicolon_seconds.csv")
    assert table.problems == []
    assert table.t.tolist() == [1700000000.0, 1700000060.0]
    assert table.c.tolist() == [1.0855, 1.0851]
    assert table.v.tolist() == [120.0, 95.0]


def test_metatrader_tab_separated_date_and_time_columns() -> None:
    table = parse_ohlcv_csv(DATA / "metatrader_tab.csv")
    assert table.problems == []
    assert table.t.tolist() == [_ts(2024, 5, 6, 0), _ts(2024, 5, 6, 1)]
    assert table.v.tolist() == [311.0, 287.0]


def test_newest_first_file_is_reversed_and_missing_volume_is_zero() -> None:
    table = parse_ohlcv_csv(DATA / "newest_first_no_volume.csv")
    assert table.problems == []
    assert table.t.tolist() == [
        _ts(2024, 1, 2, 10, 0),
        _ts(2024, 1, 2, 10, 1),
        _ts(2024, 1, 2, 10, 2),
    ]
    assert table.o.tolist() == [1.0, 2.0, 3.0]
    assert table.v.tolist() == [0.0, 0.0, 0.0]


def test_headerless_file_with_compact_dates() -> None:
    table = parse_ohlcv_csv(DATA / "headerless.csv")
    assert table.problems == []
    assert table.t.tolist() == [_ts(2024, 1, 2), _ts(2024, 1, 3)]
    assert table.v.tolist() == [10.0, 20.0]


def test_bad_rows_reported_with_line_numbers_and_skipped() -> None:
    table = parse_ohlcv_csv(DATA / "bad_rows.csv")
    assert table.t.tolist() == [_ts(2024, 1, 1), _ts(2024, 1, 4 + 1), _ts(2024, 1, 7)]
    by_line = {p.line: p.message for p in table.problems}
    assert sorted(by_line) == [3, 4, 6, 7, 9, 10, 12]
    assert "open 'abc' is not a number" in by_line[3]
    assert "fields" in by_line[4]
    assert "not-a-date" in by_line[6]
    assert "below low" in by_line[7]
    assert "not after the previous" in by_line[9]
    assert "negative volume" in by_line[10]
    assert "volume 'nan'" in by_line[12]
    assert str(RowProblem(3, "x")) == "line 3: x"


def test_file_without_ohlc_columns_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("Date,Price,Volume\n2024-01-01,1,2\n")
    with pytest.raises(CsvFormatError, match="open, high, low"):
        parse_ohlcv_csv(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(CsvFormatError, match="empty"):
        parse_ohlcv_csv(empty)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1700000000", 1700000000.0),
        ("1700000000.5", 1700000000.5),
        ("1700000000000", 1700000000.0),
        ("1700000000000000", 1700000000.0),
        ("1700000000000000000", 1700000000.0),
        ("2023-11-14T22:13:20Z", 1700000000.0),
        ("2023-11-14 23:13:20+01:00", 1700000000.0),
        ("2023/11/14 22:13:20", 1700000000.0),
        ("2023.11.14", _ts(2023, 11, 14)),
        ("20231114", _ts(2023, 11, 14)),
    ],
)
def test_time_formats(text: str, expected: float) -> None:
    assert parse_time(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "yesterday", "-5", "14/11/2023 10:00"])
def test_unreadable_times_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)
