"""--replay's path in-process against the real server: a CSV with bad rows plays its good
rows into the session's chart, and the bad ones are shown with their line numbers."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from app.core.session import Mode, SessionModel
from app.ui.main import start_feed_session
from app.ui.main_window import MainWindow


def test_replay_plays_good_rows_and_reports_bad_lines(
    window: MainWindow, qtbot: Any, arun: Any, tmp_path: Path
) -> None:
    csv = tmp_path / "prices.csv"
    lines = ["Date,Open,High,Low,Close,Volume"]
    for i in range(8):
        row = f"{100 + i},{101 + i},{99 + i},{100.5 + i},{1000 + i}"
        lines.append(f"2024-01-02T10:{i:02d}:00,{row}")
    lines.insert(4, "2024-01-02T10:03:30,abc,1,1,1,1")  # line 5: not a number
    lines.append("garbage")  # line 11
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    made: list[SessionModel] = []
    args = argparse.Namespace(replay=csv, speed=0.0, demo=False)
    arun(start_feed_session(window, args, made))
    model = made[0]
    view = window.view_for(model.session_id)
    assert view is not None and model.mode is Mode.OWNED
    qtbot.waitUntil(lambda: model.feed.done and len(model.store) == 8, timeout=30_000)
    assert np.array_equal(model.store.o, 100.0 + np.arange(8))
    lines_reported = [line for line, _ in model.feed.problems]
    assert 5 in lines_reported and 11 in lines_reported
    qtbot.waitUntil(lambda: view.problems_btn.isVisible(), timeout=5_000)
    assert "2 bad rows" in view.problems_btn.text()
    assert "line 5" in view.note.text()
