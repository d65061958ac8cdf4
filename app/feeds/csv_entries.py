"""Reading a CSV file of any stream type's entries (OHLCV has its own, richer reader).

The header names the columns: each field by its own name or one of the type's aliases
(app.streams, `csv_aliases`), in any case, spaces/underscores/brackets ignored, in any
order, other columns ignored. Time comes from a Timestamp / Datetime / Date / Time column
(or Date and Time joined), as ISO text or unix seconds/ms (see app.feeds.csv_format).
Delimiter `,`, `;` or tab. A row that cannot be read (too few fields, a value that is
not a number, an integer field with a fraction, an empty text field, a time before the
previous row's) is reported with its line number and skipped; the other rows play.
Several rows may share a time (several sensors reporting at once). A newest-first file
is reversed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.feeds.csv_format import (
    TIME_NAMES,
    CsvFormatError,
    RowProblem,
    norm_name,
    open_rows,
    parse_number,
    parse_time,
)
from app.streams.base import FieldSpec, StreamType

__all__ = ["EntryTable", "csv_columns", "parse_entries_csv"]


@dataclass(frozen=True, slots=True)
class EntryTable:
    """The good rows as entry models, in time order, plus the skipped rows."""

    entries: Sequence[Any]
    problems: list[RowProblem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> Any:
        return self.entries[i]


def csv_columns(stream: type[StreamType]) -> dict[str, tuple[str, ...]]:
    """Field -> accepted header names (normalised), the field's own name first."""
    return {f.name: (norm_name(f.name), *(norm_name(a) for a in stream.csv_aliases.get(
        f.name, ()))) for f in stream.fields() if f.name != "timestamp"}


def _layout(stream: type[StreamType], header: list[str]) -> tuple[tuple[int, ...],
                                                                  dict[str, int]]:
    names = [norm_name(h) for h in header]
    columns: dict[str, int] = {}
    for name, accepted in csv_columns(stream).items():
        index = next((i for i, n in enumerate(names) if n in accepted), None)
        if index is not None:
            columns[name] = index
    missing = [f.name for f in stream.required() if f.name not in columns]
    if missing:
        raise CsvFormatError(f"no {', '.join(missing)} column for {stream.name} entries in "
                             f"header {header!r}")
    used = set(columns.values())
    if "date" in names and "time" in names:
        return (names.index("date"), names.index("time")), columns
    for name in TIME_NAMES:
        if name in names and names.index(name) not in used:
            return (names.index(name),), columns
    raise CsvFormatError(f"no time column (timestamp, date, time...) in header {header!r}")


def _value(spec: FieldSpec, text: str) -> Any:
    if spec.kind == "str":
        value = text.strip().strip('"').strip()
        if not value:
            raise ValueError(f"{spec.name} is empty")
        return value
    number = parse_number(text, spec.name)
    if spec.kind == "int":
        if not number.is_integer():
            raise ValueError(f"{spec.name} {text.strip()!r} is not a whole number")
        return int(number)
    return number


def parse_entries_csv(path: str | Path, stream: type[StreamType]) -> EntryTable:
    """Read `path` as `stream` entries; CsvFormatError only when no row could be read."""
    path = Path(path)
    _, header, rows = open_rows(path)
    time_cols, columns = _layout(stream, header)
    specs = {f.name: f for f in stream.fields()}
    width = max((*time_cols, *columns.values())) + 1
    good: list[tuple[int, Any]] = []
    problems: list[RowProblem] = []
    for line, row in rows:
        if len(row) < width:
            problems.append(RowProblem(line, f"expected at least {width} fields, got {len(row)}"))
            continue
        try:
            values = {name: _value(specs[name], row[i]) for name, i in columns.items()
                      if row[i].strip() or specs[name].required}
            values["timestamp"] = parse_time(" ".join(row[i].strip() for i in time_cols))
            entry = stream.validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            problems.append(RowProblem(line, f"{'.'.join(map(str, first['loc']))}: "
                                             f"{first['msg']}"))
            continue
        except ValueError as exc:
            problems.append(RowProblem(line, str(exc)))
            continue
        good.append((line, entry))
    times = [entry.timestamp for _, entry in good]
    steps = [b - a for a, b in itertools.pairwise(times)]
    if sum(d < 0 for d in steps) > sum(d > 0 for d in steps):
        good.reverse()  # newest-first export (most steps go back): play it oldest-first
    kept: list[Any] = []
    last = float("-inf")
    for line, entry in good:
        if entry.timestamp < last:
            problems.append(RowProblem(line, "time is before the previous row's (out of order)"))
            continue
        kept.append(entry)
        last = entry.timestamp
    problems.sort(key=lambda p: p.line)
    return EntryTable(kept, problems)
