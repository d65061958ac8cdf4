"""How good a yes/no flash signal has been: each answer against the move that followed it.

The user says what "yes" means for a query: the close `N` candles later is higher
(`up`) or lower (`down`) than the close of the candle the answer is about. A "no"
answer predicts the opposite; answers that are neither yes nor no are counted but
not scored.

No look-ahead, by construction:

* only answers actually received are scored (`app.core.signals.SignalLog`);
* an answer is about the candle its data version ended with (`Signal.candle_ts`,
  never earlier than the true one); its outcome is the close of that candle against
  the close `N` candles *after* it, so nothing up to and including that candle
  counts as the model being right;
* an answer whose outcome candle has not arrived yet is *pending*, not scored.

The follow-the-signal rule holds a position from the close of the candle an answer
is about until the next answer replaces it: long when the answer says the price goes
up, short when it says down, flat on other answers. Its return compounds the next
candles' close-to-close moves, so again an answer only earns from candles after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from app.core.signals import Signal

__all__ = ["BUCKETS", "Bucket", "Direction", "Score", "ScoreSpec", "score"]

YES = frozenset({"yes", "true", "up", "bullish", "buy", "long", "higher", "increasing",
                 "rising"})
NO = frozenset({"no", "false", "down", "bearish", "sell", "short", "lower", "decreasing",
                "falling"})
# p runs 0.5..1 (the top token against the runner-up): five buckets of 0.1.
BUCKETS = ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0))


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class ScoreSpec:
    """What a "yes" answer predicts: the close `horizon` candles later is `yes_means`."""

    yes_means: Direction = Direction.UP
    horizon: int = 5

    def __post_init__(self) -> None:
        if int(self.horizon) < 1:
            raise ValueError(f"the horizon is at least 1 candle, got {self.horizon}")
        object.__setattr__(self, "yes_means", Direction(self.yes_means))
        object.__setattr__(self, "horizon", int(self.horizon))


@dataclass(frozen=True)
class Bucket:
    lo: float
    hi: float
    signals: int
    hits: int
    mean_p: float | None

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.signals if self.signals else None


@dataclass(frozen=True)
class Score:
    spec: ScoreSpec
    answers: int  # answers received for the query
    signals: int  # yes/no answers whose outcome is known (scored)
    hits: int
    pending: int  # yes/no answers still waiting for their outcome candle
    other: int  # answers that are neither yes nor no
    buckets: tuple[Bucket, ...] = field(default_factory=tuple)
    strategy_return: float = 0.0  # follow-the-signal, compounded (0.05 = +5 %)
    hold_return: float = 0.0  # buy and hold over the same candles, for comparison
    trades: int = 0  # position changes of the rule

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.signals if self.signals else None


def direction(key: str, spec: ScoreSpec) -> int:
    """+1 (predicts up), -1 (predicts down) or 0 (neither) for an answer key."""
    sign = 1 if spec.yes_means is Direction.UP else -1
    if key in YES:
        return sign
    if key in NO:
        return -sign
    return 0


def candle_indices(t: np.ndarray, signals: list[Signal]) -> np.ndarray:
    """Index of the candle each signal is about (the last at or before its time; -1 if
    none is)."""
    ts = np.fromiter((s.candle_ts for s in signals), dtype=np.float64, count=len(signals))
    return np.searchsorted(t, ts, side="right") - 1


def score(signals: list[Signal], t: np.ndarray, c: np.ndarray, spec: ScoreSpec) -> Score:
    """Score one query's received answers against closes `c` at times `t`."""
    n = len(t)
    t = np.asarray(t, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    idx = candle_indices(t, signals)
    dirs = np.fromiter((direction(s.key, spec) for s in signals), dtype=np.int64,
                       count=len(signals))
    p = np.fromiter((s.p for s in signals), dtype=np.float64, count=len(signals))
    polar = (dirs != 0) & (idx >= 0)
    known = polar & (idx + spec.horizon < n)
    k_idx = idx[known]
    move = c[k_idx + spec.horizon] - c[k_idx] if len(k_idx) else np.empty(0)
    hit = np.sign(move).astype(np.int64) == dirs[known]  # a flat close is a miss
    k_p = p[known]
    buckets = []
    for lo, hi in BUCKETS:
        inside = (k_p >= lo) & ((k_p < hi) if hi < 1.0 else (k_p <= hi))
        m = int(inside.sum())
        buckets.append(Bucket(lo, hi, m, int(hit[inside].sum()),
                              float(k_p[inside].mean()) if m else None))
    strat, hold, trades = follow(idx[idx >= 0], dirs[idx >= 0], c)
    return Score(spec, len(signals), int(known.sum()), int(hit.sum()),
                 int((polar & ~known).sum()), int((dirs == 0).sum()), tuple(buckets),
                 strat, hold, trades)


def follow(idx: np.ndarray, dirs: np.ndarray, c: np.ndarray) -> tuple[float, float, int]:
    """(rule return, buy-and-hold return, position changes) of following the signals.

    The position over candle j -> j+1 is the direction of the latest answer about a
    candle at or before j (answers about the same candle: the last received wins).
    """
    n = len(c)
    if not len(idx) or n < 2:
        return 0.0, 0.0, 0
    position = np.zeros(n, dtype=np.float64)  # held from close j to close j+1
    has = np.zeros(n, dtype=bool)
    # Answers come in candle order; of several about one candle the last received counts.
    last_of = np.r_[idx[1:] != idx[:-1], True]
    position[idx[last_of]] = dirs[last_of]
    has[idx] = True
    # Carry each answer's position forward until the next answer.
    last = np.maximum.accumulate(np.where(has, np.arange(n), -1))
    held = np.where(last >= 0, position[np.maximum(last, 0)], 0.0)[:-1]
    r = c[1:] / c[:-1] - 1.0
    first = int(idx.min())
    strat = float(np.prod(1.0 + held[first:] * r[first:]) - 1.0)
    hold = float(c[-1] / c[first] - 1.0)
    trades = int(np.count_nonzero(np.diff(np.concatenate(([0.0], held[first:])))))
    return strat, hold, trades
