"""Alert rules on flash answers, evaluated once per bar close (no Qt, no I/O).

A bar is one candle of the session's store; it is *closed* once a newer candle
exists (the newest may still be forming: a live feed replaces it until it closes),
so a rule never fires on a partial bar. At each close the engine takes, per query,
the latest answer received that is about that bar or an earlier one (answers about
later bars wait for their bar), and compares it with the state at the previous close:

* ``flip``: the answer's verdict changed (``yes`` -> ``no``), as the flash board counts flips;
* ``cross``: p crossed ``level`` (``direction`` up, down or either);
* ``answer``: a new answer at this close says ``answer`` with p >= ``level``.

Each qualifying bar close fires a rule once; a bar is never evaluated twice, and the
bars already closed when the engine starts are history, not alerts. Fired alerts go
into `log` (numbered, newest last) and to every sink (tray, sound, webhook: the
sinks report how delivery went in `Alert.deliveries`, which the alert log shows).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.signals import Signal, SignalLog
from app.streams.candles import CandleStore

__all__ = ["KINDS", "Alert", "AlertEngine", "AlertRule"]

KINDS = ("flip", "cross", "answer")
LOG_KEPT = 500
_ids = itertools.count(1)


@dataclass(frozen=True)
class AlertRule:
    query_id: int
    kind: str = "flip"
    level: float = 0.8  # cross: the p level; answer: the least p
    answer: str = "yes"  # answer: the verdict (answer_key) it must say
    direction: str = "either"  # cross: up | down | either
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r} (one of {', '.join(KINDS)})")
        if self.kind != "flip" and not 0.5 <= float(self.level) <= 1.0:
            raise ValueError(f"p runs from 0.5 to 1; a level of {self.level} never matches")
        if self.direction not in ("up", "down", "either"):
            raise ValueError(f"direction is up, down or either, not {self.direction!r}")
        object.__setattr__(self, "answer", self.answer.strip().lower())

    def describe(self) -> str:
        if self.kind == "flip":
            return "answer flips"
        if self.kind == "cross":
            way = {"up": "rises above", "down": "falls below", "either": "crosses"}
            return f"p {way[self.direction]} {self.level:.2f}"
        return f"answer {self.answer!r} with p ≥ {self.level:.2f}"

    def fires(self, before: Signal | None, now: Signal) -> bool:
        """Whether `now`, the answer new at a bar close, qualifies against `before`, the
        one current at the previous close."""
        if self.kind == "flip":
            return before is not None and before.key != now.key
        if self.kind == "answer":
            return now.key == self.answer and now.p >= self.level
        if before is None:
            return False
        up = before.p < self.level <= now.p
        down = before.p >= self.level > now.p
        return {"up": up, "down": down, "either": up or down}[self.direction]


@dataclass
class Alert:
    seq: int
    rule: AlertRule
    query: str
    bar_ts: float  # the closed bar's open time
    close: float
    signal: Signal
    before: Signal | None
    fired_at: float
    message: str
    deliveries: dict[str, str] = field(default_factory=dict)  # sink -> how it went


class AlertEngine:
    """The rules of one session and the bars they were evaluated at."""

    def __init__(self, queries: Callable[[int], str] | None = None) -> None:
        self.rules: list[AlertRule] = []
        self.log: deque[Alert] = deque(maxlen=LOG_KEPT)
        self.sinks: list[Callable[[Alert], Any]] = []
        self.seq = 0
        self.version = 0
        self._queries = queries or (lambda qid: f"query {qid}")
        self._epoch = -1
        self._closed = 0  # bars evaluated so far (bar i closes when candle i+1 exists)
        self._pos: dict[int, int] = {}  # per query: answers consumed
        self._state: dict[int, Signal] = {}  # per query: the answer current at the last close

    def add(self, rule: AlertRule) -> AlertRule:
        self.rules.append(rule)
        self.version += 1
        return rule

    def remove(self, rule_id: int) -> None:
        self.rules = [r for r in self.rules if r.id != rule_id]
        self.version += 1

    def evaluate(self, store: CandleStore, signals: SignalLog) -> list[Alert]:
        """Evaluate every bar that closed since the last call; returns the alerts fired."""
        if store.epoch != self._epoch:
            # A new store (or cleared): what is already there is history.
            self._epoch = store.epoch
            self._closed = max(0, len(store) - 1)
            self._pos = {}
            self._state = {}
            self._catch_up(store, signals, self._closed - 1)
            return []
        closed = len(store) - 1
        fired: list[Alert] = []
        if closed <= self._closed:
            return fired
        t, c = store.t, store.c
        for i in range(self._closed, closed):
            fired.extend(self._close_bar(i, float(t[i]), float(c[i]), signals))
        self._closed = closed
        if fired:
            self.version += 1
        for alert in fired:
            for sink in self.sinks:
                sink(alert)
        return fired

    def _catch_up(self, store: CandleStore, signals: SignalLog, last: int) -> None:
        """Consume the answers about bars up to `last` without firing."""
        if last < 0:
            return
        ts = float(store.t[last])
        for qid in signals.query_ids():
            items = signals.for_query(qid)
            k = 0
            while k < len(items) and items[k].candle_ts <= ts:
                k += 1
            self._pos[qid] = k
            if k:
                self._state[qid] = items[k - 1]

    def _close_bar(self, i: int, ts: float, close: float, signals: SignalLog) -> list[Alert]:
        out: list[Alert] = []
        for qid in signals.query_ids():
            items = signals.for_query(qid)
            k = start = self._pos.get(qid, 0)
            while k < len(items) and items[k].candle_ts <= ts:
                k += 1
            if k == start:
                continue  # nothing new about this bar: the state is unchanged
            self._pos[qid] = k
            before, now = self._state.get(qid), items[k - 1]
            self._state[qid] = now
            for rule in self.rules:
                if rule.query_id == qid and rule.fires(before, now):
                    out.append(self._fire(rule, ts, close, now, before))
        return out

    def _fire(self, rule: AlertRule, ts: float, close: float, now: Signal,
              before: Signal | None) -> Alert:
        self.seq += 1
        query = self._queries(rule.query_id)
        if rule.kind == "flip" and before is not None:
            what = f"{before.value.strip()} → {now.value.strip()}"
        else:
            what = f"{now.value.strip()} (p {now.p:.2f})"
        alert = Alert(self.seq, rule, query, ts, close, now, before, time.time(),
                      f"{query}: {rule.describe()}: {what}")
        self.log.append(alert)
        return alert
