"""The flash panel's rendering of core state (no server needed: answers are recorded into
core directly, the way the session link records flash_ready events)."""

from __future__ import annotations

from typing import Any

from app.core.dashboard import Dashboard
from app.core.session import Marker, Mode, SessionModel
from app.streams.candles import Candle
from app.ui.flash_panel import C_ANSWER, C_CONF, C_STATE, C_VERSION, GAP_ROLE
from app.ui.session_view import SessionView


def test_answers_staleness_history_flip_marker_and_notification(qtbot: Any) -> None:
    model = SessionModel("sess_test", "ohlcv", mode=Mode.OWNED)
    model.store.append(Candle(1_700_000_000.0, 1, 2, 0.5, 1.5, 10))
    view = SessionView(Dashboard("http://127.0.0.1:9"), model)
    qtbot.addWidget(view)
    view.flash.notify.setChecked(True)
    model.board.set_queries([(1, "Is the trend bullish?", 8)])
    model.data_version = 3
    model.board.record(1, "q", "Yes", 2.5, 3, None)
    view.refresh()
    item = view.flash.tree.topLevelItem(0)
    assert item.text(C_ANSWER) == "Yes" and item.text(C_VERSION) == "v3"
    assert item.text(C_STATE) == "fresh" and float(item.data(C_CONF, GAP_ROLE)) == 2.5
    model.data_version = 4  # new data, answer not recomputed yet
    view.refresh()
    assert item.text(C_STATE).startswith("stale")
    with qtbot.waitSignal(view.notify, timeout=2_000) as note:
        flip = model.board.record(1, "q", "No.", 0.2, 4, None)
        assert flip is not None
        model.markers.append(Marker(model.store.last_timestamp, "Yes → No", "#f0b429"))
        view.refresh()
    assert "Yes → No." in note.args[1]
    assert item.text(C_ANSWER) == "No." and item.text(C_STATE) == "fresh"
    assert item.childCount() == 1 and item.child(0).text(C_ANSWER) == "Yes"
    assert len(view.chart.markers) == 1  # where the answer changed, on the time axis


def test_query_display_drops_prompt_scaffolding() -> None:
    from app.ui.flash_panel import display_query

    assert display_query("\nQuestion: Is it up? Answer yes or no.\nAnswer:") == (
        "Is it up? Answer yes or no.")
    assert display_query("<|im_end|>\n<|im_start|>user\nIs it up?<|im_end|>") == "Is it up?"
    assert display_query("Plain question?") == "Plain question?"
