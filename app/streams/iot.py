"""IoT sensor readings: a value per sensor id with the band it should stay in.

A *breach* is a reading outside its own [lo, hi] band (the server's definition). The plot
draws one line per sensor, its band shaded, breaches marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from app.streams.base import (
    Entry,
    EntryModel,
    Num,
    SeededGenerator,
    StatsModel,
    StreamType,
    Text,
    fmt_sig,
    mean,
    show,
)

__all__ = ["Iot", "IotEntry", "IotStats"]


class IotEntry(EntryModel):
    sid: Text = Field(description="sensor")
    val: Num = Field(description="value")
    lo: Num = Field(description="band low")
    hi: Num = Field(description="band high")


class IotStats(StatsModel):
    last_sensor: str | None = None
    last_value: float | None = None
    min_value: float | None = None
    max_value: float | None = None
    avg_value: float | None = None
    threshold_breaches: int | None = None
    breach_rate: float | None = None


def is_breach(val: float, lo: float, hi: float) -> bool:
    return val < lo or val > hi


# (sensor id, band, resting level, noise, drift per reading): the boiler's level creeps up
# and out of its band, then (serviced) drops back, every 150 readings (a third of them
# outside); the others wander inside theirs, now and then touching an edge.
_CYCLE = 150
_PHASE = 60  # readings into its cycle the boiler starts: a demo sees it drift out soon
_SENSORS = (
    ("boiler-1", (60.0, 80.0), 70.0, 0.6, 0.1),
    ("pump-2", (2.0, 4.0), 3.0, 0.12, 0.0),
    ("room-3", (18.0, 24.0), 21.0, 0.25, 0.0),
)


class _SensorGenerator(SeededGenerator):
    def __init__(self, seed: int, start: float, interval: float) -> None:
        super().__init__(seed, start, interval)
        self._level = [s[2] for s in _SENSORS]
        self._i = 0

    def take(self, n: int) -> list[Any]:
        out: list[IotEntry] = []
        for _ in range(n):
            k = self._i % len(_SENSORS)
            sid, (lo, hi), rest, noise, drift = _SENSORS[k]
            # A mean-reverting walk plus the sensor's drift; the room follows a slow cycle.
            level = self._level[k]
            target = rest + drift * ((self._i // len(_SENSORS) + _PHASE) % _CYCLE)
            level += 0.2 * (target - level) + self._rng.normal(0, noise)
            if sid.startswith("room"):
                level += 0.08 * math.sin(self._i / 90.0)
            self._level[k] = level
            out.append(IotEntry.model_construct(timestamp=self._t, sid=sid,
                                                val=round(level, 2), lo=lo, hi=hi))
            self._i += 1
            if k == len(_SENSORS) - 1:
                self._t += self._interval  # all sensors report at the same instant
        return out


class Iot(StreamType):
    name = "iot"
    title = "IoT sensors"
    entry_model = IotEntry
    stats_model = IotStats
    plot = "app.ui.plots.iot:IotPlot"
    generator_class = _SensorGenerator
    csv_aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "sid": ("sensor", "sensorid", "id", "device"),
        "val": ("value", "reading"), "lo": ("low", "min"), "hi": ("high", "max")}
    role = "a sensor engineer"
    describe = ("Sensor readings: sid is the sensor, val its value, lo and hi the band it "
                "must stay in.")
    questions = ("Is any value outside its lo to hi band? Answer yes or no.",
                 "Is boiler-1 rising? Answer yes or no.")
    unit = "readings"

    @classmethod
    def _compact_fields(cls, entry: Entry, previous: Entry | None) -> list[str]:
        # "boiler-1 70.12 60..80": sensor, value, then its band (kept on every line: the
        # sensors take turns, and a breach is read against the line's own band).
        return [str(entry["sid"]), fmt_sig(entry["val"]),
                f"{fmt_sig(entry['lo'])}..{fmt_sig(entry['hi'])}"]

    @classmethod
    def _stats(cls, entries: Sequence[Entry]) -> dict[str, Any]:
        if not entries:
            return {"last_sensor": "", "last_value": 0.0, "min_value": 0.0,
                    "max_value": 0.0, "avg_value": 0.0, "threshold_breaches": 0,
                    "breach_rate": 0.0}
        values = [e["val"] for e in entries]
        breaches = sum(1 for e in entries if is_breach(e["val"], e["lo"], e["hi"]))
        return {
            "last_sensor": entries[-1]["sid"], "last_value": values[-1],
            "min_value": min(values), "max_value": max(values), "avg_value": mean(values),
            "threshold_breaches": breaches, "breach_rate": breaches / len(entries),
        }

    @classmethod
    def _stats_rows(cls, stats: StatsModel) -> list[tuple[str, str]]:
        assert isinstance(stats, IotStats)
        return [
            ("last", f"{stats.last_sensor} = {show(stats.last_value)}"),
            ("min / avg / max", f"{show(stats.min_value)} / {show(stats.avg_value)} / "
                                f"{show(stats.max_value)}"),
            ("breaches", f"{stats.threshold_breaches or 0:,} "
                         f"({show((stats.breach_rate or 0) * 100, 1)} %)"),
        ]
