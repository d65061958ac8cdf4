"""Statistics over the entries currently in a session's window, one function per stream type.

Thresholds the protocol leaves open (documented in README): tachycardia hr > 100,
bradycardia hr < 60, hypoxia spo2 < 90, fever temp >= 38.0 C (>= 100.4 when the value
looks like Fahrenheit, i.e. > 50); an "episode" is a run of consecutive entries meeting the
condition. A critical event has sev >= 4. Turn rate is degrees per second when both
timestamps are present and increase, else degrees per entry.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .entries import fmt_number

Entry = dict[str, Any]
CRITICAL_SEVERITY = 4


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _episodes(flags: Sequence[bool]) -> int:
    count, previous = 0, False
    for flag in flags:
        if flag and not previous:
            count += 1
        previous = flag
    return count


def ohlcv_stats(entries: Sequence[Entry]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "ohlcv", "count": len(entries)}
    if not entries:
        return out | {"max_high": 0.0, "max_high_index": 0, "min_low": 0.0,
                      "min_low_index": 0, "max_volume": 0.0, "first_open": 0.0,
                      "last_close": 0.0, "avg_close": 0.0, "change": 0.0, "change_pct": 0.0}
    highs = [e["h"] for e in entries]
    lows = [e["l"] for e in entries]
    max_high_index = max(range(len(highs)), key=highs.__getitem__)
    min_low_index = min(range(len(lows)), key=lows.__getitem__)
    first_open, last_close = entries[0]["o"], entries[-1]["c"]
    change = last_close - first_open
    return out | {
        "max_high": highs[max_high_index],
        "max_high_index": max_high_index,
        "min_low": lows[min_low_index],
        "min_low_index": min_low_index,
        "max_volume": max(e["v"] for e in entries),
        "first_open": first_open,
        "last_close": last_close,
        "avg_close": _mean([e["c"] for e in entries]),
        "change": change,
        "change_pct": (change / first_open * 100.0) if first_open else 0.0,
    }


def iot_stats(entries: Sequence[Entry]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "iot", "count": len(entries)}
    if not entries:
        return out | {"last_sensor": "", "last_value": 0.0, "min_value": 0.0,
                      "max_value": 0.0, "avg_value": 0.0, "threshold_breaches": 0,
                      "breach_rate": 0.0}
    values = [e["val"] for e in entries]
    breaches = sum(1 for e in entries if e["val"] < e["lo"] or e["val"] > e["hi"])
    return out | {
        "last_sensor": entries[-1]["sid"],
        "last_value": values[-1],
        "min_value": min(values),
        "max_value": max(values),
        "avg_value": _mean(values),
        "threshold_breaches": breaches,
        "breach_rate": breaches / len(entries),
    }


def _heading_delta(a: float, b: float) -> float:
    return abs((b - a + 180.0) % 360.0 - 180.0)


def spatial_stats(entries: Sequence[Entry]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "spatial", "count": len(entries)}
    if not entries:
        return out | {"current_position": {"x": 0.0, "y": 0.0, "z": 0.0},
                      "current_speed": 0.0, "current_heading": 0.0, "total_distance": 0.0,
                      "max_speed": 0.0, "avg_speed": 0.0, "max_turn_rate": 0.0}
    last = entries[-1]
    distance = 0.0
    max_turn = 0.0
    for prev, cur in itertools.pairwise(entries):
        distance += math.dist((prev["x"], prev["y"], prev["z"]), (cur["x"], cur["y"], cur["z"]))
        turn = _heading_delta(prev["hdg"], cur["hdg"])
        t0, t1 = prev.get("timestamp"), cur.get("timestamp")
        if t0 is not None and t1 is not None and t1 > t0:
            turn /= t1 - t0
        max_turn = max(max_turn, turn)
    speeds = [e["spd"] for e in entries]
    return out | {
        "current_position": {"x": last["x"], "y": last["y"], "z": last["z"]},
        "current_speed": last["spd"],
        "current_heading": last["hdg"],
        "total_distance": distance,
        "max_speed": max(speeds),
        "avg_speed": _mean(speeds),
        "max_turn_rate": max_turn,
    }


def event_stats(entries: Sequence[Entry]) -> dict[str, Any]:
    per_category: Counter[str] = Counter()
    for e in entries:
        per_category[e["cat"]] += e["cnt"]
    # Counter.most_common keeps first-seen order among ties.
    top = per_category.most_common(1)
    return {
        "type": "event",
        "count": len(entries),
        "total_event_count": sum(e["cnt"] for e in entries),
        "max_severity": max((e["sev"] for e in entries), default=0),
        "critical_events": sum(1 for e in entries if e["sev"] >= CRITICAL_SEVERITY),
        "unique_sources": len({e["src"] for e in entries}),
        "unique_categories": len(per_category),
        "top_category": top[0][0] if top else "",
        "top_category_count": top[0][1] if top else 0,
    }


def mean_arterial_pressure(systolic: float, diastolic: float) -> float:
    return (systolic + 2.0 * diastolic) / 3.0


def _is_fever(temp: float) -> bool:
    return temp >= (100.4 if temp > 50 else 38.0)


def vitals_stats(entries: Sequence[Entry]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "vitals", "count": len(entries)}
    alerts = {
        "tachycardia_episodes": _episodes([e["hr"] > 100 for e in entries]),
        "bradycardia_episodes": _episodes([e["hr"] < 60 for e in entries]),
        "hypoxia_episodes": _episodes([e["spo2"] < 90 for e in entries]),
        "fever_episodes": _episodes([_is_fever(e["temp"]) for e in entries]),
    }
    if not entries:
        return out | {"current": {"hr": 0.0, "bp": "0/0", "spo2": 0.0, "temp": 0.0,
                                  "map": 0.0},
                      "avg_heart_rate": 0.0, "avg_map": 0.0, "min_spo2": 0.0, "max_temp": 0.0,
                      "alerts": alerts}
    last = entries[-1]
    return out | {
        "current": {
            "hr": last["hr"],
            "bp": f"{fmt_number(last['bp_s'])}/{fmt_number(last['bp_d'])}",
            "spo2": last["spo2"],
            "temp": last["temp"],
            "map": mean_arterial_pressure(last["bp_s"], last["bp_d"]),
        },
        "avg_heart_rate": _mean([e["hr"] for e in entries]),
        "avg_map": _mean([mean_arterial_pressure(e["bp_s"], e["bp_d"]) for e in entries]),
        "min_spo2": min(e["spo2"] for e in entries),
        "max_temp": max(e["temp"] for e in entries),
        "alerts": alerts,
    }


STATS: dict[str, Callable[[Sequence[Entry]], dict[str, Any]]] = {
    "ohlcv": ohlcv_stats,
    "iot": iot_stats,
    "spatial": spatial_stats,
    "event": event_stats,
    "vitals": vitals_stats,
}


def compute_stats(stream_type: str, entries: Sequence[Entry]) -> dict[str, Any]:
    """Statistics of an empty window are numbers too (0, "" for names), never null: the
    protocol's clients require them. Entry values are bounded at push time, but a ratio
    (change_pct over a first open of 1e-300) can still overflow: non-finite becomes 0."""
    return _finite(STATS[stream_type](entries))


def _finite(stats: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            value = _finite(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = 0.0
        out[key] = value
    return out
