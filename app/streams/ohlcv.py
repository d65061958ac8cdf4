"""OHLCV candles: open/high/low/close/volume bars, drawn as a candle chart.

The outbox and the store hold `Candle`s (a slots dataclass) rather than `OhlcvEntry`
models: a replay or a fast feed builds one per candle, and the dataclass costs a fraction of
a validated model. Both carry the same fields; `OhlcvEntry` is the client model a caller
validates wire entries with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from app.streams.base import (
    Entry,
    EntryModel,
    Generator,
    Num,
    StatsModel,
    StreamType,
    Text,
    fmt_delta,
    fmt_number,
    fmt_si,
    fmt_sig,
    mean,
    show,
)
from app.streams.candles import Candle, CandleStore

__all__ = ["Ohlcv", "OhlcvEntry", "OhlcvStats", "random_walk"]


class OhlcvEntry(EntryModel):
    o: Num = Field(description="open")
    h: Num = Field(description="high")
    l: Num = Field(description="low")  # noqa: E741 - the protocol's field name
    c: Num = Field(description="close")
    v: Num = Field(description="volume")
    sym: Text | None = Field(default=None, description="symbol")


class OhlcvStats(StatsModel):
    max_high: float | None = None
    max_high_index: int | None = None
    min_low: float | None = None
    min_low_index: int | None = None
    max_volume: float | None = None
    first_open: float | None = None
    last_close: float | None = None
    avg_close: float | None = None
    change: float | None = None
    change_pct: float | None = None


def random_walk(
    n: int,
    *,
    seed: int | tuple[int, ...] = 0,
    start: float = 1_700_000_000.0,
    interval: float = 60.0,
    price: float = 100.0,
    volatility: float = 0.002,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`n` candles as (t, o, h, l, c, v) columns.

    Log-returns with slowly drifting volatility (calm and busy stretches, as
    in real markets); each bar opens at the previous close, wicks reach past
    the body by a random fraction of the bar's volatility, and volume grows
    with the size of the move.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n!r}")
    if n == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), empty.copy(), empty.copy(), empty.copy(), empty.copy()
    rng = np.random.default_rng(list(seed) if isinstance(seed, tuple) else seed)
    # Volatility regime: a smoothed random walk of the log-vol, clipped.  The
    # window never exceeds n: mode="same" returns max(n, window) samples.
    regime = np.cumsum(rng.normal(0.0, 0.05, n))
    window = min(64, n)
    regime -= np.convolve(regime, np.ones(window) / window, mode="same")
    sigma = volatility * np.exp(np.clip(regime, -1.0, 1.5))
    returns = rng.normal(0.0, 1.0, n) * sigma
    close = price * np.exp(np.cumsum(returns))
    open_ = np.empty(n)
    open_[0] = price
    open_[1:] = close[:-1]
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(rng.normal(0.0, 0.6, n)) * sigma)
    low = bottom * np.exp(-np.abs(rng.normal(0.0, 0.6, n)) * sigma)
    move = np.abs(returns) / np.maximum(sigma, 1e-12)
    volume = np.round(1000.0 * (0.5 + move) * rng.lognormal(0.0, 0.4, n), 2)
    t = start + interval * np.arange(n, dtype=np.float64)
    return t, open_, high, low, close, volume


def _on_tick(cols: tuple[np.ndarray, ...], tick: float) -> tuple[np.ndarray, ...]:
    """Prices rounded to `tick` (the high/low still enclosing open and close), whole volumes."""
    t, o, h, low, c, v = cols
    o, h, low, c = (np.round(np.round(x / tick) * tick, 8) for x in (o, h, low, c))
    return (t, o, np.maximum(h, np.maximum(o, c)), np.minimum(low, np.minimum(o, c)), c,
            np.round(v))


class _WalkGenerator(Generator):
    # Generated in blocks so a fast consumer costs numpy, not Python, per candle; each
    # block's seed derives from (seed, block number) so runs repeat exactly.
    _BLOCK = 4096

    def __init__(self, seed: int, start: float, interval: float, price: float = 100.0,
                 volatility: float = 0.002, tick: float | None = None) -> None:
        self.seed, self.interval, self.tick = seed, interval, tick
        self._next_t, self._price, self._volatility = float(start), float(price), volatility
        self._block_no = 0
        self._block: list[Candle] = []
        self._pos = 0

    def take(self, n: int) -> list[Any]:
        out: list[Candle] = []
        while len(out) < n:
            if self._pos >= len(self._block):
                self._refill()
            k = min(n - len(out), len(self._block) - self._pos)
            out.extend(self._block[self._pos : self._pos + k])
            self._pos += k
        return out

    def _refill(self) -> None:
        cols = random_walk(self._BLOCK, seed=(self.seed, self._block_no), start=self._next_t,
                           interval=self.interval, price=self._price,
                           volatility=self._volatility)
        self._block_no += 1
        if self.tick is not None:
            cols = _on_tick(cols, self.tick)
        self._block = [Candle(*row) for row in np.column_stack(cols).tolist()]
        self._pos = 0
        self._price = float(cols[4][-1])
        self._next_t = float(cols[0][-1]) + self.interval


ANCHOR_SECONDS = 600  # compact rendering: the open in full at least once per 10 minutes


def _anchor(entry: Entry, previous: Entry) -> bool:
    """Whether a new ANCHOR_SECONDS period of data time began with this entry."""
    t, t0 = entry.get("timestamp"), previous.get("timestamp")
    if t is None or t0 is None:
        return False
    return math.floor(t / ANCHOR_SECONDS) != math.floor(t0 / ANCHOR_SECONDS)


class Ohlcv(StreamType):
    name = "ohlcv"
    title = "OHLCV candles"
    entry_model = OhlcvEntry
    stats_model = OhlcvStats
    plot = "app.ui.chart:CandleChart"
    generator_class = _WalkGenerator

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Candle:
        return Candle.from_entry(wire)
    csv_reader = "app.feeds.csv_format:parse_ohlcv_csv"
    role = "a market analyst"
    describe = "OHLCV candles (time, open, high, low, close, volume)."
    questions = ("Is the trend bullish? Answer yes or no.",
                 "Is volume increasing? Answer yes or no.")
    unit = "candles"
    interval = 60.0  # one-minute bars
    # Prices on a 0.01 tick and whole volumes, as an exchange quotes them: the model reads
    # every digit as a token, and random-walk floats would double the cost of a candle.
    demo_params: ClassVar[dict[str, Any]] = {"tick": 0.01}

    @classmethod
    def _render_fields(cls, entry: Entry) -> list[str]:
        # "O150" is one token cheaper per field than "o=150" and reads as well.
        parts = [str(entry["sym"])] if entry.get("sym") is not None else []
        return parts + [f"{f.name.upper()}{fmt_number(entry[f.name])}" for f in cls.required()]

    @classmethod
    def _compact_fields(cls, entry: Entry, previous: Entry | None) -> list[str]:
        # "AAPL O150.2 H+.6 L-.1 C+.5 V1.2M": the symbol when it changes; the open in full,
        # unless the bar opens at the previous close (most bars do: the line then starts
        # there) and no ANCHOR_SECONDS boundary passed since the previous bar (so a sliding
        # window always holds absolute prices); high, low and close as moves from the
        # open (two digits where a price has five, the close's sign says up or down);
        # volume in k/M.
        sym = entry.get("sym")
        parts = [str(sym)] if sym is not None and (
            previous is None or previous.get("sym") != sym) else []
        o = entry["o"]
        if (previous is None or previous.get("sym") != sym
                or fmt_sig(previous["c"]) != fmt_sig(o) or _anchor(entry, previous)):
            parts.append(f"O{fmt_sig(o)}")
        return [*parts, f"H{fmt_delta(entry['h'], o)}", f"L{fmt_delta(entry['l'], o)}",
                f"C{fmt_delta(entry['c'], o)}", f"V{fmt_si(entry['v'])}"]

    @classmethod
    def to_wire(cls, entry: Any) -> dict[str, Any]:
        return entry.to_entry()

    @classmethod
    def new_store(cls) -> CandleStore:
        return CandleStore()

    @classmethod
    def _stats(cls, entries: Sequence[Entry]) -> dict[str, Any]:
        if not entries:
            return {"max_high": 0.0, "max_high_index": 0, "min_low": 0.0,
                    "min_low_index": 0, "max_volume": 0.0, "first_open": 0.0,
                    "last_close": 0.0, "avg_close": 0.0, "change": 0.0,
                    "change_pct": 0.0}
        highs = [e["h"] for e in entries]
        lows = [e["l"] for e in entries]
        hi_i = max(range(len(highs)), key=highs.__getitem__)
        lo_i = min(range(len(lows)), key=lows.__getitem__)
        first_open, last_close = entries[0]["o"], entries[-1]["c"]
        change = last_close - first_open
        return {
            "max_high": highs[hi_i], "max_high_index": hi_i,
            "min_low": lows[lo_i], "min_low_index": lo_i,
            "max_volume": max(e["v"] for e in entries),
            "first_open": first_open, "last_close": last_close,
            "avg_close": mean([e["c"] for e in entries]),
            "change": change,
            "change_pct": (change / first_open * 100.0) if first_open else 0.0,
        }

    @classmethod
    def _stats_rows(cls, stats: StatsModel) -> list[tuple[str, str]]:
        assert isinstance(stats, OhlcvStats)
        return [
            ("first open", show(stats.first_open)),
            ("last close", show(stats.last_close)),
            ("change", f"{show(stats.change)} ({show(stats.change_pct)} %)"),
            ("high", f"{show(stats.max_high)} (#{stats.max_high_index})"),
            ("low", f"{show(stats.min_low)} (#{stats.min_low_index})"),
            ("avg close", show(stats.avg_close)),
            ("max volume", show(stats.max_volume, 0)),
        ]
