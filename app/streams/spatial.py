"""Positions of a moving object: x, y, z, speed and heading (degrees, 0 = +y, 90 = +x).

The plot shows the x/y path from above with the current position and heading, and the
speed over time below. Turn rate follows the server: degrees per second when both
timestamps are present and increase, else degrees per entry.
"""

from __future__ import annotations

import itertools
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
    fmt_sig,
    mean,
    show,
)

__all__ = ["Spatial", "SpatialEntry", "SpatialStats", "heading_delta"]


class SpatialEntry(EntryModel):
    x: Num = Field(description="x")
    y: Num = Field(description="y")
    z: Num = Field(description="z")
    spd: Num = Field(description="speed")
    hdg: Num = Field(description="heading")


class SpatialStats(StatsModel):
    current_position: dict[str, float] | None = None
    current_speed: float | None = None
    current_heading: float | None = None
    total_distance: float | None = None
    max_speed: float | None = None
    avg_speed: float | None = None
    max_turn_rate: float | None = None


def heading_delta(a: float, b: float) -> float:
    """The smaller angle between two headings, in degrees (0..180)."""
    return abs((b - a + 180.0) % 360.0 - 180.0)


class _VehicleGenerator(SeededGenerator):
    """A vehicle on a patrol: straight runs, then a turn of 60-120 degrees; it slows into
    a turn and speeds up out of it; altitude follows gentle hills."""

    def __init__(self, seed: int, start: float, interval: float) -> None:
        super().__init__(seed, start, interval)
        self._x = self._y = 0.0
        self._hdg, self._spd, self._turn_left = 45.0, 12.0, 0.0
        self._straight = 20

    def take(self, n: int) -> list[Any]:
        rng = self._rng
        out: list[SpatialEntry] = []
        for _ in range(n):
            if self._turn_left == 0.0:
                self._straight -= 1
                if self._straight <= 0:
                    self._turn_left = float(rng.choice((-1, 1)) * rng.uniform(60, 120))
                    self._straight = int(rng.integers(15, 40))
            rate = 0.0
            if self._turn_left:
                rate = math.copysign(min(abs(self._turn_left), 15.0), self._turn_left)
                self._turn_left -= rate
                if abs(self._turn_left) < 1e-9:
                    self._turn_left = 0.0
            target = 6.0 if rate else 14.0
            self._spd = max(0.0, self._spd + 0.3 * (target - self._spd) + rng.normal(0, 0.3))
            self._hdg = (self._hdg + rate + rng.normal(0, 0.5)) % 360.0
            step = self._spd * self._interval
            rad = math.radians(self._hdg)
            self._x += step * math.sin(rad)
            self._y += step * math.cos(rad)
            z = 40.0 + 8.0 * math.sin(self._x / 300.0) + 5.0 * math.cos(self._y / 200.0)
            out.append(SpatialEntry.model_construct(
                timestamp=self._t, x=round(self._x, 1), y=round(self._y, 1), z=round(z, 1),
                spd=round(self._spd, 1), hdg=round(self._hdg, 1)))
            self._t += self._interval
        return out


class Spatial(StreamType):
    name = "spatial"
    title = "Spatial tracks"
    entry_model = SpatialEntry
    stats_model = SpatialStats
    plot = "app.ui.plots.spatial:SpatialPlot"
    generator_class = _VehicleGenerator
    csv_aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "x": ("posx", "east", "easting"), "y": ("posy", "north", "northing"),
        "z": ("posz", "alt", "altitude", "elevation"),
        "spd": ("speed", "velocity", "v"), "hdg": ("heading", "course", "bearing")}
    role = "a fleet dispatcher"
    describe = ("Vehicle positions: x and y in metres, z the altitude, spd the speed in m/s, "
                "hdg the heading in degrees.")
    questions = ("Is the vehicle turning? Answer yes or no.",
                 "Is the speed above 10? Answer yes or no.")
    unit = "positions"

    @classmethod
    def _compact_fields(cls, entry: Entry, previous: Entry | None) -> list[str]:
        # "1234.5,-56.7,40.1 spd6.2 hdg90.5": the position as one coordinate triple.
        position = ",".join(fmt_sig(entry[k]) for k in ("x", "y", "z"))
        return [position, f"spd{fmt_sig(entry['spd'])}", f"hdg{fmt_sig(entry['hdg'])}"]

    @classmethod
    def _stats(cls, entries: Sequence[Entry]) -> dict[str, Any]:
        if not entries:
            return {"current_position": {"x": 0.0, "y": 0.0, "z": 0.0},
                    "current_speed": 0.0, "current_heading": 0.0, "total_distance": 0.0,
                    "max_speed": 0.0, "avg_speed": 0.0, "max_turn_rate": 0.0}
        distance = max_turn = 0.0
        for prev, cur in itertools.pairwise(entries):
            distance += math.dist((prev["x"], prev["y"], prev["z"]),
                                  (cur["x"], cur["y"], cur["z"]))
            turn = heading_delta(prev["hdg"], cur["hdg"])
            t0, t1 = prev.get("timestamp"), cur.get("timestamp")
            if t0 is not None and t1 is not None and t1 > t0:
                turn /= t1 - t0
            max_turn = max(max_turn, turn)
        last = entries[-1]
        speeds = [e["spd"] for e in entries]
        return {
            "current_position": {"x": last["x"], "y": last["y"], "z": last["z"]},
            "current_speed": last["spd"], "current_heading": last["hdg"],
            "total_distance": distance, "max_speed": max(speeds), "avg_speed": mean(speeds),
            "max_turn_rate": max_turn,
        }

    @classmethod
    def _stats_rows(cls, stats: StatsModel) -> list[tuple[str, str]]:
        assert isinstance(stats, SpatialStats)
        pos = stats.current_position or {}
        return [
            ("at", f"x {show(pos.get('x'), 1)} · y {show(pos.get('y'), 1)} · "
                   f"z {show(pos.get('z'), 1)}"),
            ("speed / heading", f"{show(stats.current_speed, 1)} · "
                                f"{show(stats.current_heading, 0)}°"),
            ("avg / max speed", f"{show(stats.avg_speed, 1)} / {show(stats.max_speed, 1)}"),
            ("distance", show(stats.total_distance, 1)),
            ("max turn rate", f"{show(stats.max_turn_rate, 1)}°/s"),
        ]
