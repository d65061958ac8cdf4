"""A session view against the real server: fed candles reach the chart's store, flash answers
show with confidences, an external session is observe-only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.core.dashboard import Dashboard
from app.core.session import Mode
from app.feeds import SyntheticFeed
from app.ui.flash_panel import C_CONF, C_STATE, C_VERSION, GAP_ROLE
from app.ui.main_window import MainWindow
from tests.core.live import small_spec
from tests.support.server import RunningServer


@pytest.fixture
def window(qtbot: Any, arun: Any, local_server: RunningServer,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
    d = Dashboard(local_server.url, poll_interval=0.5)
    w = MainWindow(d)
    qtbot.addWidget(w)
    w.resize(1400, 800)
    w.show()
    d.start()
    qtbot.waitUntil(lambda: d.server.ok, timeout=20_000)
    yield w
    for o in list(d.open):
        if o.model.owned:
            arun(d.delete_session(o.model.session_id), timeout=90)
    arun(d.stop())


def test_fed_candles_reach_chart_store_and_flash_panel_shows_answers(
    window: MainWindow, qtbot: Any, arun: Any
) -> None:
    w = window
    view = arun(w.create_session(small_spec()))
    assert w.tabs.count() == 1 and w.tabs.currentWidget() is view
    store = view.chart.store if hasattr(view.chart, "store") else view.model.store
    assert store is view.model.store
    view.attach_feed(SyntheticFeed(seed=11, speed=200.0, count=15), "synthetic")
    qtbot.waitUntil(lambda: len(view.model.store) == 15, timeout=30_000)
    qtbot.waitUntil(lambda: "15 candles drawn" in view.candles_chip.text(), timeout=5_000)
    assert "open" in view.link_chip.text()
    tree = view.flash.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 2, timeout=15_000)

    def answered() -> bool:
        items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
        return all(it.data(C_CONF, GAP_ROLE) is not None for it in items)

    qtbot.waitUntil(answered, timeout=90_000)
    item = tree.topLevelItem(0)
    assert float(item.data(C_CONF, GAP_ROLE)) >= 0
    assert item.text(C_VERSION).startswith("v")
    assert item.text(C_STATE) in ("fresh", "stale")


def test_external_session_feed_is_observe_only(window: MainWindow, qtbot: Any, arun: Any) -> None:
    w = window
    d = w.dashboard
    other = arun(d.client.sessions.create(type="ohlcv", prompt="x", context=1024))
    try:
        qtbot.waitUntil(lambda: other.session_id in d.sessions.rows, timeout=10_000)
        view = w.open_session(other.session_id)
        assert view.model.mode is Mode.EXTERNAL
        qtbot.waitUntil(lambda: view.model.link.status == "open", timeout=15_000)
        view.attach_feed(SyntheticFeed(seed=1, speed=500.0, count=10), "local csv")
        qtbot.waitUntil(lambda: len(view.model.store) == 10, timeout=10_000)
        assert view.model.mode is Mode.OBSERVE
        status = arun(d.client.sessions.stream_status(other.session_id))
        assert status.statistics.total_enqueued == 0  # observe-only: nothing was sent
        qtbot.waitUntil(lambda: "observe-only" in view.mode_chip.text(), timeout=5_000)
    finally:
        arun(d.client.sessions.delete(other.session_id))
