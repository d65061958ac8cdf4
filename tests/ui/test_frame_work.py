"""What keeps a display tick short: live labels that do not re-lay out their window, and
one slot per tick for the work that can wait (app.ui.frame)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.ui import frame as frame_module
from app.ui.frame import PATIENCE, Frame
from app.ui.live_label import LEFT, LiveLabel


class Events(QObject):
    """Counts the events of one type that reach `watched`."""

    def __init__(self, watched: QWidget, kind: QEvent.Type) -> None:
        super().__init__()
        self.kind = kind
        self.count = 0
        watched.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == self.kind:
            self.count += 1
        return False


@pytest.fixture
def row(qtbot: Any) -> tuple[QWidget, LiveLabel, QLabel]:
    outer = QWidget()
    inner = QWidget()
    line = QHBoxLayout(inner)
    live = LiveLabel("data v100 · 60 entries", objectName="chip")
    plain = QLabel("data v100 · 60 entries")
    line.addWidget(live, 0, LEFT)
    line.addWidget(plain)
    QVBoxLayout(outer).addWidget(inner)
    qtbot.addWidget(outer)
    outer.resize(900, 80)  # room for the longest text below
    outer.show()
    qtbot.waitExposed(outer)
    return outer, live, plain


def settle(qtbot: Any) -> None:
    for _ in range(6):  # a layout request travels one parent per event-loop pass
        qtbot.wait(1)


def test_a_live_label_takes_new_digits_without_laying_out_its_parents(
        row: tuple[QWidget, LiveLabel, QLabel], qtbot: Any) -> None:
    outer, live, plain = row
    settle(qtbot)
    requests = Events(outer, QEvent.Type.LayoutRequest)
    width = live.label.width()
    for v in range(101, 140):
        live.setText(f"data v{v} · 60 entries")
        settle(qtbot)
    assert requests.count == 0 and live.label.width() == width
    assert live.text() == "data v139 · 60 entries"
    # The same change to a plain QLabel goes up to the top: what LiveLabel is for.
    plain.setText("data v101 · 60 entries")
    settle(qtbot)
    assert requests.count > 0


def test_a_live_label_grows_to_fit_and_gives_room_back_when_much_shorter(
        row: tuple[QWidget, LiveLabel, QLabel], qtbot: Any) -> None:
    _outer, live, _plain = row
    narrow = live.label.width()
    live.setText("data v100 · 60 entries · 12,345 not yet read (faded)")
    settle(qtbot)
    label = live.label
    assert label.width() > narrow and label.width() >= label.sizeHint().width()
    assert label.minimumWidth() == label.maximumWidth()  # fixed: the parents are not asked
    assert live.width() == label.width()  # and the row gave it the room
    wide = label.width()
    live.setText("v1")
    settle(qtbot)
    assert label.width() < wide / 2 and live.width() == label.width()


def test_a_cramped_row_cuts_live_labels_instead_of_overlapping_them(qtbot: Any) -> None:
    window = QWidget()  # holds the row at a width it cannot grow from (a docked panel's)
    row = QWidget(window)
    line = QHBoxLayout(row)
    chips = [LiveLabel(f"chip {i} · a fairly long text", objectName="chip") for i in range(3)]
    for c in chips:
        line.addWidget(c)
    qtbot.addWidget(window)
    window.resize(200, 40)
    row.setGeometry(0, 0, 200, 40)
    window.show()
    qtbot.waitExposed(window)
    settle(qtbot)
    spans = sorted((c.x(), c.x() + c.width()) for c in chips)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # side by side
    assert sum(c.width() for c in chips) < sum(c.label.width() for c in chips)  # cut


def test_the_frame_grants_one_deferrable_piece_per_tick() -> None:
    f = Frame()
    assert f.claim() and f.claim()  # outside a tick: everything at once
    f.begin()
    assert f.claim()
    assert not f.claim()  # the second piece waits for the next tick
    f.end()
    f.begin()
    assert f.claim()
    f.end()


def test_a_full_tick_puts_work_off_but_not_for_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frame_module, "ROOM_S", -1.0)  # every tick already used its room
    f = Frame()
    granted = []
    for _ in range(PATIENCE + 2):
        f.begin()
        granted.append(f.claim())
        f.end()
    assert granted[:PATIENCE] == [False] * PATIENCE
    assert granted[PATIENCE]  # put off PATIENCE ticks in a row: done now, room or not


def test_a_changed_cell_repaints_only_its_view_in_either_theme(qapp: Any, qtbot: Any) -> None:
    """Under the style sheet a viewport is not opaque: a changed cell would repaint the
    panel beneath it first. theme.opaque_viewport keeps it opaque across theme switches."""
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QTableView

    from app.ui import theme

    panel = QWidget()
    table = QTableView()
    theme.opaque_viewport(table)
    model = QStandardItemModel(20, 4)
    for r in range(20):
        for c in range(4):
            model.setItem(r, c, QStandardItem("–"))
    table.setModel(model)
    QVBoxLayout(panel).addWidget(table)
    qtbot.addWidget(panel)
    try:
        for mode in ("dark", "light"):
            theme.set_mode(qapp, mode)
            panel.show()
            qtbot.waitExposed(panel)
            settle(qtbot)
            beneath = Events(panel, QEvent.Type.Paint)
            viewport = Events(table.viewport(), QEvent.Type.Paint)
            model.setData(model.index(3, 1), f"v{mode}")
            qtbot.waitUntil(lambda v=viewport: v.count > 0, timeout=2_000)
            settle(qtbot)
            assert beneath.count == 0, mode
            assert table.viewport().autoFillBackground()
            assert table.viewport().palette().color(table.viewport().backgroundRole()).name() \
                == theme.PANEL
    finally:
        theme.set_mode(qapp, "system")
