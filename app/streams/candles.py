"""Candles as the dashboard holds them: append-only numpy columns, no Qt.

`CandleStore` keeps six contiguous float64 columns (t, o, h, l, c, v) so a
chart can slice the visible range with `searchsorted` and hand numpy views to
the painter without copying.  Growth is by a fixed factor of 1.25 (not
doubling) so the slack stays small: at most 48 * 1.25 = 60 bytes per stored
candle, under the 64-byte budget.  Growth happens only in `append`/`extend`,
never while painting, and `reserve()` lets a caller that knows its size skip
it altogether.

Dedupe rule (the dashboard must never draw a candle twice):

* a candle newer than `last_timestamp` is appended;
* a candle with exactly `last_timestamp` replaces the last bar (a live feed
  updating the forming candle, or the same candle delivered again after a
  reconnect); an identical re-delivery changes nothing, not even `version`;
* an older candle is refused (`AppendResult.STALE`) and the store is unchanged.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from app.streams.columns import MIN_CAPACITY, ColumnBlock

__all__ = ["AppendResult", "Candle", "CandleStore"]

_FIELDS = ("o", "h", "l", "c", "v")
_ROW = operator.attrgetter("timestamp", *_FIELDS)


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; `timestamp` is the bar's open time in unix seconds."""

    timestamp: float
    o: float
    h: float
    l: float  # noqa: E741 - the protocol's field name
    c: float
    v: float

    def to_entry(self, sym: str | None = None) -> dict[str, Any]:
        """The protocol's `ohlcv` entry for this candle."""
        entry: dict[str, Any] = {
            "timestamp": self.timestamp,
            "o": self.o,
            "h": self.h,
            "l": self.l,
            "c": self.c,
            "v": self.v,
        }
        if sym is not None:
            entry["sym"] = sym
        return entry

    @classmethod
    def from_entry(
        cls, entry: Mapping[str, Any], *, default_timestamp: float | None = None
    ) -> Candle:
        """Build a candle from a protocol `ohlcv` entry (extra keys ignored).

        The protocol makes `timestamp` optional; a chart cannot place a bar
        without one, so a missing timestamp needs `default_timestamp`.
        """
        values: dict[str, float] = {}
        for name in _FIELDS:
            raw = entry.get(name)
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise ValueError(f"ohlcv entry field {name!r} must be a number, got {raw!r}")
            values[name] = float(raw)
        ts = entry.get("timestamp", default_timestamp)
        if isinstance(ts, bool) or not isinstance(ts, (int, float)):
            raise ValueError(f"ohlcv entry needs a numeric 'timestamp', got {ts!r}")
        return cls(float(ts), **values)


def _fast_init() -> None:
    # A frozen dataclass's generated __init__ goes through object.__setattr__
    # per field; the slots' own descriptors set the same fields in half the
    # time, and feeds build one Candle per candle. Frozenness is unchanged:
    # assigning an attribute afterwards still raises FrozenInstanceError.
    setters = [Candle.__dict__[name].__set__ for name in ("timestamp", *_FIELDS)]
    st, so, sh, sl, sc, sv = setters

    def __init__(
        self: Candle, timestamp: float, o: float, h: float, l: float, c: float, v: float  # noqa: E741
    ) -> None:
        st(self, timestamp)
        so(self, o)
        sh(self, h)
        sl(self, l)
        sc(self, c)
        sv(self, v)

    Candle.__init__ = __init__  # type: ignore[method-assign]


_fast_init()


class AppendResult(Enum):
    """What `CandleStore.append` did with a candle (see the module's dedupe rule)."""

    APPENDED = "appended"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    STALE = "stale"


class CandleStore(ColumnBlock):
    """Append-only OHLCV columns with a change counter.

    `t`, `o`, `h`, `l`, `c`, `v` are views of the first `len(store)` rows of
    the backing arrays.  A view taken before an append that grows the store
    keeps showing the old rows; readers re-read the columns when `version`
    changes.  Between two epochs the store only appends or replaces its last
    candle.
    """

    __slots__ = ()
    _noun = ("candle", "candles")

    def __init__(self, capacity: int = MIN_CAPACITY) -> None:
        super().__init__(6, capacity)

    # ----------------------------------------------------------------- reading
    @property
    def o(self) -> np.ndarray:
        return self._buf[1, : self._n]

    @property
    def h(self) -> np.ndarray:
        return self._buf[2, : self._n]

    @property
    def l(self) -> np.ndarray:  # noqa: E743 - the protocol's field name
        return self._buf[3, : self._n]

    @property
    def c(self) -> np.ndarray:
        return self._buf[4, : self._n]

    @property
    def v(self) -> np.ndarray:
        return self._buf[5, : self._n]

    def columns(self) -> tuple[np.ndarray, ...]:
        """(t, o, h, l, c, v) views, taken together so they agree on length."""
        n = self._n
        b = self._buf
        return b[0, :n], b[1, :n], b[2, :n], b[3, :n], b[4, :n], b[5, :n]

    def __getitem__(self, index: int) -> Candle:
        col = self._buf[:, self._position(index)]
        return Candle(*(float(x) for x in col))

    def last(self) -> Candle | None:
        return self[-1] if self._n else None

    def index_range(self, t0: float, t1: float) -> tuple[int, int]:
        """Half-open index range [i0, i1) of candles with t0 <= timestamp <= t1."""
        t = self._buf[0, : self._n]
        i0 = int(np.searchsorted(t, t0, side="left"))
        i1 = int(np.searchsorted(t, t1, side="right"))
        return i0, max(i0, i1)

    # ----------------------------------------------------------------- writing
    def append(self, candle: Candle) -> AppendResult:
        ts = candle.timestamp
        if not math.isfinite(ts):
            raise ValueError(f"candle timestamp must be finite, got {ts!r}")
        n = self._n
        if n:
            last_ts = self._buf[0, n - 1]
            if ts < last_ts:
                return AppendResult.STALE
            if ts == last_ts:
                row = (ts, candle.o, candle.h, candle.l, candle.c, candle.v)
                col = self._buf[:, n - 1]
                if all(col[k] == row[k] for k in range(6)):
                    return AppendResult.UNCHANGED
                col[:] = row
                self._version += 1
                return AppendResult.REPLACED
        if n == self._buf.shape[1]:
            self._grow(n + 1)
        self._buf[:, n] = (ts, candle.o, candle.h, candle.l, candle.c, candle.v)
        self._n = n + 1
        self._version += 1
        return AppendResult.APPENDED

    def extend(self, candles: Iterable[Candle]) -> int:
        """Append many candles under the dedupe rule; returns how many were added."""
        items = candles if isinstance(candles, list) else list(candles)
        if not items:
            return 0
        # attrgetter builds each row tuple in C: ~10x faster than a generator.
        block = np.array(list(map(_ROW, items)), dtype=np.float64).reshape(-1, 6)
        return self.extend_arrays(*block.T)

    def extend_arrays(
        self,
        t: np.ndarray,
        o: np.ndarray,
        h: np.ndarray,
        l: np.ndarray,  # noqa: E741 - the protocol's field name
        c: np.ndarray,
        v: np.ndarray,
    ) -> int:
        """Bulk append from columns; returns how many candles were added.

        A batch that is strictly increasing and newer than the store is
        copied in one go; anything else goes through `append` one by one so
        the dedupe rule holds exactly.
        """
        t = np.asarray(t, dtype=np.float64)
        k = int(t.shape[0])
        if k == 0:
            return 0
        n = self._n
        ordered = bool(np.all(np.isfinite(t))) and (k == 1 or bool(np.all(t[1:] > t[:-1])))
        if not ordered or (n and t[0] <= self._buf[0, n - 1]):
            added = 0
            cols = [np.asarray(x, dtype=np.float64) for x in (o, h, l, c, v)]
            for i in range(k):
                r = self.append(Candle(float(t[i]), *(float(col[i]) for col in cols)))
                added += r is AppendResult.APPENDED
            return added
        if n + k > self._buf.shape[1]:
            self._grow(n + k)
        buf = self._buf
        buf[0, n : n + k] = t
        buf[1, n : n + k] = o
        buf[2, n : n + k] = h
        buf[3, n : n + k] = l
        buf[4, n : n + k] = c
        buf[5, n : n + k] = v
        self._n = n + k
        self._version += 1
        return k

    def __repr__(self) -> str:
        return f"CandleStore(len={self._n}, version={self._version}, capacity={self.capacity})"
