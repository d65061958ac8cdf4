"""The dashboard's window tells the truth and keeps its shape (pytest-qt, real server):
switching servers with tabs open, a long reconnect reason, a squashing dock, queued
candles drawn faded, the filtered sessions count, layout and tabs restored."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel, QMessageBox

from app.core.archive import SessionArchive
from app.core.dashboard import Dashboard
from app.core.session import Mode
from app.feeds import SyntheticFeed
from app.ui.main_window import MainWindow
from app.ui.session_view import CHART_MIN_HEIGHT
from tests.core.live import small_spec
from tests.support.server import RunningServer


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Error dialogs the window raises, recorded instead of shown (a modal box would block
    the test)."""
    seen: list[str] = []

    def warning(_parent: Any, _title: str, text: str, *_a: Any, **_k: Any) -> Any:
        seen.append(text)
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", warning)
    return seen


def test_switching_servers_with_three_tabs_open_switches_cleanly(
        window: MainWindow, keyed_server: RunningServer, local_server: RunningServer,
        qtbot: Any, arun: Any, errors: list[str]) -> None:
    d = window.dashboard
    views = [arun(window.create_session(small_spec(flash=()))) for _ in range(3)]
    ids = [v.model.session_id for v in views]
    assert window.tabs.count() == 3
    size = window.size()
    window.connect_bar.url.setText(keyed_server.url)
    window.connect_to(keyed_server.url)
    qtbot.waitUntil(lambda: d.url == keyed_server.url and not d.open and not window.views,
                    timeout=20_000)
    # The bar and the status speak of the new server (it wants a key we do not have).
    qtbot.waitUntil(lambda: d.server.url == keyed_server.url and d.server.banner is not None,
                    timeout=20_000)
    assert keyed_server.url in window.connect_bar.url.text()
    assert "connected · model" not in window.connect_bar.status.text()
    assert window.tabs.count() == 0
    assert errors == []  # no raw Python error ("list.remove(x): x not in list")
    assert window.size() == size
    window.connect_to(local_server.url)
    qtbot.waitUntil(lambda: d.url == local_server.url and d.server.ok, timeout=20_000)
    for sid in ids:
        arun(d.delete_session(sid), timeout=90)
    assert errors == []


def test_a_long_reconnect_reason_and_a_tall_dock_keep_the_window_and_the_chart(
        window: MainWindow, qtbot: Any, arun: Any) -> None:
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024, timeout=5000)
    view = arun(window.create_session(small_spec(flash=())))
    qtbot.waitUntil(lambda: view.model.link.status == "open", timeout=20_000)
    reason = " ".join(f"cause-{i}" for i in range(70))  # about 500 characters
    assert len(reason) > 480
    view.model.link.status, view.model.link.reason = "reconnecting", reason
    view.model.note("Server said: " + reason, "warning")
    # A dock dragged as tall as it goes (as the Server dock can be).
    tall = QLabel("a dock that wants the whole height")
    dock = window.add_dock("Tall", tall, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.resizeDocks([dock], [650], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: "cause-69" in view.link_chip.toolTip(), timeout=5000)
    qtbot.waitUntil(lambda: view.chart.height() > 0, timeout=5000)
    assert window.width() == 1024  # not stretched past the screen
    assert view.link_chip.width() < 1024
    assert "…" in view.link_chip.text()  # cut, the whole reason in the tooltip
    assert view.chart.height() >= CHART_MIN_HEIGHT


def test_queued_candles_are_drawn_faded_until_the_model_has_read_them(
        window: MainWindow, qtbot: Any, arun: Any) -> None:
    view = arun(window.create_session(small_spec(flash=(), window=12)))
    model = view.model
    view.attach_feed(SyntheticFeed(seed=11, count=30, speed=math.inf), "fast")
    qtbot.waitUntil(lambda: view.chart.pending_span is not None, timeout=60_000)
    x0, x1 = view.chart.pending_span
    assert x0 >= model.progress.ingested - 1 and x1 <= len(model.store)
    assert "not yet read" in view.candles_chip.text()
    qtbot.waitUntil(lambda: model.progress.ingested == 30, timeout=240_000)
    qtbot.waitUntil(lambda: view.chart.pending_span is None, timeout=5000)


def test_at_a_coarser_timeframe_the_faded_band_starts_at_the_bar_of_the_first_unread(
        window: MainWindow, qtbot: Any, arun: Any) -> None:
    view = arun(window.create_session(small_spec(flash=(), window=12)))
    model = view.model
    view.trader.set_timeframe("5m")
    view.attach_feed(SyntheticFeed(seed=11, count=30, speed=math.inf), "fast")
    chart = view.chart
    # 30 one-minute candles are 6 or 7 bars: an index into the candles would be past them.
    qtbot.waitUntil(lambda: chart.pending_span is not None and model.progress.ingested > 7,
                    timeout=60_000)
    x0, x1 = chart.pending_span
    bars = chart.store
    assert len(bars) < len(model.store)
    # The bar holding the first unread candle (read now, or later: reading only grows).
    first = int(np.searchsorted(bars.t, model.store.t[model.progress.ingested],
                                side="right")) - 1 if model.progress.ingested < len(
                                    model.store) else len(bars)
    assert 0 <= x0 + 0.5 <= first and x1 <= len(bars) - 0.5
    qtbot.waitUntil(lambda: model.progress.ingested == 30, timeout=240_000)
    qtbot.waitUntil(lambda: chart.pending_span is None, timeout=5000)


def test_the_sessions_count_follows_the_filter(window: MainWindow, qtbot: Any,
                                               arun: Any) -> None:
    views = [arun(window.create_session(small_spec(flash=()))) for _ in range(2)]
    panel = window.sessions
    qtbot.waitUntil(lambda: all(v.model.session_id in window.dashboard.sessions.rows
                                for v in views), timeout=20_000)
    panel.filter.setText(views[0].model.session_id)
    qtbot.waitUntil(lambda: panel.count.text().startswith("1 of "), timeout=5000)
    panel.filter.setText("")
    qtbot.waitUntil(lambda: " of " not in panel.count.text(), timeout=5000)


def test_layout_open_tabs_and_own_sessions_come_back_after_a_restart(
        local_server: RunningServer, qtbot: Any, arun: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    archive = SessionArchive(tmp_path / "sessions.sqlite3")
    d = Dashboard(local_server.url, poll_interval=0.3, archive=archive)
    w = MainWindow(d, settings=settings)
    qtbot.addWidget(w)
    w.show()
    d.start()
    qtbot.waitUntil(lambda: d.server.ok, timeout=20_000)
    view = arun(w.create_session(small_spec(flash=())))
    sid = view.model.session_id
    view.attach_feed(SyntheticFeed(seed=12, count=8, speed=math.inf), "synthetic")
    qtbot.waitUntil(lambda: len(view.model.store) == 8, timeout=60_000)
    drawn = list(view.model.store.t)
    w.resize(1321, 787)
    qtbot.waitUntil(lambda: w.width() == 1321, timeout=5000)
    w.close()  # saves the layout; the session stays on the server
    arun(d.stop())
    archive.close()

    archive2 = SessionArchive(tmp_path / "sessions.sqlite3")
    d2 = Dashboard(local_server.url, poll_interval=0.3, archive=archive2)
    w2 = MainWindow(d2, settings=settings)
    qtbot.addWidget(w2)
    assert w2.restore_layout()
    w2.show()
    d2.start()
    try:
        qtbot.waitUntil(lambda: w2.width() == 1321 and w2.height() == 787, timeout=5000)
        views = arun(w2.restore_tabs(), timeout=60)
        assert [v.model.session_id for v in views] == [sid]
        model = views[0].model
        assert model.mode is Mode.OWNED  # ours again, not "fed elsewhere"
        assert list(model.store.t) == drawn  # its drawn history is back
        assert w2.tabs.count() == 1
    finally:
        arun(d2.delete_session(sid), timeout=90)
        arun(d2.stop())
        archive2.close()
