"""The trader's views: a confidence pane per query drawn with the answers' p and colours
under the candles (one crosshair, the readout names the answer current at a candle),
the score table with the constructed series' exact hit rates, overlays and levels on the
chart, and a real session tab with the tools against the bundled server."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import QApplication

from app.core.session import SessionModel
from app.streams.candles import CandleStore
from app.ui.chart import CandleChart
from app.ui.chart.confidence_pane import ANSWER_COLOURS, ConfidencePane
from app.ui.chart.overlay_items import OverlayItem, PriceLevels
from app.ui.score_panel import ScorePanel
from tests.core.test_signal_scoring import ANSWERS, CLOSES, log_of, series


def _store() -> CandleStore:
    t, c = series()
    o = np.r_[c[0], c[:-1]]
    store = CandleStore()
    store.extend_arrays(t, o, np.maximum(o, c) + 0.5, np.minimum(o, c) - 0.5, c,
                        np.full(len(c), 100.0))
    return store


def _colours_in(image: Any, rect: Any) -> set[str]:
    seen = set()
    for x in range(int(rect.left()), int(rect.right()), 2):
        for y in range(int(rect.top()), int(rect.bottom()), 2):
            seen.add(QColor(image.pixel(x, y)).name())
    return seen


def test_confidence_pane_draws_each_answer_and_the_readout_names_it(qtbot: Any) -> None:
    store = _store()
    t, _ = series()
    log = log_of(ANSWERS, t)
    chart = CandleChart(store)
    qtbot.addWidget(chart)
    chart.resize(900, 520)
    pane = ConfidencePane(chart, log, 1, "Is the trend bullish?")
    chart.show()
    qtbot.waitExposed(chart)
    assert pane.refresh()
    chart.set_x_range(-1, len(CLOSES) + 1)
    expected = [(i, pytest_p(gap), cls(value)) for i, value, gap in ANSWERS]
    assert [(b, round(p, 6), c) for b, p, c in pane.values()] == [
        (b, round(p, 6), c) for b, p, c in expected]
    assert list(pane.flip_x) == [2.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    # One crosshair: hovering candle 4 shows the answer current there (the one about 3).
    chart.show_crosshair(4)
    assert pane.hover_x == 4.0  # the pane's part of the one crosshair
    assert chart.readout_text().endswith("│ Is the trend bullish?: yes 0.75")
    chart.show_crosshair(0)
    assert chart.readout_text().endswith("bullish?: yes 0.95")
    # The pane sits under the prices and shows the answers' colours.
    image = chart.graphics.grab().toImage()
    rect = pane.plot.getViewBox().sceneBoundingRect()
    price = chart.price_view.sceneBoundingRect()
    assert rect.top() >= price.bottom() - 1 and rect.height() > 40
    seen = _colours_in(image, rect)
    assert {ANSWER_COLOURS["yes"], ANSWER_COLOURS["no"], ANSWER_COLOURS["other"]} <= seen


def pytest_p(gap: float) -> float:
    return float(np.exp(gap) / (1 + np.exp(gap)))


def cls(value: str) -> str:
    key = value.lower().split(",")[0].strip(". ")
    return {"yes": "yes", "no": "no"}.get(key, "other")


def test_score_table_shows_the_exact_hit_rates(qtbot: Any) -> None:
    model = SessionModel("s-1")
    t, c = series()
    model.store.extend_arrays(t, c, c, c, c, np.ones(len(c)))
    for s in log_of(ANSWERS, t).for_query(1):
        model.signals.add(1, s.value, s.gap, s.data_version, s.candle_ts, s.exact, s.received_at)
    model.board.set_queries([(1, "Is the trend bullish?", 8)])
    panel = ScorePanel(model)
    qtbot.addWidget(panel)
    panel.select(1, "up", 2)
    rows = panel.table_text()
    assert rows[0] == ["0.5–0.6", "2", "0", "0 %", "0.55"]
    assert rows[2] == ["0.7–0.8", "3", "2", "67 %", "0.75"]
    assert rows[4] == ["0.9–1.0", "3", "3", "100 %", "0.95"]
    assert rows[-1] == ["all", "8", "5", "62 %", "–"]
    assert "of <b>8</b> signals" in panel.summary.text()
    panel.select(1, "down", 2)
    assert panel.table_text()[-1][:3] == ["all", "8", "3"]
    x, _ = panel.points.getData()
    assert list(np.round(x, 2)) == [0.55, 0.75, 0.95]


def double_click(widget: Any, at: QPointF) -> None:
    """What a mouse sends for a double-click: press, release, double-click, release (QTest's
    mouseDClick sends a sequence pyqtgraph's scene does not take as one)."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for kind, buttons in ((QEvent.Type.MouseButtonPress, left),
                          (QEvent.Type.MouseButtonRelease, none),
                          (QEvent.Type.MouseButtonDblClick, left),
                          (QEvent.Type.MouseButtonRelease, none)):
        QApplication.sendEvent(widget, QMouseEvent(kind, at, widget.mapToGlobal(at), left,
                                                   buttons, Qt.KeyboardModifier.NoModifier))


def test_overlays_and_price_levels_are_drawn_on_the_chart(qtbot: Any) -> None:
    from app.core.overlays import SMA

    store = CandleStore()
    rng = np.random.default_rng(2)
    n = 400
    c = 100 + np.cumsum(rng.normal(0, 0.3, n))
    o = np.r_[c[0], c[:-1]]
    store.extend_arrays(1.7e9 + 60 * np.arange(n), o, np.maximum(o, c) + 0.2,
                        np.minimum(o, c) - 0.2, c, np.full(n, 10.0))
    chart = CandleChart(store)
    qtbot.addWidget(chart)
    chart.resize(800, 400)
    chart.show()
    qtbot.waitExposed(chart)
    item = OverlayItem(chart, SMA(20), "#ff00ff")
    assert item.sync()
    assert item.value_at(399)["value"] == c[380:400].mean()
    levels = PriceLevels(chart)
    # A double-click on the prices draws a level at the price under the pointer.
    vb = chart.price_view
    centre = vb.sceneBoundingRect().center()
    double_click(chart.graphics.viewport(), QPointF(chart.graphics.mapFromScene(centre)))
    qtbot.waitUntil(lambda: len(levels.values()) == 1, timeout=5_000)
    assert abs(levels.values()[0] - vb.mapSceneToView(centre).y()) < 0.05 * (
        chart.y_range()[1] - chart.y_range()[0])
    # ...and a double-click on the level takes it away again.
    double_click(chart.graphics.viewport(), QPointF(chart.graphics.mapFromScene(
        vb.mapViewToScene(QPointF(sum(chart.x_range()) / 2, levels.values()[0])))))
    qtbot.waitUntil(lambda: levels.values() == [], timeout=5_000)
    levels.add(float(c[-1]))
    assert levels.values() == [float(c[-1])]
    image = chart.graphics.grab().toImage()
    seen = _colours_in(image, chart.price_view.sceneBoundingRect())
    assert "#ff00ff" in seen and "#d08770" in seen  # the SMA line and the level
    levels.clear()
    assert levels.values() == []


def test_instrument_grid_links_crosshair_and_time_range_by_time(qtbot: Any) -> None:
    from app.ui.grid_view import InstrumentGrid

    a, b = SessionModel("a"), SessionModel("b")
    for model, start, n, seed in ((a, 1.7e9, 600, 1), (b, 1.7e9 + 60 * 200, 500, 2)):
        rng = np.random.default_rng(seed)
        c = 100 + np.cumsum(rng.normal(0, 0.3, n))
        o = np.r_[c[0], c[:-1]]
        model.store.extend_arrays(start + 60 * np.arange(n), o, np.maximum(o, c) + 0.1,
                                  np.minimum(o, c) - 0.1, c, np.full(n, 5.0))
    grid = InstrumentGrid([a, b], ["AAA", "BBB"], timer=False)
    qtbot.addWidget(grid)
    grid.resize(1200, 500)
    grid.show()
    qtbot.waitExposed(grid)
    ca, cb = grid.charts
    ca.show_crosshair(450)  # AAA's candle 450 is BBB's candle 250 (BBB starts 200 later)
    assert cb.hover_index == 250
    from app.ui.chart.time_axis import format_time

    when = format_time(float(a.store.t[450]))
    assert cb.readout_text().startswith(when) and ca.readout_text().startswith(when)
    ca.hide_crosshair()
    assert cb.hover_index is None
    ca.set_x_range(300, 420)
    t0, t1 = grid.time_range(ca)
    u0, u1 = grid.time_range(cb)
    assert abs(u0 - t0) < 1 and abs(u1 - t1) < 1
    assert cb.x_range() == (100.0, 220.0)
    grid.set_timeframe("5m")
    for chart, model in ((ca, a), (cb, b)):
        assert len(chart.store) == len(np.unique(model.store.t // 300))


def test_a_session_tab_replays_and_scores_against_the_real_server(
        window: Any, qtbot: Any, arun: Any) -> None:
    """The tools on a real tab: answers from the bundled server land in the panes and the
    score table; the timeframe switch re-bins without refetching; an alert rule fires."""
    from app.core.alerts import AlertRule
    from app.feeds import SyntheticFeed
    from tests.core.live import small_spec

    view = arun(window.create_session(small_spec(flash=("Is the trend bullish?",))))
    tools = view.trader
    assert tools is not None
    got: list[str] = []
    tools.alerts.sound.setChecked(False)
    tools.engine.sinks.append(lambda a: got.append(a.message))
    view.attach_feed(SyntheticFeed(seed=4, speed=2.0, count=90, start=1.7e9 // 3600 * 3600),
                     "synthetic")
    log = view.model.signals
    qtbot.waitUntil(lambda: len(log) >= 1, timeout=240_000)
    qid = log.query_ids()[0]
    # A rule the model's own verdict meets: it fires at bar closes after new answers.
    tools.alerts.add_rule(AlertRule(qid, "answer", answer=log.for_query(qid)[0].key, level=0.5))
    qtbot.waitUntil(lambda: bool(got), timeout=240_000)
    qtbot.waitUntil(lambda: len(log.for_query(qid)) >= 3, timeout=240_000)
    pane = tools.panes[qid]
    qtbot.waitUntil(lambda: len(pane.x) == len(log.for_query(qid)), timeout=5_000)
    n = len(view.model.store)
    assert all(0 <= x < n for x in pane.x)
    # Every answer is about a candle the link had sent when it came, in candle order.
    stamps = [s.candle_ts for s in log.for_query(qid)]
    assert stamps == sorted(stamps) and stamps[-1] <= view.model.store.t[-1]
    tools.tabs.setCurrentWidget(tools.scores)
    qtbot.waitUntil(lambda: tools.scores.result is not None
                    and tools.scores.result.answers >= 3, timeout=5_000)
    assert tools.scores.table_text()[-1][0] == "all"
    tools.set_timeframe("5m")
    assert len(view.chart.store) == len(np.unique(view.model.store.t // 300))
    tools.set_timeframe("1m")
    assert view.chart.store is view.model.store
    tools.alerts.refresh()
    assert got[0] in [row[2] for row in tools.alerts.log_text()]
    view.runner.stop_feed()


def test_alerts_panel_posts_to_a_local_webhook_and_shows_delivery(
        qtbot: Any, arun: Any) -> None:
    """The panel's webhook (a loopback HTTP server this test starts) gets the alert; the log
    row says it was delivered; a bad URL is refused with the reason."""
    from app.core.alerts import AlertEngine, AlertRule
    from app.streams.candles import Candle
    from app.ui.alerts_panel import AlertsPanel
    from tests.core.test_alerts import _Hook, _serve

    model = SessionModel("s-hook")
    model.board.set_queries([(1, "Is the trend bullish?", 8)])
    engine = AlertEngine()
    panel = AlertsPanel(model, engine)
    qtbot.addWidget(panel)
    panel.sound.setChecked(False)
    notes: list[str] = []
    panel.notify.connect(lambda title, msg: notes.append(msg))
    panel.set_webhook("ftp://nowhere")
    assert "http" in panel.hook_state.text() and panel.webhook is None
    _Hook.fail_first, _Hook.bodies = 0, []
    server, url = _serve(_Hook)
    try:
        panel.set_webhook(url)
        panel.add_rule(AlertRule(1, "flip"))
        t0 = 1_709_546_400.0
        for i, value in enumerate(("Yes", "No")):
            model.store.append(Candle(t0 + 60 * i, 1, 1, 1, 1, 1))
            model.signals.add(1, value, 2.0, i + 1, t0 + 60 * i, True, 0.0)
            engine.evaluate(model.store, model.signals)
        model.store.append(Candle(t0 + 120, 1, 1, 1, 1, 1))  # bar 1 closes: Yes -> No
        (alert,) = engine.evaluate(model.store, model.signals)
        qtbot.waitUntil(lambda: "delivered" in alert.deliveries.get("webhook", ""),
                        timeout=15_000)
        panel.refresh()
        row = panel.log_text()[0]
        assert row[2] == alert.message and "webhook: delivered to 127.0.0.1" in row[3]
        assert "tray: shown" in row[3] and notes == [alert.message]
        assert _Hook.bodies[0]["answer"]["value"] == "No"
    finally:
        panel.close_sender()
        server.shutdown()
