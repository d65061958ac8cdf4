"""The registry is the one definition of each stream type: the bundled server validates,
renders and computes statistics from it (app/localserver/entries.py, stats.py), and the
client's pydantic entry models refuse exactly what the server's push-time checks refuse.
(The statistics' values are checked independently against the live server in
tests/localserver/test_stats.py and tests/core/test_streams_live.py.)
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from app.api.frames import to_stats
from app.api.models import ENTRIES_BY_TYPE, STATS_BY_TYPE
from app.localserver import entries as server_entries
from app.localserver import stats as server_stats
from app.streams import registry
from app.streams.base import MAX_INT, MAX_NUMBER, MAX_TEXT, MAX_TIMESTAMP, MIN_TIMESTAMP, StreamType

TYPES = registry.names()
START = 1_700_000_000.0


def wire(stream: type[StreamType], n: int, seed: int = 3) -> list[dict[str, Any]]:
    return [stream.to_wire(e) for e in stream.generator(seed=seed, start=START,
                                                         interval=7.0).take(n)]


def test_every_type_the_server_accepts_is_registered_with_all_its_parts() -> None:
    assert TYPES == server_entries.STREAM_TYPES
    for stream in registry.all_types():
        assert STATS_BY_TYPE[stream.name] is stream.stats_model
        assert ENTRIES_BY_TYPE[stream.name] is stream.entry_model
        assert ":" in stream.plot and ":" in stream.csv_reader
        store = stream.new_store()
        assert len(store) == 0 and store.version == 0
        assert len(stream.generator(seed=1, start=START, interval=1.0).take(3)) == 3
        assert stream.questions and stream.describe in stream.demo_prompt()


@pytest.mark.parametrize("name", TYPES)
def test_every_field_has_the_protocols_bounds(name: str) -> None:
    for spec in registry.get(name).fields():
        if spec.name == "timestamp":
            assert (spec.lo, spec.hi) == (MIN_TIMESTAMP, MAX_TIMESTAMP)
        elif spec.kind == "str":
            assert spec.max_length == MAX_TEXT
        else:
            limit = MAX_INT if spec.kind == "int" else MAX_NUMBER
            assert (spec.lo, spec.hi) == (-limit, limit)


@pytest.mark.parametrize("name", TYPES)
def test_the_server_renders_and_computes_through_the_registry(name: str) -> None:
    stream = registry.get(name)
    entries = server_entries.validate_entries(name, wire(stream, 900))
    assert [f.name for f in stream.required()] == list(server_entries.REQUIRED[name])
    line = server_entries.render_entry(name, entries[0])
    assert line == stream.render(entries[0]) and line.endswith("\n") and "\n" not in line[:-1]
    stats = to_stats(server_stats.compute_stats(name, entries))
    assert type(stats) is stream.stats_model and stats.count == 900
    assert stream.stats_lines(stats)[0][1] == "900"
    empty = server_stats.compute_stats(name, [])
    assert empty["count"] == 0 and None not in empty.values()


@pytest.mark.parametrize("name", TYPES)
def test_the_client_model_refuses_what_the_server_refuses(name: str) -> None:
    stream = registry.get(name)
    good = wire(stream, 1)[0]
    assert stream.validate(good | {"extra": 1}).to_entry() == good
    for spec in stream.required():
        missing = {k: v for k, v in good.items() if k != spec.name}
        bad_values: list[Any] = [True, "x", 1e16] if spec.kind != "str" else [3, "x" * 257]
        if spec.kind == "num":
            bad_values.append(math.inf)
        for bad in bad_values:
            with pytest.raises(ValidationError):
                stream.validate(good | {spec.name: bad})
            with pytest.raises(server_entries.APIError):
                server_entries.validate_entries(name, [good | {spec.name: bad}])
        with pytest.raises(ValidationError):
            stream.validate(missing)
        if spec.kind == "int":  # an integral float is an int on the wire
            assert getattr(stream.validate(good | {spec.name: 3.0}), spec.name) == 3


@pytest.mark.parametrize("name", TYPES)
def test_store_holds_entries_in_order_and_gives_them_back(name: str) -> None:
    stream = registry.get(name)
    entries = stream.generator(seed=9, start=START, interval=5.0).take(2500)
    store = stream.new_store()
    store.extend(entries[:1000])
    store.extend(entries[1000:])
    assert len(store) == 2500 and store.last_timestamp == entries[-1].timestamp
    for i in (0, 1, 999, 1000, 2499, -1):
        assert stream.to_wire(store[i]) == stream.to_wire(entries[i])



def test_an_unknown_type_is_refused_by_name() -> None:
    with pytest.raises(registry.UnknownStreamType, match=r"'radar'.*known: ohlcv, iot"):
        registry.get("radar")
