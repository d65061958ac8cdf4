"""The server is stopped and started again (same port) while a session view is fed: the view
reconnects, says what happened, and its chart holds every candle once, in order.

Uses a private bundled server (tests.support.server.start_server) because it kills it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.core.dashboard import Dashboard
from app.feeds import SyntheticFeed
from app.ui.main_window import MainWindow
from tests.core.live import small_spec
from tests.support.server import start_server

START = 1_700_000_000.0
TOTAL = 120


def test_restart_mid_stream_view_reconnects_nothing_lost_or_twice(
    qtbot: Any, arun: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
    servers = [start_server(tmp_path)]
    port = servers[0].port
    d = Dashboard(servers[0].url, poll_interval=0.5)
    w = MainWindow(d)
    qtbot.addWidget(w)
    w.show()
    d.start()
    try:
        qtbot.waitUntil(lambda: d.server.ok, timeout=20_000)
        view = arun(w.create_session(small_spec(window=30)))
        model = view.model
        first_id = model.session_id
        view.attach_feed(SyntheticFeed(seed=3, start=START, speed=40.0, count=TOTAL), "synthetic")
        qtbot.waitUntil(lambda: len(model.store) >= 30, timeout=30_000)
        # Kill it mid-stream; the feed keeps producing into the outbox meanwhile.
        arun(asyncio.to_thread(servers[0].stop))
        qtbot.waitUntil(lambda: "reconnecting" in view.link_chip.text()
                        or "closed" in view.link_chip.text(), timeout=15_000)
        drawn_at_stop = len(model.store)
        qtbot.waitUntil(lambda: len(model.outbox) > 0, timeout=15_000)
        qtbot.waitUntil(lambda: "outbox" in view.outbox_chip.text()
                        and "0</span>" not in view.outbox_chip.text(), timeout=5_000)
        servers.append(arun(asyncio.to_thread(start_server, tmp_path, port=port), timeout=150))
        qtbot.waitUntil(lambda: model.feed.done and len(model.store) == TOTAL, timeout=90_000)
        # In order, none lost, none twice.
        assert np.array_equal(model.store.t, START + 60.0 * np.arange(TOTAL))
        assert model.session_id != first_id and model.recreated == 1
        qtbot.waitUntil(lambda: "Recreated" in view.note.text(), timeout=5_000)
        qtbot.waitUntil(lambda: model.session_id[:12] in w.tabs.tabText(w.tabs.indexOf(view)),
                        timeout=5_000)
        qtbot.waitUntil(lambda: "open" in view.link_chip.text(), timeout=10_000)
        qtbot.waitUntil(lambda: len(model.board) == 2, timeout=10_000)  # flash queries came along
        # The new session got the re-seed (the chart's 30-candle window) plus the rest, once each.
        status = arun(d.client.sessions.stream_status(model.session_id))
        assert status.statistics.total_enqueued == 30 + (TOTAL - drawn_at_stop)
    finally:
        arun(d.stop())
        for s in servers:
            s.stop()
