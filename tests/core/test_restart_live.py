"""The server is stopped and started again (same port) mid-stream: nothing lost, nothing twice.

Uses a private bundled server (tests.support.server.start_server) because it kills it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from app.core.dashboard import Dashboard
from app.feeds import SyntheticFeed
from tests.core.live import small_spec, until
from tests.support.server import start_server

START = 1_700_000_000.0
TOTAL = 120


def test_restart_mid_stream_recreates_session_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
    server = start_server(tmp_path)
    port = server.port

    async def scenario() -> None:
        nonlocal server
        d = Dashboard(server.url, poll_interval=0.5)
        d.start()
        try:
            await until(lambda: d.server.ok, 20, "server ok")
            model = await d.create_session(small_spec(window=30))
            first_id = model.session_id
            feed = SyntheticFeed(seed=3, start=START, speed=40.0, count=TOTAL)
            d.attach_feed(model, feed, "synthetic")
            await until(lambda: len(model.store) >= 30, 30, "30 candles acknowledged")
            # Kill it mid-stream; the feed keeps producing into the outbox meanwhile.
            await asyncio.to_thread(server.stop)
            await until(lambda: model.link.status in ("reconnecting", "closed"), 15, "link down")
            drawn_at_stop = len(model.store)
            await until(lambda: len(model.outbox) > 0, 15, "outbox fills while down")
            server = await asyncio.to_thread(start_server, tmp_path, port=port)
            await until(lambda: model.feed.done and len(model.store) == TOTAL, 90,
                        "every candle acknowledged after the restart")
            t = model.store.t
            assert np.array_equal(t, START + 60.0 * np.arange(TOTAL))  # in order, none lost/twice
            assert model.session_id != first_id and model.recreated == 1
            assert any("Recreated" in n.text for n in model.notes)
            assert len(model.outbox) == 0 and model.link.status == "open"
            await until(lambda: len(model.board) == 2, 10, "flash queries came along")
            # The new session received the re-seed plus the rest, each candle exactly once.
            status = await d.client.sessions.stream_status(model.session_id)
            reseeded = min(30, drawn_at_stop)
            assert status.statistics.total_enqueued == reseeded + (TOTAL - drawn_at_stop)
        finally:
            await d.stop()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
