"""Sessions table against the real server: list, create (API and dialog), stable rows, sort,
filter, delete with confirmation."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.ui.create_dialog import CreateSessionDialog
from app.ui.main_window import MainWindow
from app.ui.sessions_table import COL_FLASH, COL_ID, COL_TOKENS, COL_TYPE, ID_ROLE, SORT_ROLE
from tests.core.live import small_spec


def ids_in_table(w: MainWindow) -> list[str]:
    proxy = w.sessions.proxy
    return [proxy.index(r, 0).data(ID_ROLE) for r in range(proxy.rowCount())]


def test_create_list_keep_selection_filter_delete(
    window: MainWindow, qtbot: Any, arun: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = window
    # the display timer repaints from core within a frame or two
    qtbot.waitUntil(lambda: "connected" in w.connect_bar.status.text(), timeout=2_000)
    a = arun(w.dashboard.create_session(small_spec(), open_view=False))
    b = arun(w.dashboard.create_session(small_spec(flash=()), open_view=False))
    qtbot.waitUntil(lambda: {a.session_id, b.session_id} <= set(ids_in_table(w)), timeout=10_000)
    w.sessions.select(a.session_id)
    assert w.sessions.selected_id() == a.session_id
    row = w.sessions.model._shadow.index(a.session_id)
    qtbot.waitUntil(lambda: w.sessions.model.index(row, COL_FLASH).data() == "2", timeout=10_000)
    assert w.sessions.model.index(row, COL_TYPE).data() == "ohlcv"
    qtbot.waitUntil(lambda: w.sessions.count.text().startswith(
        f"{len(w.dashboard.sessions)} session"), timeout=5_000)
    # Several polls later the selection is still there (rows are updated in place, not reset).
    resets: list[int] = []
    w.sessions.model.modelReset.connect(lambda: resets.append(1))
    polls = w.dashboard.sessions.polls
    qtbot.waitUntil(lambda: w.dashboard.sessions.polls >= polls + 3, timeout=10_000)
    assert w.sessions.selected_id() == a.session_id and resets == []
    # Sortable: by id both ways, by cache use; a sort survives polls (rows update in place).
    table = w.sessions.table
    table.sortByColumn(COL_ID, Qt.SortOrder.AscendingOrder)
    assert ids_in_table(w) == sorted(ids_in_table(w))
    table.sortByColumn(COL_ID, Qt.SortOrder.DescendingOrder)
    assert ids_in_table(w) == sorted(ids_in_table(w), reverse=True)
    polls = w.dashboard.sessions.polls
    qtbot.waitUntil(lambda: w.dashboard.sessions.polls >= polls + 2, timeout=10_000)
    assert ids_in_table(w) == sorted(ids_in_table(w), reverse=True)
    assert w.sessions.selected_id() == a.session_id
    table.sortByColumn(COL_TOKENS, Qt.SortOrder.DescendingOrder)
    proxy = w.sessions.proxy
    usage = [proxy.index(r, COL_TOKENS).data(SORT_ROLE) for r in range(proxy.rowCount())]
    assert len(usage) >= 2 and usage == sorted(usage, reverse=True)
    # Filter by id.
    w.sessions.filter.setText(b.session_id[-8:])
    assert ids_in_table(w) == [b.session_id]
    w.sessions.filter.clear()
    # Delete with confirmation.
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    w.delete_session(b.session_id)
    qtbot.waitUntil(lambda: b.session_id not in ids_in_table(w), timeout=10_000)
    assert a.session_id in ids_in_table(w)
    arun(w.dashboard.delete_session(a.session_id))


def test_delete_cancelled_keeps_session(
    window: MainWindow, qtbot: Any, arun: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = window
    s = arun(w.dashboard.create_session(small_spec(flash=()), open_view=False))
    qtbot.waitUntil(lambda: s.session_id in ids_in_table(w), timeout=10_000)
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Cancel)
    w.delete_session(s.session_id)
    listing = arun(w.dashboard.client.sessions.list())
    assert s.session_id in [x.session_id for x in listing.sessions]
    arun(w.dashboard.delete_session(s.session_id))


def test_new_session_dialog_creates_it_on_the_server_and_opens_its_view(
    window: MainWindow, qtbot: Any, arun: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dialog is filled in by the test instead of a person (exec() is replaced)."""
    w = window

    def fill_and_accept(dialog: CreateSessionDialog) -> int:
        dialog.set_type("iot")
        dialog.prompt.setPlainText("Each line is one sensor reading.")
        dialog.context.setValue(1024)
        dialog.window.setValue(25)
        dialog.queries.setPlainText("Is it overheating?")
        dialog.max_tokens.setValue(4)
        return 1

    monkeypatch.setattr(CreateSessionDialog, "exec", fill_and_accept)
    w.create_session_dialog()
    qtbot.waitUntil(lambda: len(w.views) == 1, timeout=20_000)
    model = w.views[0].model
    assert model.type == "iot" and model.owned and w.tabs.currentWidget() is w.views[0]
    state = arun(w.dashboard.client.sessions.get(model.session_id))
    assert state.type == "iot"
    flash = arun(w.dashboard.client.sessions.list_flash(model.session_id))
    # Framed for the bundled model (the dialog's default)
    assert [q.query for q in flash.flash_queries] == ["\nQuestion: Is it overheating?\nAnswer:"]
    qtbot.waitUntil(lambda: model.session_id in ids_in_table(w), timeout=10_000)
    row = w.dashboard.sessions.rows[model.session_id]
    assert row.context == 1024


def test_a_listing_signals_only_the_cells_that_changed(qtbot: Any) -> None:
    """A poll repaints the cells whose shown value changed, not whole rows; data() answers
    only the roles the table serves; sort, filter and selection hold."""
    import time

    from app.api.models import SessionSummary
    from app.core.sessions import SessionsStore
    from app.ui.sessions_table import COL_IN_USE, COL_LAST, USAGE_ROLE, SessionsPanel

    now = time.time()

    def listing(tokens: dict[str, int], busy: str = "") -> list[SessionSummary]:
        return [SessionSummary.model_validate({
            "session_id": sid, "n_tokens": n, "context": 4096, "prefix_end": 40,
            "cache_usage": n / 4096, "created_at": now - 100, "last_used_at": now - 50 - i,
            "in_use": sid == busy}) for i, (sid, n) in enumerate(tokens.items())]

    store = SessionsStore()
    tokens = {f"sess_{i:02d}": 400 + i for i in range(10)}
    store.apply(listing(tokens), 64)
    panel = SessionsPanel(store)
    qtbot.addWidget(panel)
    panel.refresh(set())
    panel.table.sortByColumn(COL_ID, Qt.SortOrder.DescendingOrder)
    panel.select("sess_03")
    model = panel.model
    signals: list[tuple[int, int, int, int, list[int]]] = []
    model.dataChanged.connect(lambda tl, br, roles=(): signals.append(
        (tl.row(), tl.column(), br.row(), br.column(), [int(r) for r in roles])))
    layouts: list[int] = []
    panel.proxy.layoutChanged.connect(lambda *a: layouts.append(1))
    # An unchanged listing: nothing signalled.
    store.apply(listing(tokens), 64)
    model.apply_pending()
    assert signals == []
    # One session's tokens, another's busy state.
    tokens["sess_05"] += 100
    store.apply(listing(tokens, busy="sess_07"), 64)
    model.apply_pending()
    display, sort = int(Qt.ItemDataRole.DisplayRole), int(SORT_ROLE)
    fg = int(Qt.ItemDataRole.ForegroundRole)
    assert sorted(signals) == sorted([
        (5, COL_TOKENS, 5, COL_TOKENS, [display, sort, int(USAGE_ROLE)]),
        (7, COL_IN_USE, 7, COL_IN_USE, [display, sort, fg]),
    ])
    assert model.index(5, COL_TOKENS).data() == "505 / 4,096"
    assert model.index(7, COL_IN_USE).data() == "busy"
    assert model.index(7, COL_IN_USE).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert model.index(5, COL_TOKENS).data(Qt.ItemDataRole.SizeHintRole) is None
    assert model.index(5, COL_TOKENS).data(Qt.ItemDataRole.FontRole) is None
    assert "sess_05" in model.index(5, COL_ID).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(5, COL_LAST).data() == "55 s ago"
    # The ages tick signals only the texts that changed (none within the same second).
    signals.clear()
    model.tick_ages()
    assert all(s[1] == COL_LAST and s[0] == s[2] for s in signals)
    # Opening a session accents its id cell alone.
    signals.clear()
    panel.refresh({"sess_02"})
    assert (2, COL_ID, 2, COL_ID, [fg]) in signals
    assert all(s[1] in (COL_ID, COL_LAST) and s[0] == s[2] for s in signals)
    # Sort, selection, no re-sort for an unchanged order, filter and its count.
    assert layouts == []
    assert [panel.proxy.index(r, 0).data(ID_ROLE) for r in range(10)] == sorted(tokens,
                                                                                reverse=True)
    assert panel.selected_id() == "sess_03"
    panel.table.sortByColumn(COL_TOKENS, Qt.SortOrder.DescendingOrder)
    assert panel.proxy.index(0, 0).data(ID_ROLE) == "sess_05"
    panel.filter.setText("sess_0")
    panel.filter.setText("sess_05")
    assert panel.proxy.rowCount() == 1 and panel.count.text() == "1 of 10 sessions · max 64"
    # The accent follows a theme switch (colours are read when painted, not cached).
    from app.ui import theme

    saved = theme.ACCENT
    try:
        theme.ACCENT = "#123456"
        assert model.index(2, COL_ID).data(Qt.ItemDataRole.ForegroundRole).name() == "#123456"
    finally:
        theme.ACCENT = saved
