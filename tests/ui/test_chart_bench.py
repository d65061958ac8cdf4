"""The chart benchmark still runs (tiny sizes, no timing asserted): it must not rot."""

from __future__ import annotations

import pytest

from bench import chart_redraw


def test_chart_redraw_bench_prints_its_tables(qtbot, capsys: pytest.CaptureFixture[str]) -> None:
    assert chart_redraw.main(["--sizes", "3000", "--reps", "3", "--no-finplot"]) == 0
    out = capsys.readouterr().out
    assert "ours append+redraw" in out
    assert "|     3,000 | newest 120 |" in out
    assert "CandleStore arrays" in out
    per_candle = float(
        out.split("CandleStore arrays (allocated, incl. growth slack) |")[1].split("|")[0]
    )
    assert per_candle <= 64
