"""The growing float64 block both entry stores keep (`CandleStore`, `ColumnStore`).

One (fields, capacity) array: a single allocation, and each row is a contiguous column, so
views and `searchsorted` stay cheap. Row 0 is the timestamp. Growth is by 1.25x (not
doubling) so the slack stays small. Columns past `len(store)` are never read: a store
writes every cell of a new entry (NaN where a field is absent) before counting it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

__all__ = ["GROWTH", "MIN_CAPACITY", "ColumnBlock"]

GROWTH = 1.25
MIN_CAPACITY = 1024


class ColumnBlock:
    """Rows of float64 columns, a length, and the counters a view compares to skip work."""

    __slots__ = ("_buf", "_epoch", "_n", "_version")
    # What the store holds, for its IndexError ("candle index 7 out of range for 3 candles").
    _noun: ClassVar[tuple[str, str]] = ("entry", "entries")

    def __init__(self, rows: int, capacity: int = MIN_CAPACITY) -> None:
        self._buf = np.empty((rows, max(int(capacity), 1)), dtype=np.float64)
        self._n = 0
        self._version = 0
        self._epoch = 0

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        return self._n

    @property
    def version(self) -> int:
        """Bumps on every change; a view compares it to skip work."""
        return self._version

    @property
    def epoch(self) -> int:
        """Bumps on `clear()`: a view's caches of earlier rows are then invalid."""
        return self._epoch

    @property
    def capacity(self) -> int:
        return int(self._buf.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes held by the backing arrays (including unused capacity)."""
        return int(self._buf.nbytes)

    @property
    def t(self) -> np.ndarray:
        return self._buf[0, : self._n]

    @property
    def last_timestamp(self) -> float | None:
        return float(self._buf[0, self._n - 1]) if self._n else None

    def _position(self, index: int) -> int:
        """`index` counted from the end when negative; IndexError outside the store."""
        n = self._n
        if index < 0:
            index += n
        if not 0 <= index < n:
            one, many = self._noun
            raise IndexError(f"{one} index {index} out of range for {n} {many}")
        return index

    def index_at(self, timestamp: float) -> int | None:
        """Index of the last entry at or before `timestamp`."""
        if not self._n:
            return None
        i = int(np.searchsorted(self._buf[0, : self._n], timestamp, side="right")) - 1
        return i if i >= 0 else None

    # ----------------------------------------------------------------- writing
    def reserve(self, capacity: int) -> None:
        """Make room for `capacity` entries now, so later appends never copy."""
        if capacity > self.capacity:
            self._resize(int(capacity))

    def clear(self) -> None:
        self._n = 0
        self._version += 1
        self._epoch += 1

    def _grow(self, needed: int) -> None:
        self._resize(max(needed, int(self.capacity * GROWTH) + 1, MIN_CAPACITY))

    def _resize(self, capacity: int) -> None:
        new = np.empty((self._buf.shape[0], capacity), dtype=np.float64)
        new[:, : self._n] = self._buf[:, : self._n]
        self._buf = new
