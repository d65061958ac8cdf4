"""Per-type statistics over the entries in the window, computed by the real server."""

from __future__ import annotations

import pytest

from tests.localserver.conftest import Api, candles


def test_ohlcv_stats(api: Api) -> None:
    sid = api.init()["session_id"]
    empty = api.http.get(f"/v1/sessions/{sid}/stats").json()
    assert empty["type"] == "ohlcv" and empty["count"] == 0
    data = candles(3)
    data[1]["h"] = 500
    data[2]["l"] = 1
    api.push_wait(sid, data)
    s = api.http.get(f"/v1/sessions/{sid}/stats").json()
    assert s == {
        "type": "ohlcv", "count": 3, "max_high": 500, "max_high_index": 1, "min_low": 1,
        "min_low_index": 2, "max_volume": 1020, "first_open": 100, "last_close": 102.5,
        "avg_close": pytest.approx(101.5), "change": 2.5, "change_pct": pytest.approx(2.5),
    }


def test_iot_stats(api: Api) -> None:
    sid = api.init(type="iot")["session_id"]
    api.push_wait(sid, [{"sid": "t1", "val": 5, "lo": 0, "hi": 10},
                        {"sid": "t1", "val": 12, "lo": 0, "hi": 10},
                        {"sid": "t2", "val": -1, "lo": 0, "hi": 10, "timestamp": 1.0}])
    s = api.http.get(f"/v1/sessions/{sid}/stats").json()
    assert s == {"type": "iot", "count": 3, "last_sensor": "t2", "last_value": -1,
                 "min_value": -1, "max_value": 12, "avg_value": pytest.approx(16 / 3),
                 "threshold_breaches": 2, "breach_rate": pytest.approx(2 / 3)}


def test_spatial_stats(api: Api) -> None:
    sid = api.init(type="spatial")["session_id"]
    api.push_wait(sid, [
        {"x": 0, "y": 0, "z": 0, "spd": 2, "hdg": 350, "timestamp": 100},
        {"x": 3, "y": 4, "z": 0, "spd": 4, "hdg": 10, "timestamp": 102},
        {"x": 3, "y": 4, "z": 12, "spd": 6, "hdg": 100, "timestamp": 103},
    ])
    s = api.http.get(f"/v1/sessions/{sid}/stats").json()
    assert s == {"type": "spatial", "count": 3,
                 "current_position": {"x": 3, "y": 4, "z": 12}, "current_speed": 6,
                 "current_heading": 100, "total_distance": pytest.approx(17.0),
                 "max_speed": 6, "avg_speed": pytest.approx(4.0),
                 "max_turn_rate": pytest.approx(90.0)}


def test_event_stats(api: Api) -> None:
    sid = api.init(type="event")["session_id"]
    api.push_wait(sid, [{"src": "fw", "sev": 2, "cat": "net", "cnt": 3},
                        {"src": "db", "sev": 5, "cat": "disk", "cnt": 1},
                        {"src": "fw", "sev": 4, "cat": "net", "cnt": 2}])
    s = api.http.get(f"/v1/sessions/{sid}/stats").json()
    assert s == {"type": "event", "count": 3, "total_event_count": 6, "max_severity": 5,
                 "critical_events": 2, "unique_sources": 2, "unique_categories": 2,
                 "top_category": "net", "top_category_count": 5}


def test_vitals_stats(api: Api) -> None:
    sid = api.init(type="vitals")["session_id"]
    api.push_wait(sid, [{"hr": 110, "bp_s": 120, "bp_d": 80, "spo2": 97, "temp": 37.0},
                        {"hr": 120, "bp_s": 130, "bp_d": 85, "spo2": 88, "temp": 38.5},
                        {"hr": 55, "bp_s": 110, "bp_d": 70, "spo2": 95, "temp": 36.8}])
    s = api.http.get(f"/v1/sessions/{sid}/stats").json()
    assert s["type"] == "vitals" and s["count"] == 3
    assert s["current"] == {"hr": 55, "bp": "110/70", "spo2": 95, "temp": 36.8,
                            "map": pytest.approx(250 / 3)}
    assert s["avg_heart_rate"] == pytest.approx(95.0)
    assert s["avg_map"] == pytest.approx((280 / 3 + 300 / 3 + 250 / 3) / 3)
    assert s["min_spo2"] == 88 and s["max_temp"] == 38.5
    assert s["alerts"] == {"tachycardia_episodes": 1, "bradycardia_episodes": 1,
                           "hypoxia_episodes": 1, "fever_episodes": 1}
