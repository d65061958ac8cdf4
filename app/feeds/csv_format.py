"""Reading OHLCV CSV exports in the layouts people actually have.

Accepted:

* delimiter `,`, `;` or tab (sniffed); UTF-8 with or without BOM;
* header names in any case, spaces/underscores/brackets ignored:
  Open/High/Low/Close/Volume, o/h/l/c/v, `<OPEN>`, `Vol.`; `Adj Close` and
  any other column are ignored; a file without a volume column plays with
  volume 0;
* time in a Date / Datetime / Time / Timestamp / Open time column, in
  separate Date and Time columns (joined), or in an unnamed first column
  (a pandas index); a file with no header at all is read as
  time, open, high, low, close[, volume];
* time values as ISO dates/datetimes (`2024-01-02`, `2024-01-02T09:30:00Z`,
  `2024/01/02 09:30`, `2024.01.02`, `20240102`), or unix seconds,
  milliseconds, microseconds or nanoseconds told apart by magnitude; naive
  times are taken as UTC.

A row that cannot be read becomes a `RowProblem(line, message)` and is
skipped; every other row still plays.  Newest-first files are reversed.
A row whose time is not after the previous good row is a problem too, so
nothing is ever drawn twice.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app.streams.candles import Candle

__all__ = [
    "TIME_NAMES",
    "CsvFormatError",
    "OhlcvTable",
    "RowProblem",
    "norm_name",
    "open_rows",
    "parse_number",
    "parse_ohlcv_csv",
    "parse_time",
    "read_rows",
]


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A CSV row that was skipped: 1-based physical line number and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class CsvFormatError(ValueError):
    """The file as a whole cannot be read as OHLCV (no usable header/columns)."""


@dataclass(frozen=True, slots=True)
class OhlcvTable:
    """Parsed columns, strictly increasing in time, plus the skipped rows."""

    t: np.ndarray
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray  # noqa: E741 - the protocol's field name
    c: np.ndarray
    v: np.ndarray
    problems: list[RowProblem]

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def __getitem__(self, i: int) -> Candle:
        return Candle(float(self.t[i]), float(self.o[i]), float(self.h[i]), float(self.l[i]),
                      float(self.c[i]), float(self.v[i]))


TIME_NAMES = ("timestamp", "datetime", "date", "time", "opentime", "ts", "unix", "unixtime", "t")
_ALIASES: dict[str, tuple[str, ...]] = {
    "o": ("open", "o", "openprice", "first"),
    "h": ("high", "h", "highprice", "max"),
    "l": ("low", "l", "lowprice", "min"),
    "c": ("close", "c", "closeprice", "last", "price"),
    "v": ("volume", "v", "vol", "basevolume", "tickvol", "tickvolume"),
}
_INDEX_NAMES = ("", "unnamed0", "index", "idx")
_YMD = re.compile(r"^(\d{4})[./](\d{1,2})[./](\d{1,2})(.*)$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def norm_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.strip().lower())


def parse_time(text: str) -> float:
    """Unix seconds from an ISO-ish date/datetime or a unix number (by magnitude)."""
    s = text.strip().strip('"').strip()
    if not s:
        raise ValueError("empty time")
    compact = _COMPACT_DATE.match(s)
    if compact and 1900 <= int(compact[1]) <= 2200 and 1 <= int(compact[2]) <= 12:
        # 8-digit YYYYMMDD would otherwise read as a 1970 unix time.
        return datetime(int(compact[1]), int(compact[2]), int(compact[3]), tzinfo=UTC).timestamp()
    try:
        number = float(s)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"time {s!r} is not a valid unix time")
        magnitude = abs(number)
        if magnitude >= 1e17:
            return number / 1e9
        if magnitude >= 1e14:
            return number / 1e6
        if magnitude >= 1e11:
            return number / 1e3
        return number
    ymd = _YMD.match(s)
    if ymd:
        s = f"{ymd[1]}-{int(ymd[2]):02d}-{int(ymd[3]):02d}{ymd[4]}"
    try:
        when = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"cannot read time {text.strip()!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_number(text: str, what: str) -> float:
    s = text.strip().strip('"').strip().replace("_", "")
    if not s:
        raise ValueError(f"{what} is empty")
    try:
        value = float(s)
    except ValueError:
        # "1,234.5" thousands separators in volume columns of some exports.
        try:
            value = float(s.replace(",", ""))
        except ValueError:
            raise ValueError(f"{what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text.strip()!r} is not a finite number")
    return value


@dataclass(frozen=True, slots=True)
class _Layout:
    time: tuple[int, ...]  # one column, or date + time columns joined
    cols: dict[str, int | None]  # o/h/l/c/v -> column index (v may be None)
    has_header: bool


def _looks_like_data(row: list[str]) -> bool:
    if len(row) < 5:
        return False
    try:
        parse_time(row[0])
        for cell in row[1:5]:
            parse_number(cell, "value")
    except ValueError:
        return False
    return True


def _detect_layout(first: list[str]) -> _Layout:
    if _looks_like_data(first):
        cols: dict[str, int | None] = {
            "o": 1,
            "h": 2,
            "l": 3,
            "c": 4,
            "v": 5 if len(first) > 5 else None,
        }
        return _Layout((0,), cols, has_header=False)
    names = [norm_name(x) for x in first]
    found: dict[str, int | None] = {}
    for key, aliases in _ALIASES.items():
        found[key] = next((i for i, n in enumerate(names) if n in aliases), None)
    missing = [key for key in "ohlc" if found[key] is None]
    if missing:
        wanted = ", ".join({"o": "open", "h": "high", "l": "low", "c": "close"}[k] for k in missing)
        raise CsvFormatError(f"no {wanted} column in header {first!r}")
    used = {i for i in found.values() if i is not None}
    time_cols: tuple[int, ...] = ()
    if "date" in names and "time" in names:
        time_cols = (names.index("date"), names.index("time"))
    else:
        for name in TIME_NAMES:
            if name in names and names.index(name) not in used:
                time_cols = (names.index(name),)
                break
    if not time_cols and 0 not in used and names[0] in _INDEX_NAMES:
        time_cols = (0,)
    if not time_cols and 0 not in used:
        # Some exports name the time column oddly ("Local time", "Gmt time").
        time_cols = (0,)
    if not time_cols:
        raise CsvFormatError(f"no time column in header {first!r}")
    return _Layout(time_cols, found, has_header=True)


def read_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        sample = fh.read(8192)
        fh.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
                sample, delimiters=",;\t"
            )
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(fh, dialect)
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            yield reader.line_num, row


def open_rows(path: Path) -> tuple[int, list[str], Iterator[tuple[int, list[str]]]]:
    """The first non-blank row (its line number and cells) and an iterator over the rest;
    CsvFormatError for a file with no row at all."""
    rows = read_rows(path)
    try:
        line, first = next(rows)
    except StopIteration:
        raise CsvFormatError(f"{path.name} is empty") from None
    return line, first, rows


def parse_ohlcv_csv(path: str | Path, stream: object = None) -> OhlcvTable:
    """Read `path`; raise CsvFormatError only when no row could ever be read.

    (`stream` is the registry's ohlcv type, passed by every type's reader call.)
    """
    path = Path(path)
    first_line, first, rows = open_rows(path)
    layout = _detect_layout(first)
    width = max(layout.time + tuple(i for i in layout.cols.values() if i is not None)) + 1
    lines: list[int] = []
    values: list[tuple[float, float, float, float, float, float]] = []
    problems: list[RowProblem] = []
    pending = [] if layout.has_header else [(first_line, first)]

    def read(line: int, row: list[str]) -> None:
        if len(row) < width:
            problems.append(RowProblem(line, f"expected at least {width} fields, got {len(row)}"))
            return
        try:
            t = parse_time(" ".join(row[i].strip() for i in layout.time))
            o, h, lo, c = (
                parse_number(row[layout.cols[k]], name)  # type: ignore[index]
                for k, name in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"))
            )
            vi = layout.cols["v"]
            v = parse_number(row[vi], "volume") if vi is not None else 0.0
        except ValueError as exc:
            problems.append(RowProblem(line, str(exc)))
            return
        if h < lo:
            problems.append(RowProblem(line, f"high {h:g} is below low {lo:g}"))
        elif not (lo <= o <= h and lo <= c <= h):
            problems.append(RowProblem(line, "open/close outside the high-low range"))
        elif v < 0:
            problems.append(RowProblem(line, f"negative volume {v:g}"))
        else:
            lines.append(line)
            values.append((t, o, h, lo, c, v))

    for line, row in pending:
        read(line, row)
    for line, row in rows:
        read(line, row)

    if len(values) >= 2 and values[0][0] > values[-1][0]:
        # Newest-first export: play it oldest-first.
        values.reverse()
        lines.reverse()
    keep: list[int] = []
    last_t = -math.inf
    for i, row in enumerate(values):
        if row[0] > last_t:
            keep.append(i)
            last_t = row[0]
        else:
            problems.append(
                RowProblem(
                    lines[i], "time is not after the previous row's (duplicate or out of order)"
                )
            )
    problems.sort(key=lambda p: p.line)
    table = np.array([values[i] for i in keep], dtype=np.float64).reshape(-1, 6)
    cols = [np.ascontiguousarray(table[:, k]) for k in range(6)]
    return OhlcvTable(*cols, problems=problems)
