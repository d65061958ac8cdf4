"""Sessions table against the real server: list, create, stable rows, filter, delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from app.core.dashboard import Dashboard
from app.ui.main_window import MainWindow
from app.ui.sessions_table import COL_FLASH, COL_TYPE, ID_ROLE
from tests.core.live import small_spec
from tests.support.server import RunningServer


@pytest.fixture
def window(qtbot: Any, arun: Any, local_server: RunningServer,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
    d = Dashboard(local_server.url, poll_interval=0.3)
    w = MainWindow(d)
    qtbot.addWidget(w)
    w.show()
    d.start()
    qtbot.waitUntil(lambda: d.server.ok, timeout=20_000)
    yield w
    arun(d.stop())


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
    # Several polls later the selection is still there (rows are updated in place, not reset).
    resets: list[int] = []
    w.sessions.model.modelReset.connect(lambda: resets.append(1))
    polls = w.dashboard.sessions.polls
    qtbot.waitUntil(lambda: w.dashboard.sessions.polls >= polls + 3, timeout=10_000)
    assert w.sessions.selected_id() == a.session_id and resets == []
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
