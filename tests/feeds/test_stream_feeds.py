"""Synthetic data and CSV replay for every stream type: what the server accepts, what a
user would believe, and bad CSV rows reported by line."""

from __future__ import annotations

import asyncio
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.feeds import CsvFormatError, CsvReplayFeed, SyntheticFeed, parse_entries_csv
from app.localserver.entries import validate_entries
from app.streams import registry

START = 1_700_000_000.0
NON_OHLCV = tuple(n for n in registry.names() if n != "ohlcv")


def take(feed: SyntheticFeed | CsvReplayFeed, n: int) -> list[Any]:
    async def run() -> list[Any]:
        out: list[Any] = []
        async for entry in feed:
            out.append(entry)
            if len(out) == n:
                break
        return out

    return asyncio.run(asyncio.wait_for(run(), 20))


def wire(name: str, n: int, seed: int = 1) -> list[dict[str, Any]]:
    feed = SyntheticFeed(stream=name, seed=seed, start=START, interval=1.0, speed=math.inf)
    return [feed.stream.to_wire(e) for e in take(feed, n)]


@pytest.mark.parametrize("name", registry.names())
def test_synthetic_entries_are_valid_repeatable_and_in_time_order(name: str) -> None:
    first, again, other = wire(name, 600), wire(name, 600), wire(name, 600, seed=2)
    assert validate_entries(name, first)  # the server takes every one
    assert first == again and first != other
    times = [e["timestamp"] for e in first]
    assert times[0] == START and all(b >= a for a, b in itertools.pairwise(times))


def test_a_sensor_drifts_out_of_its_band_the_others_stay_mostly_inside() -> None:
    entries = wire("iot", 3000)
    by_sensor: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_sensor.setdefault(e["sid"], []).append(e)
    assert len(by_sensor) >= 3
    rates = {sid: np.mean([not e["lo"] <= e["val"] <= e["hi"] for e in es])
             for sid, es in by_sensor.items()}
    drifting = max(rates, key=rates.__getitem__)
    assert rates[drifting] > 0.15
    assert all(rate < 0.1 for sid, rate in rates.items() if sid != drifting)
    values = np.array([e["val"] for e in by_sensor[drifting]])
    assert values.max() - values.min() > 15  # it climbs, and drops back when serviced


def test_a_patients_heart_rate_climbs_into_tachycardia_with_fever() -> None:
    entries = wire("vitals", 900)
    hr = np.array([e["hr"] for e in entries])
    assert 55 < hr[:100].mean() < 90 and hr[-100:].mean() > 100
    assert max(e["temp"] for e in entries[-100:]) >= 38.0
    assert all(e["bp_s"] > e["bp_d"] and 80 <= e["spo2"] <= 100 for e in entries)


def test_a_vehicle_moves_turns_and_its_speed_varies() -> None:
    entries = wire("spatial", 400)
    xy = np.array([(e["x"], e["y"]) for e in entries])
    assert np.linalg.norm(xy[-1] - xy[0]) > 500  # it went somewhere
    hdg = np.array([e["hdg"] for e in entries])
    turns = np.abs((np.diff(hdg) + 180) % 360 - 180)
    assert (turns > 5).sum() > 10 and np.median(turns) < 2  # straight runs and real turns
    spd = [e["spd"] for e in entries]
    assert min(spd) < 9 and max(spd) > 12


def test_events_come_in_bursts_from_one_source() -> None:
    entries = wire("event", 2000)
    assert len({e["src"] for e in entries}) >= 4
    t = np.array([e["timestamp"] for e in entries])
    gaps = np.diff(t)
    assert np.percentile(gaps, 10) < 0.6 and np.percentile(gaps, 90) > 1.0
    critical = [e for e in entries if e["sev"] >= 4]
    assert critical
    # In a burst, one source's severe events follow each other.
    runs = sum(1 for a, b in itertools.pairwise(critical) if a["src"] == b["src"])
    assert runs > len(critical) / 2


CSV = {
    "iot": ("Time,Sensor,Value,Low,High\n"
            "2024-01-02T09:30:00Z,boiler-1,70.5,60,80\n"
            "2024-01-02T09:30:00Z,pump-2,3.1,2,4\n"
            "2024-01-02T09:30:01Z,boiler-1,abc,60,80\n"       # line 4: not a number
            "2024-01-02T09:30:02Z,,71,60,80\n"                # line 5: empty sensor
            "2024-01-02T09:30:03Z,boiler-1,81.5,60,80\n"
            "2024-01-02T09:29:00Z,boiler-1,70,60,80\n"        # line 7: back in time
            "2024-01-02T09:30:04Z,boiler-1\n"),                # line 8: too few fields
    "vitals": ("timestamp;HR;bp_s;bp_d;SpO2;Temperature\n"
               "1700000000;72;120;80;98;36.8\n"
               "1700000001;75;;80;98;36.9\n"                  # line 3: empty systolic
               "1700000002;true;120;80;98;36.9\n"             # line 4: not a number
               "1700000003;104;130;85;96;38.2\n"),
    "spatial": ("ts,x,y,z,speed,heading\n"
                "1700000000,0,0,10,5,90\n"
                "1700000001,5,0,10,5,90\n"
                "1700000002,10,0,10,inf,90\n"                 # line 4: not finite
                "1700000003,15,0,10,5,95\n"),
    "event": ("datetime\tsource\tseverity\tcategory\tcount\n"
              "2024-01-02 09:30\tauth\t1\tlogin_failed\t2\n"
              "2024-01-02 09:31\tdb\t4.5\tdeadlock\t1\n"        # line 3: severity not whole
              "2024-01-02 09:32\tdb\t4\tdeadlock\t3\n"),
}
GOOD = {"iot": 3, "vitals": 2, "spatial": 3, "event": 2}
BAD_LINES = {"iot": [4, 5, 7, 8], "vitals": [3, 4], "spatial": [4], "event": [3]}


@pytest.mark.parametrize("name", NON_OHLCV)
def test_csv_of_each_type_plays_good_rows_and_reports_bad_ones_by_line(
    name: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_text(CSV[name], encoding="utf-8")
    table = parse_entries_csv(path, registry.get(name))
    assert [p.line for p in table.problems] == BAD_LINES[name]
    assert all(p.message for p in table.problems)
    feed = CsvReplayFeed(path, math.inf, stream=name)
    played = take(feed, 10)
    assert len(played) == feed.total == GOOD[name]
    entries = [feed.stream.to_wire(e) for e in played]
    assert validate_entries(name, entries) == entries  # exactly what the server keeps


def test_csv_columns_and_time_parse_as_the_readme_says(tmp_path: Path) -> None:
    path = tmp_path / "iot.csv"
    path.write_text(CSV["iot"], encoding="utf-8")
    first = parse_entries_csv(path, registry.get("iot")).entries[0].to_entry()
    assert first == {"timestamp": 1704187800.0, "sid": "boiler-1", "val": 70.5, "lo": 60.0,
                     "hi": 80.0}
    events = tmp_path / "event.csv"
    events.write_text(CSV["event"], encoding="utf-8")
    e = parse_entries_csv(events, registry.get("event")).entries[-1]
    assert (e.sev, e.cnt) == (4, 3) and isinstance(e.sev, int)


def test_csv_without_a_required_column_names_it(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("time,hr,bp_s,spo2,temp\n1700000000,72,120,98,36.8\n", encoding="utf-8")
    with pytest.raises(CsvFormatError, match="bp_d"):
        parse_entries_csv(path, registry.get("vitals"))


def test_a_feed_of_one_type_cannot_feed_a_session_of_another() -> None:
    from app.core.link import SessionRunner
    from app.core.session import Mode, SessionModel

    runner = SessionRunner(client=None, model=SessionModel("s", "iot", mode=Mode.OWNED))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vitals feed cannot feed a iot session"):
        runner.attach_feed(SyntheticFeed(stream="vitals", count=1), "wrong")
