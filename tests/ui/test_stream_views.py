"""A session view of a non-candle type against the real server: its plot draws what the
server acknowledged and the statistics panel shows what the pushed entries imply (counted
here, independently of the registry and the server)."""

from __future__ import annotations

import math
from typing import Any

from app.core.session import SessionSpec
from app.feeds import SyntheticFeed
from app.streams import registry
from app.ui.main_window import MainWindow
from app.ui.plots.iot import IotPlot

N = 18


def test_iot_view_plots_acknowledged_readings_and_shows_their_statistics(
    window: MainWindow, qtbot: Any, arun: Any
) -> None:
    iot = registry.get("iot")
    spec = SessionSpec(type="iot", prompt=iot.demo_prompt(), context=4096, window_size=60,
                       flash=iot.demo_questions()[:1], flash_max_tokens=4)
    view = arun(window.create_session(spec))
    assert isinstance(view.chart, IotPlot) and view.chart.store is view.model.store
    feed = SyntheticFeed(stream="iot", seed=2, start=1_700_000_000.0, interval=1.0,
                         speed=math.inf, count=N)
    view.attach_feed(feed, "synthetic")
    qtbot.waitUntil(lambda: view.chart.counts()["points"] == N, timeout=30_000)
    # The status text follows at most ten times a second (the view's throttle).
    qtbot.waitUntil(lambda: f"{N} readings drawn" in view.candles_chip.text(), timeout=5_000)
    pushed = [iot.to_wire(view.model.store[i]) for i in range(N)]
    breaches = sum(not e["lo"] <= e["val"] <= e["hi"] for e in pushed)
    assert view.chart.counts()["sensors"] == len({e["sid"] for e in pushed})
    assert view.chart.counts()["breaches"] == breaches
    expected = {"readings": str(N), "last": f"{pushed[-1]['sid']} = {pushed[-1]['val']:g}",
                "breaches": f"{breaches} ({breaches / N * 100:.1f} %)".replace(".0 %", " %")}

    def shown() -> bool:
        lines = dict(view.stats.lines())
        return all(lines.get(k) == v for k, v in expected.items())

    qtbot.waitUntil(shown, timeout=60_000)
    assert view.model.stats_wanted  # the visible panel asked for them
