"""What the widgets show of a server's API generation: the status bar and its details,
the create dialog's generation-2 fields, the sessions table's gen-2 cells, and a stats
panel a generation-2 server cannot fill ("not offered by this server", not an error)."""

from __future__ import annotations

from typing import Any

from app.api.generation import NOT_OFFERED, Detection, Generation
from app.api.surface import SessionOverview
from app.core.server import ServerState
from app.core.session import SessionModel
from app.core.sessions import SessionsStore
from app.ui.banner import ConnectBar
from app.ui.create_dialog import CreateSessionDialog
from app.ui.sessions_table import COL_TOKENS, SessionsModel
from app.ui.stats_panel import StatsPanel

GEN2 = Detection(Generation.V2, "/health carries scheduler counters", ("GET /health -> 200",))


def test_status_bar_names_the_generation_and_details(qtbot: Any) -> None:
    bar = ConnectBar("http://127.0.0.1:9")
    qtbot.addWidget(bar)
    state = ServerState("http://127.0.0.1:9")
    state.set_generation(GEN2)
    state.set_ok(model="smol", health={"status": "ok", "uptime_ms": 60_000})
    bar.show_state(state, has_key=False)
    assert "API gen 2" in bar.status.text() and "smol" in bar.status.text()
    tip = bar.status.toolTip()
    assert "API: API gen 2: /health carries scheduler counters" in tip
    assert "not offered: " in tip and "stream status" in tip
    assert "running since ?" not in tip  # uptime_ms read as generation 2 counts it


def test_create_dialog_offers_gen2_fields_only_on_gen2(qtbot: Any) -> None:
    dialog = CreateSessionDialog()
    qtbot.addWidget(dialog)
    form = dialog._form
    assert not form.isRowVisible(dialog.session_id) and form.isRowVisible(dialog.context)
    assert dialog.spec().session_id is None and dialog.spec().window_tokens is None
    dialog.set_generation(2)
    assert form.isRowVisible(dialog.session_id) and form.isRowVisible(dialog.window_tokens)
    assert not form.isRowVisible(dialog.context) and not form.isRowVisible(dialog.mark_prefix)
    qtbot.keyClicks(dialog.session_id, "desk 1/x")  # the validator keeps only [A-Za-z0-9_-]
    dialog.window_tokens.setValue(2048)
    dialog.pre_decode.setChecked(True)
    spec = dialog.spec()
    assert spec.session_id == "desk1x" and spec.window_tokens == 2048 and spec.pre_decode
    assert spec.window_size is None and spec.context is None  # gen 1's units, hidden here


def test_sessions_table_shows_gen2_cells(qtbot: Any) -> None:
    store = SessionsStore()
    store.apply_overviews([SessionOverview(id="s1", tokens=1200, busy=False, created=1.0,
                                           last_used=2.0, kv_tokens=1100, pending=3,
                                           data_version=7, evicted=2, window=1024)],
                          generation=2, context=2048)
    model = SessionsModel(store)
    model.apply_pending()
    text = model.data(model.index(0, COL_TOKENS))
    assert text == "1,200 · kv 1,100"
    assert model.data(model.index(0, 3)) == "idle · 3 queued"  # In use
    tip = model.data(model.index(0, 0), 3)  # ToolTipRole
    assert "data version 7" in tip and "2 evicted" in tip and "1,024 tokens" in tip
    store.apply_overviews([SessionOverview(id="s1", tokens=1200, busy=True, created=1.0,
                                           last_used=2.0, kv_tokens=1200, pending=0,
                                           data_version=8, evicted=2, window=1024)],
                          generation=2, context=2048)
    model.apply_pending()
    assert model.data(model.index(0, COL_TOKENS)) == "1,200 / 2,048"  # all of it in KV
    assert model.data(model.index(0, 3)) == "busy"


def test_stats_panel_says_not_offered_not_an_error(qtbot: Any) -> None:
    model = SessionModel("s1", "ohlcv")
    panel = StatsPanel(model)
    qtbot.addWidget(panel)
    model.stats_error = f"per-type statistics: {NOT_OFFERED}"
    panel.refresh()
    assert NOT_OFFERED in panel.status.text() and "not updated" not in panel.status.text()
