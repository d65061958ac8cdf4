"""Entries of any stream type as append-only numpy columns (no Qt).

One float64 row per field of the type's entry model (timestamp first), in a single
(fields, capacity) block that grows by 1.25x, as `CandleStore` does for candles. String
fields (an IoT sensor id, an event's source and category) are held as codes into a
per-field vocabulary: a plot groups by code (one line per sensor, one lane per source)
without touching Python strings, and each distinct string is stored once.

Entries are kept exactly in the order the server acknowledged them, without dedupe: the
link guarantees each entry is stored once, and several sensors may report at one time.
A timestamp is required here (a plot cannot place an entry without one), although the
wire makes it optional.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from app.streams.columns import MIN_CAPACITY, ColumnBlock

if TYPE_CHECKING:
    from app.streams.base import StreamType

__all__ = ["ColumnStore"]


class ColumnStore(ColumnBlock):
    """Append-only columns of one stream type's entries, with a change counter.

    Between two epochs (see `clear()`) the store only appends."""

    def __init__(self, stream: type[StreamType], capacity: int = MIN_CAPACITY) -> None:
        self.stream = stream
        specs = stream.fields()
        self.names: tuple[str, ...] = ("timestamp", *(f.name for f in specs
                                                      if f.name != "timestamp"))
        self._kinds = {f.name: f.kind for f in specs}
        self._row = {name: i for i, name in enumerate(self.names)}
        self._strings = tuple(n for n in self.names if self._kinds.get(n) == "str")
        self._vocab: dict[str, list[str]] = {n: [] for n in self._strings}
        self._codes: dict[str, dict[str, int]] = {n: {} for n in self._strings}
        super().__init__(len(self.names), capacity)

    # ----------------------------------------------------------------- reading
    def column(self, name: str) -> np.ndarray:
        """A view of one field's values (codes for string fields; NaN where absent)."""
        return self._buf[self._row[name], : self._n]

    def labels(self, name: str) -> list[str]:
        """The distinct values of a string field, in first-seen order (code = index)."""
        return self._vocab[name]

    def code(self, name: str, value: str) -> int | None:
        return self._codes[name].get(value)

    def __getitem__(self, index: int) -> Any:
        """Entry `index` as the type's entry model (what was pushed)."""
        index = self._position(index)
        values: dict[str, Any] = {}
        for name, row in self._row.items():
            x = float(self._buf[row, index])
            if math.isnan(x):
                continue  # an optional field the entry did not have
            kind = self._kinds.get(name, "num")
            values[name] = (self._vocab[name][int(x)] if kind == "str"
                            else int(x) if kind == "int" else x)
        return self.stream.entry_model.model_construct(**values)

    # ----------------------------------------------------------------- writing
    def append(self, entry: Any) -> None:
        self.extend([entry])

    def extend(self, entries: Iterable[Any]) -> int:
        """Append entries (entry models or wire dicts) in order; returns how many."""
        items = list(entries)
        if not items:
            return 0
        k = len(items)
        n = self._n
        if n + k > self._buf.shape[1]:
            self._grow(n + k)
        block = self._buf[:, n : n + k]
        block.fill(np.nan)
        for j, item in enumerate(items):
            get = item.get if isinstance(item, dict) else lambda name, _e=item: getattr(
                _e, name, None)
            ts = get("timestamp")
            if ts is None or not math.isfinite(float(ts)):
                raise ValueError(f"{self.stream.name} entry needs a finite timestamp to be "
                                 f"stored, got {ts!r}")
            for name, row in self._row.items():
                value = get(name)
                if value is None:
                    continue
                block[row, j] = self._encode(name, value) if name in self._vocab else value
        self._n = n + k
        self._version += 1
        return k

    def extend_arrays(self, **columns: np.ndarray) -> int:
        """Bulk append from numeric columns (benchmarks, CSV); string fields as codes."""
        k = len(columns["timestamp"])
        n = self._n
        if n + k > self._buf.shape[1]:
            self._grow(n + k)
        self._buf[:, n : n + k] = np.nan
        for name, values in columns.items():
            self._buf[self._row[name], n : n + k] = values
        self._n = n + k
        self._version += 1
        return k

    def intern(self, name: str, value: str) -> int:
        """The code of a string value, adding it to the field's vocabulary if new."""
        return self._encode(name, value)

    def _encode(self, name: str, value: str) -> int:
        codes = self._codes[name]
        code = codes.get(value)
        if code is None:
            code = codes[value] = len(codes)
            self._vocab[name].append(value)
        return code

    def __repr__(self) -> str:
        return f"ColumnStore({self.stream.name}, len={self._n}, version={self._version})"
