"""Patient vital signs: heart rate, blood pressure, SpO2, temperature.

The clinical thresholds are the server's (app/localserver/stats.py documents them): an
*episode* is a run of consecutive entries meeting a condition. The plot draws them as
bands and marks the episodes.
"""

from __future__ import annotations

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
    episodes,
    fmt_number,
    fmt_sig,
    mean,
    show,
)

__all__ = ["THRESHOLDS", "Vitals", "VitalsEntry", "VitalsStats", "is_fever"]

TACHYCARDIA_HR = 100.0  # hr above
BRADYCARDIA_HR = 60.0  # hr below
HYPOXIA_SPO2 = 90.0  # spo2 below
FEVER_C = 38.0  # temp at or above (Celsius)
FEVER_F = 100.4  # ... when the value looks like Fahrenheit (> 50)

# (alert, field, threshold, "above"/"below"): what the plot bands and marks.
THRESHOLDS = (
    ("tachycardia", "hr", TACHYCARDIA_HR, "above"),
    ("bradycardia", "hr", BRADYCARDIA_HR, "below"),
    ("hypoxia", "spo2", HYPOXIA_SPO2, "below"),
    ("fever", "temp", FEVER_C, "above"),
)


class VitalsEntry(EntryModel):
    hr: Num = Field(description="heart rate")
    bp_s: Num = Field(description="systolic")
    bp_d: Num = Field(description="diastolic")
    spo2: Num = Field(description="SpO2")
    temp: Num = Field(description="temperature")


class VitalsStats(StatsModel):
    current: dict[str, Any] | None = None
    avg_heart_rate: float | None = None
    avg_map: float | None = None
    min_spo2: float | None = None
    max_temp: float | None = None
    alerts: dict[str, int] | None = None


def mean_arterial_pressure(systolic: float, diastolic: float) -> float:
    return (systolic + 2.0 * diastolic) / 3.0


def is_fever(temp: float) -> bool:
    return temp >= (FEVER_F if temp > 50 else FEVER_C)


def alert_flags(e: Entry) -> dict[str, bool]:
    return {"tachycardia": e["hr"] > TACHYCARDIA_HR, "bradycardia": e["hr"] < BRADYCARDIA_HR,
            "hypoxia": e["spo2"] < HYPOXIA_SPO2, "fever": is_fever(e["temp"])}


class _PatientGenerator(SeededGenerator):
    """A patient who starts well; heart rate and temperature then climb (an infection),
    SpO2 dips for short spells, blood pressure follows the heart rate a little."""

    def __init__(self, seed: int, start: float, interval: float) -> None:
        super().__init__(seed, start, interval)
        self._i = 0
        self._hr, self._temp, self._spo2 = 72.0, 36.8, 97.5

    def take(self, n: int) -> list[Any]:
        rng = self._rng
        out: list[VitalsEntry] = []
        for _ in range(n):
            phase = min(1.0, max(0.0, (self._i - 40) / 200.0))  # the illness sets in
            self._hr += 0.1 * (72.0 + 48.0 * phase - self._hr) + rng.normal(0, 1.5)
            self._temp += 0.05 * (36.8 + 2.0 * phase - self._temp) + rng.normal(0, 0.03)
            dip = 7.0 if (self._i // 60) % 5 == 3 else 0.0  # a short desaturation spell
            self._spo2 += 0.2 * (97.5 - dip - self._spo2) + rng.normal(0, 0.3)
            bp_s = 118.0 + 0.35 * (self._hr - 72.0) + rng.normal(0, 3.0)
            bp_d = 76.0 + 0.15 * (self._hr - 72.0) + rng.normal(0, 2.0)
            out.append(VitalsEntry.model_construct(
                timestamp=self._t, hr=round(self._hr), bp_s=round(bp_s), bp_d=round(bp_d),
                spo2=round(min(100.0, self._spo2)), temp=round(self._temp, 1)))
            self._i += 1
            self._t += self._interval
        return out


class Vitals(StreamType):
    name = "vitals"
    title = "Patient vitals"
    entry_model = VitalsEntry
    stats_model = VitalsStats
    plot = "app.ui.plots.vitals:VitalsPlot"
    generator_class = _PatientGenerator
    csv_aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "hr": ("heartrate", "pulse", "bpm"),
        "bp_s": ("bps", "systolic", "sbp", "sys"),
        "bp_d": ("bpd", "diastolic", "dbp", "dia"),
        "spo2": ("o2", "sao2", "oxygen"), "temp": ("temperature", "t_c", "tempc")}
    role = "an intensive care nurse"
    describe = ("Vital signs: hr is the heart rate, bp_s/bp_d the blood pressure, spo2 the "
                "oxygen saturation, temp the temperature in C.")
    questions = ("Is the heart rate above 100? Answer yes or no.",
                 "Does the patient have a fever? Answer yes or no.")
    unit = "readings"

    @classmethod
    def _compact_fields(cls, entry: Entry, previous: Entry | None) -> list[str]:
        # "hr72 bp118/76 spo2 97 t36.8": names a clinician reads, run into their values.
        return [f"hr{fmt_sig(entry['hr'])}",
                f"bp{fmt_sig(entry['bp_s'])}/{fmt_sig(entry['bp_d'])}",
                f"spo2 {fmt_sig(entry['spo2'])}", f"t{fmt_sig(entry['temp'])}"]

    @classmethod
    def _stats(cls, entries: Sequence[Entry]) -> dict[str, Any]:
        flags = [alert_flags(e) for e in entries]
        alerts = {f"{name}_episodes": episodes([f[name] for f in flags])
                  for name in ("tachycardia", "bradycardia", "hypoxia", "fever")}
        if not entries:
            return {"current": {"hr": 0.0, "bp": "0/0", "spo2": 0.0, "temp": 0.0,
                                "map": 0.0},
                    "avg_heart_rate": 0.0, "avg_map": 0.0, "min_spo2": 0.0,
                    "max_temp": 0.0, "alerts": alerts}
        last = entries[-1]
        return {
            "current": {
                "hr": last["hr"],
                "bp": f"{fmt_number(last['bp_s'])}/{fmt_number(last['bp_d'])}",
                "spo2": last["spo2"], "temp": last["temp"],
                "map": mean_arterial_pressure(last["bp_s"], last["bp_d"]),
            },
            "avg_heart_rate": mean([e["hr"] for e in entries]),
            "avg_map": mean([mean_arterial_pressure(e["bp_s"], e["bp_d"]) for e in entries]),
            "min_spo2": min(e["spo2"] for e in entries),
            "max_temp": max(e["temp"] for e in entries),
            "alerts": alerts,
        }

    @classmethod
    def _stats_rows(cls, stats: StatsModel) -> list[tuple[str, str]]:
        assert isinstance(stats, VitalsStats)
        cur = stats.current or {}
        alerts = stats.alerts or {}
        return [
            ("heart rate", f"{show(cur.get('hr'), 0)} /min (avg {show(stats.avg_heart_rate, 1)})"),
            ("blood pressure", f"{cur.get('bp', '–')} (MAP {show(cur.get('map'), 0)}, "
                               f"avg {show(stats.avg_map, 0)})"),
            ("SpO2", f"{show(cur.get('spo2'), 0)} % (min {show(stats.min_spo2, 0)})"),
            ("temperature", f"{show(cur.get('temp'), 1)} (max {show(stats.max_temp, 1)})"),
            *((f"{name} episodes", str(alerts.get(f"{name}_episodes", 0)))
              for name in ("tachycardia", "bradycardia", "hypoxia", "fever")),
        ]
