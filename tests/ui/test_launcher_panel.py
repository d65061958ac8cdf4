"""The Server panel driving the real bundled server (pytest-qt on the qasync loop)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QPushButton

from app.launcher import LauncherSettings, Profile, ServerStatus, procs
from app.secrets import KeyStore
from app.ui.keys_dialog import KeysDialog
from app.ui.launcher_log import ServerLogPane
from app.ui.launcher_panel import LOCKED_TIP, LauncherPanel
from tests.launcher.conftest import isolated_state
from tests.support.server import free_port


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Own settings/state/log folders; kills whatever the test started."""
    with isolated_state(tmp_path, monkeypatch) as folder:
        yield folder


KEY = "LS-panel-env-only-31337"
_made: list[LauncherPanel] = []


@pytest.fixture(autouse=True)
def _close_panels(arun: Any) -> Iterator[None]:
    yield
    while _made:
        arun(_made.pop().aclose())  # stop their watch tasks (servers are killed by `isolated`)


def _panel(qtbot: Any, profile: Profile) -> LauncherPanel:
    launcher = LauncherSettings()
    launcher.save(profile)
    launcher.select(profile.name)
    panel = LauncherPanel(launcher)
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    _made.append(panel)
    return panel


def _click_in_quit_box(button_text: str, remember: bool) -> None:
    def click() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QMessageBox) and widget.objectName() == \
                    "launcher-quit-question" and widget.isVisible():
                if remember:
                    widget.checkBox().setChecked(True)
                for button in widget.findChildren(QPushButton):
                    if button.text() == button_text:
                        button.click()
                        return
        QTimer.singleShot(20, click)  # the box is not up yet

    QTimer.singleShot(0, click)


def test_start_follow_search_restart_and_stop_on_quit(
        qtbot: Any, qasync_loop: Any, isolated: Path, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    profile = Profile.bundled(port=free_port(), name="Panel")
    KeyStore().set(profile.url, KEY)  # this profile's key, in the real keyring
    request.addfinalizer(lambda: KeyStore().delete(profile.url))
    panel = _panel(qtbot, profile)
    seen: list[str] = []
    panel.status_changed.connect(seen.append)
    badge = panel.status_badge()
    assert panel.badge.text() == "stopped"
    assert panel.editor.isEnabled() and not panel.stop_button.isEnabled()

    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.badge.text() == "ready", timeout=120_000)
    assert seen[:3] == ["starting", "loading", "ready"]
    assert badge.text() == "server ready"
    assert panel.pid_label.text().startswith("pid ")
    # Settings locked while it runs, and the user is told why.
    assert not panel.editor.isEnabled() and not panel.profile_combo.isEnabled()
    assert panel.editor.toolTip() == LOCKED_TIP and panel.lock_note.isVisibleTo(panel)
    assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()

    qtbot.waitUntil(lambda: "listening on" in panel.log_text(), timeout=10_000)
    # The key went to the server through its environment only, never into the view.
    pid = panel.controller.pid
    assert pid is not None
    assert f"LAYERSCALE_LICENSE_KEY={KEY}".encode() in Path(f"/proc/{pid}/environ").read_bytes()
    assert KEY.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert KEY not in panel.log_text() and KEY not in panel.editor.command_view.toPlainText()
    qtbot.waitUntil(lambda: "OS keyring" in panel.editor.key_label.text(), timeout=10_000)
    assert KEY not in panel.editor.key_label.text()
    panel.log_pane.search_edit.setText("listening on")
    assert panel.log_pane.find_next()
    assert "listening on" in panel.log_pane.log_view.textCursor().selectedText()
    assert not panel.log_pane.follow_check.isChecked()  # the match stays in view
    assert panel.log_pane.match_label.text().endswith(("match", "matches"))
    panel.log_pane.clear_button.click()
    assert panel.log_text() == ""
    assert "listening on" in panel.controller.log_file.read_text()  # the file keeps it

    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    panel.log_pane.open_log_button.click()
    assert opened == [str(panel.controller.log_file)]

    # Remembered "leave": quitting leaves it running.
    panel.launcher.on_quit = "leave"
    first_pid = panel.controller.pid
    assert panel.confirm_quit() is True
    assert first_pid is not None and procs.is_alive(first_pid)

    panel.restart_button.click()
    qtbot.waitUntil(lambda: panel.controller.pid not in (None, first_pid)
                    and panel.badge.text() == "ready", timeout=120_000)
    assert not procs.is_alive(first_pid)

    # "Ask": cancelling keeps the app open; "Stop server" + remember stops it.
    panel.launcher.on_quit = "ask"
    _click_in_quit_box("Cancel", remember=False)
    assert panel.confirm_quit() is False
    second_pid = panel.controller.pid
    _click_in_quit_box("Stop server", remember=True)
    assert panel.confirm_quit() is True
    assert panel.launcher.on_quit == "stop"
    qtbot.waitUntil(lambda: panel.badge.text() == "stopped", timeout=30_000)
    assert second_pid is not None and not procs.is_alive(second_pid)
    assert panel.editor.isEnabled() and panel.start_button.isEnabled()


def test_port_in_use_offers_another_port(qtbot: Any, qasync_loop: Any, isolated: Path) -> None:
    with socket.socket() as sock:  # fault injection: a bare listener holds the port
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        panel = _panel(qtbot, Profile.bundled(port=port, name="Busy"))
        panel.start_button.click()
        qtbot.waitUntil(lambda: panel.use_port_button.isVisible(), timeout=15_000)
    assert f"Port {port}" in panel.message.text() and "in use" in panel.message.text()
    suggested = int(panel.use_port_button.text().split()[-1])
    panel.use_port_button.click()
    assert panel.editor.port_spin.value() == suggested
    assert LauncherSettings().get("Busy").port == suggested
    assert panel.controller.status == ServerStatus.STOPPED
    assert f"--port {suggested}" in panel.editor.command_view.toPlainText()
    assert panel.url_label.text().endswith(f":{suggested}")


def test_profile_editor_switches_kinds_and_saves(qtbot: Any, qasync_loop: Any,
                                                 isolated: Path) -> None:
    panel = _panel(qtbot, Profile.bundled(port=free_port(), name="Edit"))
    assert panel.editor.form.isRowVisible(panel.editor.threads_spin)
    panel.editor.kind_combo.setCurrentIndex(panel.editor.kind_combo.findData("container"))
    form = panel.editor.form
    assert form.isRowVisible(panel.editor.tag_edit) and not form.isRowVisible(
        panel.editor.threads_spin)
    command = panel.editor.command_view.toPlainText()
    assert command.startswith("docker run") and "--gpus all" in command
    assert "LAYERSCALE_LICENSE_KEY" in command and "LS-" not in command
    assert LauncherSettings().get("Edit").kind == "container"
    panel.editor.kind_combo.setCurrentIndex(panel.editor.kind_combo.findData("binary"))
    assert "Set the path of the LayerScale server executable" in panel.editor.problems_label.text()
    panel.create_profile("Copy", kind="bundled", port=9555)
    assert panel.profile_combo.currentText() == "Copy"
    assert LauncherSettings().selected_name() == "Copy"
    assert set(LauncherSettings().names()) >= {"Edit", "Copy"}


def test_auto_start_then_crash_is_shown(qtbot: Any, qasync_loop: Any, isolated: Path) -> None:
    import os
    import signal

    launcher = LauncherSettings()
    launcher.auto_start = True
    panel = _panel(qtbot, Profile.bundled(port=free_port(), name="Auto"))
    qtbot.waitUntil(lambda: panel.badge.text() == "ready", timeout=120_000)
    pid = panel.controller.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # auto-restart is off by default
    qtbot.waitUntil(lambda: panel.badge.text() == "crashed", timeout=15_000)
    assert "crashed: killed by SIGKILL (signal 9)" in panel.message.text()
    assert "Last log lines:" in panel.message.text()
    assert panel.start_button.isEnabled() and panel.editor.isEnabled()


def test_docked_in_the_main_window_with_menu_badge_and_quit_question(
        qtbot: Any, qasync_loop: Any, isolated: Path, arun: Any) -> None:
    """The dashboard's real MainWindow (pointed at an unused port; no server needed)."""
    from app.core.dashboard import Dashboard
    from app.ui.launcher_panel import attach_to_window
    from app.ui.main_window import MainWindow

    dashboard = Dashboard(f"http://127.0.0.1:{free_port()}", poll_interval=5)
    window = MainWindow(dashboard)
    qtbot.addWidget(window)
    panel = attach_to_window(window)
    assert attach_to_window(window) is panel  # idempotent
    texts = [a.text() for a in window.server_menu.actions()]
    assert {"Start local server", "Stop local server", "Licence keys…"} <= set(texts)
    assert any(w.text() == "server stopped" for w in window.statusBar().findChildren(
        type(panel.badge)))
    keys_action = next(a for a in window.server_menu.actions() if a.text() == "Licence keys…")
    keys_action.trigger()
    dialogs = panel.findChildren(KeysDialog)
    assert len(dialogs) == 1
    arun(dialogs[0].ready)  # the dialog reads the keyring in the background
    assert dialogs[0].url_edit.text() == panel.controller.url
    dialogs[0].close()
    window.show()
    # Nothing of ours runs: closing asks nothing and goes through.
    window.close()
    assert not window.isVisible()
    arun(panel.aclose())


def test_log_pane_follows_only_when_asked(qtbot: Any) -> None:
    pane = ServerLogPane()
    qtbot.addWidget(pane)
    pane.resize(600, 200)
    pane.show()
    bar = pane.log_view.verticalScrollBar()
    pane.add_lines([f"line {i}" for i in range(500)])
    assert pane.log_view.toPlainText() == ""  # painted by the timer, not per batch
    qtbot.waitUntil(lambda: pane.log_view.blockCount() >= 500, timeout=5_000)
    assert bar.maximum() > 0 and bar.value() == bar.maximum()  # following: newest in view
    pane.follow_check.setChecked(False)
    bar.setValue(0)
    pane.add_lines([f"more {i}" for i in range(100)])
    qtbot.waitUntil(lambda: "more 99" in pane.log_view.toPlainText(), timeout=5_000)
    assert bar.value() == 0  # not following: the reader's place is kept
    pane.search_edit.setText("more 9")
    assert pane.match_label.text() == "11 matches"
    cleared: list[bool] = []
    pane.cleared.connect(lambda: cleared.append(True))
    pane.clear_button.click()
    assert pane.text() == "" and cleared == [True] and pane.match_label.text() == ""


def test_model_picker_takes_any_gguf(qtbot: Any, qasync_loop: Any, isolated: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The modal file dialog is answered by the test (it cannot be clicked offscreen)."""
    model = isolated / "other-model.gguf"
    model.write_bytes(b"GGUF")
    panel = _panel(qtbot, Profile.bundled(port=free_port(), name="Picker"))
    assert "SmolLM2" in panel.editor.command_view.toPlainText()  # the bundled default
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(model), "GGUF models (*.gguf)"))
    browse = next(b for b in panel.editor.model_row.findChildren(QPushButton)
                  if b.text() == "Browse…")
    browse.click()
    assert panel.editor.model_edit.text() == str(model)
    assert LauncherSettings().get("Picker").model == str(model)
    assert f"--model {model}" in panel.editor.command_view.toPlainText()
    assert panel.editor.problems_label.text() == ""
