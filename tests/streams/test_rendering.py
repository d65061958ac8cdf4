"""Compact rendering (app/streams/rendering.py): shorter lines that still say everything.

The bundled server decodes these lines into a session; a dashboard that keeps the previous
entry renders the same text with the same pure function. OHLCV prices are read back from
the compact lines alone and must equal the data; every other type's values must appear.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from app.streams import registry
from app.streams.base import fmt_delta, fmt_offset, fmt_si, fmt_sig
from app.streams.rendering import MODES, render, render_lines

START = 1_733_000_000


def _entries(name: str, n: int) -> list[dict[str, Any]]:
    stream = registry.get(name)
    gen = stream.generator(seed=5, start=START, interval=stream.interval, **stream.demo_params)
    return [stream.to_wire(e) for e in gen.take(n)]


def test_number_formats() -> None:
    assert fmt_sig(150.70000000000002) == "150.7" and fmt_sig(100.123456789) == "100.123"
    assert fmt_delta(150.8, 150.2) == "+.6" and fmt_delta(149.95, 150.2) == "-.25"
    assert fmt_delta(150.2, 150.2) == "+0" and fmt_delta(152.5, 150) == "+2.5"
    assert [fmt_si(v) for v in (950, 1523, 1_200_000, 999_950, 2.5e9)] == [
        "950", "1.52k", "1.2M", "1M", "2.5B"]
    assert fmt_offset(START + 60, START) == "+60" and fmt_offset(START, START) is None
    assert fmt_offset(START + 2.397, START) == "+2.4" and fmt_offset(START - 5, START) == "-5"
    assert fmt_offset(START, None) == "20:53:20" and fmt_offset(None, START) is None


@pytest.mark.parametrize("name", registry.names())
def test_compact_lines_are_shorter_one_line_each_and_pure(name: str) -> None:
    entries = _entries(name, 120)
    full = render_lines(name, entries, mode="full")
    compact = render_lines(name, entries)
    assert all(line.endswith("\n") and "\n" not in line[:-1] for line in compact)
    assert sum(map(len, compact)) < 0.85 * sum(map(len, full))
    # Pure: a line depends on its entry and the previous one only, so a client rendering
    # any single entry (say, the newest) gets the line the server decoded for it.
    pairs = list(zip([None, *entries[:-1]], entries, strict=True))
    assert [render(name, e, p) for p, e in reversed(pairs)] == compact[::-1]
    assert compact[0].startswith("20:53:20 ")  # the first entry carries the time of day
    assert render(name, entries[0], mode="full") == registry.get(name).render(entries[0])


def _read_ohlcv(lines: list[str]) -> list[tuple[float, float, float, float]]:
    """Prices back from compact lines: each open is given or the previous close."""
    out: list[tuple[float, float, float, float]] = []
    for line in lines:
        fields = dict(re.findall(r"\b([OHLCV])([-+]?[\d.]+[kMB]?)", line))
        o = float(fields["O"]) if "O" in fields else out[-1][3]
        out.append((o, o + float(fields["H"]), o + float(fields["L"]), o + float(fields["C"])))
    return out


def test_ohlcv_prices_read_back_exactly_and_the_symbol_only_when_it_changes() -> None:
    entries = _entries("ohlcv", 300)
    for i, e in enumerate(entries):
        e["sym"] = "AAPL" if i < 150 else "MSFT"
    lines = render_lines("ohlcv", entries)
    for got, e in zip(_read_ohlcv(lines), entries, strict=True):
        assert got == pytest.approx((e["o"], e["h"], e["l"], e["c"]), abs=1e-6)
    assert [i for i, line in enumerate(lines) if "AAPL" in line or "MSFT" in line] == [0, 150]
    # Bars open at the previous close: the open is left out, except at each 10 minutes of
    # data time (an absolute price in every window of the session) and a new symbol.
    with_open = [i for i, line in enumerate(lines) if " O" in f" {line}"]
    assert 0 in with_open and 150 in with_open and len(with_open) < len(lines) // 5
    assert max(b - a for a, b in itertools.pairwise(with_open)) <= 10
    assert lines[1].startswith("+60 H")


@pytest.mark.parametrize("name", ["iot", "vitals", "event", "spatial"])
def test_every_value_is_on_its_line(name: str) -> None:
    stream = registry.get(name)
    entries = _entries(name, 30)
    for line, e in zip(render_lines(name, entries), entries, strict=True):
        for spec in stream.required():
            value = e[spec.name]
            shown = str(value) if spec.kind == "str" else fmt_sig(value)
            assert shown in line, (spec.name, line)


def test_an_unknown_mode_is_refused() -> None:
    assert MODES == ("compact", "full")
    with pytest.raises(ValueError, match="unknown rendering"):
        render("ohlcv", _entries("ohlcv", 1)[0], mode="short")  # type: ignore[arg-type]
