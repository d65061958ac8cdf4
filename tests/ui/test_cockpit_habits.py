"""Desktop habits: theme switch from the View menu (and remembered), shortcuts shown in the
menus, docks with stable names, PNG and CSV export, the About dialog and --version."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import PySide6
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage, QPalette
from PySide6.QtWidgets import QApplication

from app import __version__
from app.ui import theme
from app.ui.main_window import MainWindow


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "dashboard.ini"), QSettings.Format.IniFormat)


def window_colour() -> str:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app.palette().color(QPalette.ColorRole.Window).name()


def test_theme_switch_from_the_menu_is_applied_and_remembered(
        window: MainWindow, settings: QSettings) -> None:
    window.settings = settings  # what main() passes; tests without it keep nothing
    ui = window.cockpit
    try:
        ui.theme_actions["light"].trigger()
        assert theme.effective() == "light" and window_colour() == theme.LIGHT["BG"]
        assert theme.LIGHT["BG"] == theme.BG  # views built from now on use light colours
        from app.ui.cockpit.shell import saved_theme

        assert saved_theme(settings) == "light"
        ui.theme_actions["dark"].trigger()
        assert theme.effective() == "dark" and window_colour() == theme.DARK["BG"]
        assert ui.theme_actions["dark"].isChecked()
        assert not ui.theme_actions["light"].isChecked()
    finally:
        ui.set_theme("system")
    assert theme.mode() == "system"


def test_theme_switch_restyles_the_cockpit_graphs(window: MainWindow, qtbot: Any) -> None:
    """Backgrounds, axes, titles, legend labels and curves all take the new theme's colours
    (curves by role: the dashed capacity line is MUTED in either theme)."""
    from app.core.cockpit import SessionCockpit
    from app.core.session import SessionModel

    ui = window.cockpit
    ingest = ui.ingest
    cockpit = SessionCockpit(window.dashboard, SessionModel("theme-test", "ohlcv"))
    ingest.set_cockpit(cockpit)

    def colours(graph: Any) -> dict[str, str]:
        item = graph.getPlotItem()
        (_sample, label), *_ = graph.legend.items
        capacity = next(c for s, c in graph._curves if s is cockpit.ingest.series["capacity"])
        return {"background": graph.backgroundBrush().color().name(),
                "axis": item.getAxis("left").pen().color().name(),
                "axis text": item.getAxis("left").textPen().color().name(),
                "title": item.titleLabel.opts["color"],
                "legend": label.opts["color"].name(),
                "capacity": capacity.opts["pen"].color().name()}

    try:
        for mode in ("light", "dark", "light"):
            ui.set_theme(mode)
            want = theme.LIGHT if mode == "light" else theme.DARK
            assert colours(ingest.queue_graph) == {
                "background": want["PANEL"], "axis": want["BORDER"], "axis text": want["MUTED"],
                "title": want["TEXT"], "legend": want["MUTED"], "capacity": want["MUTED"]}
            for graph in ingest.graphs:
                assert graph.backgroundBrush().color().name() == want["PANEL"]
            # What is painted: the plot's background pixel is the theme's panel colour.
            image = ingest.queue_graph.grab().toImage()
            assert image.pixelColor(2, 2).name() == want["PANEL"]
    finally:
        ingest.set_cockpit(None)
        ui.set_theme("system")


def test_docks_have_stable_names_and_shortcuts_show_in_menus(window: MainWindow) -> None:
    names = {d.objectName() for d in window.cockpit.docks.values()}
    assert names == {"dock-Session state", "dock-Ingest", "dock-Server overview",
                     "dock-Query console"}
    toggles = {a.text(): a.shortcut().toString() for a in window.view_menu.actions()}
    assert toggles["Session state"] == "Ctrl+1" and toggles["Query console"] == "Ctrl+4"
    export = {a.text(): a.shortcut().toString() for a in window.cockpit.export_menu.actions()}
    assert export["&Flash history as CSV…"] == "Ctrl+Shift+F"
    assert export["Session &plot as PNG…"] == "Ctrl+Shift+P"


def test_plots_save_as_png_and_metrics_export_as_csv(
        window: MainWindow, qtbot: Any, tmp_path: Path) -> None:
    ui = window.cockpit
    dock = ui.docks["Server overview"]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(lambda: len(ui.cockpit.server.health) >= 1, timeout=10_000)
    out = tmp_path / "overview.png"
    assert ui.save_png("Server overview", out)
    image = QImage(str(out))
    assert not image.isNull() and image.width() > 100
    # The graph's own context menu carries the PNG action beside pyqtgraph's Export.
    graph = ui.ingest.queue_graph
    menu = graph.getPlotItem().getViewBox().menu
    assert "Save graph as PNG…" in [a.text() for a in menu.actions()]
    assert ui.flash_csv() is None  # no session open: nothing to export, said in the status bar


def test_about_names_version_qt_and_licences(window: MainWindow) -> None:
    dialog = window.cockpit.show_about()
    try:
        text = dialog.text.text()
        assert f"LayerScale Dashboard {__version__}" in text
        assert f"PySide6 {PySide6.__version__}" in text
        assert "SmolLM2-135M-Instruct" in text and "Apache-2.0" in text
        assert str(window.dashboard.server.model) in text
        assert "LGPL-3.0" in text
    finally:
        dialog.close()


def test_version_on_the_command_line() -> None:
    done = subprocess.run([sys.executable, "-m", "app.cli", "--version"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip() == f"layerscale-dashboard {__version__}"


def test_ingest_csv_has_a_header_and_rows() -> None:
    from app.core.cockpit import INGEST_SERIES
    from app.core.timeseries import SeriesSet

    ss = SeriesSet(INGEST_SERIES)
    ss.add(1.0, queue=1, capacity=10)
    rows = list(csv.reader(io.StringIO(ss.to_csv())))
    assert rows[0] == ["time", *INGEST_SERIES] and rows[1][1:3] == ["1", "10"]
