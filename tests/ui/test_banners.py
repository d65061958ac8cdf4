"""Banners: unreachable server and rejected licence key, each clearing when the cause goes away
(the server appears; the key is stored), and switching servers from the connect bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.core.problems import Problem
from tests.conftest import TEST_KEY
from tests.support.server import RunningServer, free_port, start_server


def test_unreachable_banner_then_recovers_when_server_appears(
    window_for: Any, qtbot: Any, tmp_path: Path
) -> None:
    port = free_port()
    window = window_for(f"http://127.0.0.1:{port}")
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=10_000)
    assert window.banner.problem is Problem.UNREACHABLE
    assert "unreachable" in window.banner.title.text().lower()
    server: RunningServer = start_server(tmp_path, port=port)
    try:
        # No user action: the poll loop's backoff retries and the banner goes away.
        qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=30_000)
        assert window.dashboard.server.ok
        assert window.dashboard.server.model
        assert "connected" in window.connect_bar.status.text()
    finally:
        server.stop()


def test_key_rejected_banner(window_for: Any, qtbot: Any, keyed_server: RunningServer) -> None:
    window = window_for(keyed_server.url)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=15_000)
    assert window.banner.problem is Problem.AUTH
    assert "401" in window.banner.title.text()
    assert TEST_KEY not in window.banner.detail.text()


def test_key_stored_while_rejected_is_picked_up_and_banner_clears(
    window_for: Any, qtbot: Any, keyed_server: RunningServer
) -> None:
    """The key lookup stands in for the keyring (the keyring itself is tested in
    tests/secrets); the user "stores" the key while the 401 banner shows."""
    stored: dict[str, str] = {}
    asked: list[str] = []

    async def lookup(url: str) -> str | None:
        asked.append(url)
        return stored.get(url)

    window = window_for(keyed_server.url, key_lookup=lookup)
    qtbot.waitUntil(lambda: window.banner.problem is Problem.AUTH, timeout=15_000)
    qtbot.waitUntil(lambda: len(asked) >= 1, timeout=15_000)
    assert window.connect_bar.key.text() == "no licence key"
    stored[keyed_server.url] = TEST_KEY
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=20_000)
    assert window.dashboard.server.ok and asked == [keyed_server.url] * len(asked)
    qtbot.waitUntil(lambda: window.connect_bar.key.text() == "licence key set", timeout=5_000)


def test_correct_key_shows_no_banner(window_for: Any, qtbot: Any,
                                     keyed_server: RunningServer) -> None:
    window = window_for(keyed_server.url, key=TEST_KEY)
    qtbot.waitUntil(lambda: "connected" in window.connect_bar.status.text(), timeout=15_000)
    assert window.dashboard.server.ok and not window.banner.isVisible()
    assert window.connect_bar.key.text() == "licence key set"
    assert "running since" in window.connect_bar.status.toolTip()


def test_connect_bar_switches_to_another_server(
    window_for: Any, qtbot: Any, local_server: RunningServer
) -> None:
    from PySide6.QtCore import Qt

    window = window_for(f"http://127.0.0.1:{free_port()}")
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=10_000)
    window.connect_bar.url.setText(local_server.url)
    qtbot.mouseClick(window.connect_bar.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.dashboard.url == local_server.url
                    and window.dashboard.server.ok, timeout=20_000)
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=5_000)
    assert window.sessions.model.store is window.dashboard.sessions
