"""Streaming ingest: push, status, data_version, validation, drops, window, full context."""

from __future__ import annotations

import httpx

from tests.localserver.conftest import Api, assert_error, candles


def test_push_ingests_and_bumps_data_version(api: Api, http: httpx.Client) -> None:
    sid = api.init(prompt="Prices:\n")["session_id"]
    before = api.state(sid)
    ack = api.push(sid, candles(3))
    assert ack == {"pushed": 3, "dropped": 0, "queue_size": ack["queue_size"],
                   "queue_capacity": 4096, "total_enqueued": 3, "total_dropped": 0}
    status = api.wait_ingested(sid, 3)
    assert set(status) == {"type", "streaming", "statistics", "data"}
    assert status["type"] == "ohlcv"
    assert set(status["streaming"]) == {"initialized", "running", "error", "queue_size",
                                        "queue_capacity", "window_size", "process_interval_us",
                                        "error_message", "last_drop_reason"}
    assert status["streaming"]["error"] is False and status["streaming"]["error_message"] is None
    stats = status["statistics"]
    assert stats["items_processed"] == 3 and stats["batches_processed"] >= 1
    assert stats["total_process_time_us"] > 0 and stats["avg_process_time_us"] > 0
    data = status["data"]
    assert data["initialized"] is True and data["data_count"] == 3
    state = api.state(sid)
    assert data["pos_next"] == state["pos_next"]
    assert data["total_data_tokens"] == state["n_tokens"] - before["n_tokens"]
    assert state["data_region"] == {"start": before["n_tokens"], "end": state["n_tokens"]}
    # Compact rendering: time of day and symbol first, then offsets, moves from the open
    # and volume in k (app/streams/rendering.py).
    assert state["context_text"].endswith(
        "20:53:20 AAPL O100 H+1.5 L-1 C+.5 V1k\n+60 O101 H+1.5 L-1 C+.5 V1.01k\n"
        "+60 O102 H+1.5 L-1 C+.5 V1.02k\n")
    assert state["last_inject_us"] > 0
    versions = api.flash_list(sid)["current_data_version"]
    assert versions >= 1
    api.push_wait(sid, candles(2, start=200))
    assert api.flash_list(sid)["current_data_version"] > versions
    assert api.state(sid)["data_count"] == 5


def test_bad_entry_names_index_and_field_and_batch_is_all_or_nothing(
        api: Api, http: httpx.Client) -> None:
    sid = api.init()["session_id"]
    batch = candles(3)
    del batch[2]["h"]
    r = http.post(f"/v1/sessions/{sid}/stream/push", json={"data": batch})
    err = assert_error(r, 422, param="data[2].h")
    assert "data[2]" in err["message"] and "'h'" in err["message"]
    batch = candles(2)
    batch[1]["v"] = "lots"
    assert_error(http.post(f"/v1/sessions/{sid}/stream/push", json={"data": batch}), 422,
                 param="data[1].v")
    assert_error(http.post(f"/v1/sessions/{sid}/stream/push", json={"data": [1]}), 422,
                 param="data[0]")
    assert_error(http.post(f"/v1/sessions/{sid}/stream/push", json={"data": {"o": 1}}), 422,
                 param="data")
    status = api.status(sid)
    assert status["statistics"]["total_enqueued"] == 0
    assert status["streaming"]["queue_size"] == 0


def test_entries_must_match_the_session_type(api: Api, http: httpx.Client) -> None:
    sid = api.init(type="event")["session_id"]
    good = {"src": "fw", "sev": 3, "cat": "net", "cnt": 2}
    assert api.push(sid, [good])["pushed"] == 1
    r = http.post(f"/v1/sessions/{sid}/stream/push",
                  json={"data": [good, {"src": "fw", "sev": 2.5, "cat": "x", "cnt": 1}]})
    assert_error(r, 422, param="data[1].sev")
    r = http.post(f"/v1/sessions/{sid}/stream/push", json={"data": candles(1)})
    assert_error(r, 422, param="data[0].src")
    assert api.status(sid)["statistics"]["total_enqueued"] == 1


def test_full_ring_drops_and_full_context_is_a_clear_4xx(api: Api, http: httpx.Client) -> None:
    """A 128-token session fills after a few entries; the ring holds 4096 entries."""
    sid = api.init(context=128)["session_id"]
    ack = api.push(sid, candles(4100))
    assert ack["pushed"] == 4096 and ack["dropped"] == 4
    assert ack["total_dropped"] == 4
    status = api.wait_ingested(sid, 4096)
    assert status["streaming"]["error"] is True
    assert "full" in status["streaming"]["error_message"]
    assert status["statistics"]["items_processed"] == 4096
    assert status["statistics"]["total_dropped"] > 4
    state = api.state(sid)
    assert 0 < state["data_count"] < 10 and state["n_tokens"] <= 128
    err = assert_error(http.post(f"/v1/sessions/{sid}/stream/push",
                                 json={"data": candles(1)}), 400)
    assert err["code"] == "context_length_exceeded"
    r = http.post(f"/v1/sessions/{sid}/append", json={"text": "word " * 200})
    assert assert_error(r, 400)["code"] == "context_length_exceeded"
    # The session keeps serving what it holds.
    assert api.http.get(f"/v1/sessions/{sid}/stats").json()["count"] == state["data_count"]
    assert api.state(sid)["n_tokens"] == state["n_tokens"]


def test_window_slides_instead_of_failing(api: Api) -> None:
    info = api.init(prompt="Window:\n", window_size=3)
    sid = info["session_id"]
    http_mark = api.http.post(f"/v1/sessions/{sid}/mark_prefix", json={}).json()
    api.push_wait(sid, candles(2))
    api.push_wait(sid, candles(3, start=500))
    state = api.state(sid)
    assert state["data_count"] == 3
    assert state["data_region"]["window_size"] == 3
    assert state["data_region"]["start"] == http_mark["prefix_end"]
    text = state["context_text"]
    assert text.startswith("Window:\n")
    assert "O100 " not in text and "O101 " not in text
    assert "O500 " in text and "O502 " in text
    assert api.http.get(f"/v1/sessions/{sid}/stats").json()["count"] == 3


def test_window_slides_when_the_context_fills(api: Api) -> None:
    sid = api.init(prompt="Tight:\n", context=256, window_size=1000)["session_id"]
    api.push_wait(sid, candles(12))
    state = api.state(sid)
    assert 0 < state["data_count"] < 12
    assert state["n_tokens"] <= 256 - 64
    assert "O111 " in state["context_text"] and "O100 " not in state["context_text"]
    assert api.status(sid)["streaming"]["error"] is False
    # Sliding re-positions the remaining tokens; the session still answers.
    assert api.generate(sid, prompt="\nLast close:", max_tokens=3)["n_tokens"] > 0


def test_mark_prefix_freezes_earlier_entries_against_sliding(api: Api) -> None:
    sid = api.init(prompt="Frozen:\n", window_size=2)["session_id"]
    api.push_wait(sid, candles(2, start=300))
    api.http.post(f"/v1/sessions/{sid}/mark_prefix", json={})
    api.push_wait(sid, candles(3, start=700))
    text = api.state(sid)["context_text"]
    assert "O300 " in text and "O301 " in text  # before the prefix mark: never slid out
    assert "O700 " not in text and "O701 " in text and "O702 " in text
