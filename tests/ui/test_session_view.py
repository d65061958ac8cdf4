"""A session view against the real server: fed candles reach the chart's store, flash answers
show with confidences, an external session is observe-only, the feed pauses/resumes/changes
speed and flash queries are added and removed from the view."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.core.session import Mode
from app.feeds import SyntheticFeed
from app.ui.flash_panel import C_CONF, C_STATE, C_VERSION, GAP_ROLE
from app.ui.main_window import MainWindow
from tests.core.live import small_spec


def test_fed_candles_reach_the_views_store_and_flash_panel_shows_answers(
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
    assert item.text(C_STATE).split(" ·")[0] in ("fresh", "stale")


def test_external_session_feed_is_observe_only(window: MainWindow, qtbot: Any, arun: Any) -> None:
    w = window
    d = w.dashboard
    other = arun(d.client.sessions.create(type="ohlcv", prompt="x", context=1024))
    try:
        qtbot.waitUntil(lambda: other.session_id in d.sessions.rows, timeout=10_000)
        w.open_session(other.session_id)  # at once: its type may not be read yet
        qtbot.waitUntil(lambda: w.view_for(other.session_id) is not None, timeout=15_000)
        view = w.view_for(other.session_id)
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


def test_feed_pause_resume_speed_and_flash_add_remove_from_the_view(
    window: MainWindow, qtbot: Any, arun: Any
) -> None:
    w = window
    d = w.dashboard
    view = arun(w.create_session(small_spec(flash=())))
    model = view.model
    feed = SyntheticFeed(seed=4, speed=20.0, count=30)
    view.attach_feed(feed, "synthetic")
    qtbot.waitUntil(lambda: model.feed.emitted >= 1 and view.pause_btn.isEnabled(),
                    timeout=10_000)
    assert view.start_btn.text() == "Stop feed" and not view.source.isEnabled()
    qtbot.mouseClick(view.pause_btn, Qt.MouseButton.LeftButton)
    assert feed.paused and model.feed.paused
    qtbot.waitUntil(lambda: view.pause_btn.text() == "Resume"
                    and "paused" in view.feed_label.text(), timeout=5_000)
    held = model.feed.emitted
    # At 20 candles/s about 20 would come in the second or so that three polls take.
    polls = d.sessions.polls
    qtbot.waitUntil(lambda: d.sessions.polls >= polls + 3, timeout=10_000)
    assert model.feed.emitted == held < 30
    view.speed.setValue(50.0)
    assert feed.speed == 50.0 and model.feed.speed == 50.0
    qtbot.mouseClick(view.pause_btn, Qt.MouseButton.LeftButton)
    assert not feed.paused
    qtbot.waitUntil(lambda: model.feed.done and len(model.store) == 30, timeout=30_000)
    qtbot.waitUntil(lambda: "done, 30 of" in view.feed_label.text()
                    or "done, 30 candles" in view.feed_label.text(), timeout=5_000)
    # Flash queries: add one from the panel, then remove it; the server agrees each time.
    view.flash.new_query.setText("Is the close above the open?")
    qtbot.mouseClick(view.flash.add_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.flash.query_count() == 1, timeout=20_000)
    listing = arun(d.client.sessions.list_flash(model.session_id))
    assert [q.query for q in listing.flash_queries] == ["Is the close above the open?"]
    view.flash.tree.setCurrentItem(view.flash.tree.topLevelItem(0))
    qtbot.mouseClick(view.flash.remove_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.flash.query_count() == 0, timeout=20_000)
    assert arun(d.client.sessions.list_flash(model.session_id)).count == 0


def test_a_session_opened_before_its_type_is_listed_gets_its_own_plot(
        window: MainWindow, qtbot: Any, arun: Any) -> None:
    d = window.dashboard
    other = arun(d.client.sessions.create(type="vitals", prompt="x", context=1024))
    try:
        qtbot.waitUntil(lambda: other.session_id in d.sessions.rows, timeout=10_000)
        window.open_session(other.session_id)
        qtbot.waitUntil(lambda: window.view_for(other.session_id) is not None, timeout=15_000)
        assert window.view_for(other.session_id).model.type == "vitals"  # not the default
    finally:
        arun(d.client.sessions.delete(other.session_id))
