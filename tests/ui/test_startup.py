"""Start-up paints first: the GUI entry imports no core before its window's shell is up,
and the shell becomes the whole window once the core is attached."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from PySide6.QtWidgets import QWidget

from tests.support.server import ROOT

HEAVY = ("pydantic", "numpy", "httpx", "pyqtgraph", "app.core.dashboard", "app.api.models",
         "app.streams")


def test_the_gui_entry_imports_nothing_heavy_before_the_first_paint() -> None:
    code = ("import sys, app.cli, app.ui.main;"
            f"bad = sorted(m for m in sys.modules if m.startswith({HEAVY!r}));"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_shell_paints_then_attaches_the_dashboard(qtbot: Any, arun: Any) -> None:
    from app.core.dashboard import Dashboard
    from app.ui.main_window import MainWindow
    from app.ui.sessions_table import SessionsPanel

    window = MainWindow(None, url="http://127.0.0.1:9")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.connect_bar.url.text() == "http://127.0.0.1:9"
    assert window.statusBar().currentMessage() == "Starting…"
    assert type(window.sessions_dock.widget()) is QWidget  # its place, kept
    window.refresh()  # the display timer is not running yet: nothing to read
    window.create_session_dialog()  # no server yet: does nothing (no dialog)
    assert not window.timer.isActive()
    d = Dashboard("http://127.0.0.1:9", poll_interval=0.5)
    window.attach(d)
    try:
        assert isinstance(window.sessions_dock.widget(), SessionsPanel)
        assert window.timer.isActive() and window.dashboard is d
        assert set(window.cockpit.docks) == {"Session state", "Ingest", "Server overview",
                                             "Query console"}
        assert window.statusBar().currentMessage() == "Ready"
        window.attach(d)  # once
        assert window.findChildren(SessionsPanel) == [window.sessions]
    finally:
        window.shutdown()
        arun(d.stop())
