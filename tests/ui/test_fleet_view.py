"""The fleet view over three real bundled servers; one is killed mid-test and started again
on the same port. The other rows keep updating throughout, the killed one says
"unreachable" and comes back by itself (nobody clicks Retry). Sessions of two servers open
side by side in main-window tabs labelled with their server.

Uses private bundled servers (small: ctx 1024, pool 2) because it kills one.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.fleet import Fleet
from app.settings import Settings
from app.ui.fleet_view import COL_HEALTH, COL_SESSIONS, FleetView, attach_to_window
from tests.localserver.conftest import candles
from tests.support.server import RunningServer, start_server

SMALL = ["--ctx-size", "1024", "--pool-size", "2", "--threads", "1"]
WAIT_MS = 90_000  # two cores shared with other work: generous deadlines


@pytest.fixture
def three_servers(tmp_path: Path) -> Iterator[list[RunningServer]]:
    with ThreadPoolExecutor(3) as pool:
        servers = list(pool.map(lambda _i: start_server(tmp_path, extra_args=SMALL), range(3)))
    yield servers
    for server in servers:
        server.stop()


def cell(view: FleetView, row: int, col: int) -> str:
    item = view.table.item(row, col)
    return item.text() if item is not None else ""


def test_fleet_of_three_one_killed_and_restarted(
        qtbot: Any, arun: Any, window_for: Any, tmp_path: Path,
        three_servers: list[RunningServer]) -> None:
    alpha, beta, gamma = three_servers
    settings = Settings(tmp_path / "settings.json")
    fleet = Fleet(settings, key_lookup=None, interval=0.5, timeout=2.0)
    for server, label in zip(three_servers, ("alpha", "beta", "gamma"), strict=True):
        fleet.add(server.url, label)
    # Saved in settings (URLs and labels only), read back by a new Fleet.
    assert [s.label for s in Fleet(Settings(settings.path)).servers] == ["alpha", "beta",
                                                                           "gamma"]
    window = window_for(alpha.url)
    view = attach_to_window(window, fleet)
    fleet.start()
    rows = fleet.servers
    try:
        qtbot.waitUntil(lambda: all(r.status == "ok" and r.polls >= 2 for r in rows),
                        timeout=WAIT_MS)
        for i, r in enumerate(rows):
            assert r.has_metrics and r.model and "SmolLM2" in r.model
            assert r.sessions_max == 2
            qtbot.waitUntil(lambda i=i: cell(view, i, COL_HEALTH) == "ok", timeout=5_000)
        qtbot.waitUntil(lambda: all(r.generation == "API gen 1" for r in rows),
                        timeout=WAIT_MS)

        # Figures are the servers': a session and pushed entries on alpha.
        sid = httpx.post(f"{alpha.url}/v1/sessions/init",
                         json={"type": "ohlcv", "prompt": "Candles."}).json()["session_id"]
        httpx.post(f"{alpha.url}/v1/sessions/{sid}/stream/push", json={"data": candles(6)})
        qtbot.waitUntil(lambda: cell(view, 0, COL_SESSIONS) == "1 / 2", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: rows[0].drops == 0 and rows[0].queue == 0
                        and (rows[0].spark["tokens_rate"] and
                             max(rows[0].spark["tokens_rate"]) > 0), timeout=WAIT_MS)

        # Kill beta hard (no shutdown): its row says so, the others keep updating.
        beta.process.kill()
        beta.process.wait(30)
        qtbot.waitUntil(lambda: rows[1].status == "unreachable", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: cell(view, 1, COL_HEALTH).startswith("unreachable"),
                        timeout=5_000)
        assert rows[1].last_error == "connection refused"
        polls = [r.polls for r in rows]
        qtbot.waitUntil(lambda: rows[0].polls >= polls[0] + 4 and rows[2].polls >= polls[2] + 4,
                        timeout=WAIT_MS)
        assert rows[1].status == "unreachable" and rows[1].polls == polls[1]
        assert rows[0].status == rows[2].status == "ok"

        # Start it again on the same port (off the GUI thread): picked up without a click.
        with ThreadPoolExecutor(1) as pool:
            restart = pool.submit(start_server, tmp_path, port=beta.port, extra_args=SMALL)
            qtbot.waitUntil(restart.done, timeout=WAIT_MS)
        three_servers[1] = restart.result()
        qtbot.waitUntil(lambda: rows[1].status == "ok", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: cell(view, 1, COL_HEALTH) == "ok", timeout=5_000)
        # What came back is asked again: its generation and its /metrics.
        qtbot.waitUntil(lambda: rows[1].has_metrics is True
                        and rows[1].generation == "API gen 1", timeout=WAIT_MS)
        # The last error stays on the row: refused, or the model loading after the start.
        assert rows[1].polls > polls[1]
        assert rows[1].last_error in ("connection refused", "model still loading")

        # Sessions of beta and gamma side by side in tabs labelled with their server.
        opened = []
        for index, server in ((1, three_servers[1]), (2, gamma)):
            other = httpx.post(f"{server.url}/v1/sessions/init",
                               json={"type": "iot", "prompt": "Sensors."}).json()["session_id"]
            view.table.selectRow(index)
            assert view.sessions is not None
            panel = view.sessions
            # Listed, with its type read (the sessions table's details come a poll later).
            qtbot.waitUntil(lambda s=other, p=panel: getattr(p.model.store.rows.get(s),
                                                             "type", None) == "iot",
                            timeout=WAIT_MS)
            qtbot.waitUntil(lambda s=other, p=panel: p.select(s) or p.selected_id() == s,
                            timeout=5_000)
            qtbot.waitUntil(panel.open_btn.isEnabled, timeout=5_000)  # the display tick
            panel.open_btn.click()
            opened.append(other)
        labels = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        assert len(labels) == 2
        assert labels[0].startswith("beta · ") and labels[1].startswith("gamma · "), labels
        assert [v.model.session_id for v in window.views] == opened
        assert window.views[0].dashboard is not window.views[1].dashboard
    finally:
        arun(fleet.stop(), timeout=30)


def test_the_app_docks_the_saved_fleet(qtbot: Any, arun: Any, window_for: Any,
                                       local_server: RunningServer) -> None:
    """What the GUI's start does (app.ui.main): the fleet saved in the settings file comes
    back as a visible dock, polling, with keys looked up in the real keyring."""
    from app.settings import Settings as AppSettings
    from app.ui.fleet_view import open_fleet

    settings = AppSettings()
    settings.set("fleet", {"servers": [{"url": local_server.url, "label": "shared"}],
                           "prometheus_url": None})
    window = window_for(local_server.url)
    fleet = open_fleet(window)
    try:
        assert fleet is not None and [s.label for s in fleet.servers] == ["shared"]
        view = window.fleet_view
        dock = view.parentWidget()  # shown, the fleet not being empty
        qtbot.waitUntil(dock.isVisible, timeout=5_000)
        qtbot.waitUntil(lambda: cell(view, 0, COL_HEALTH) == "ok", timeout=WAIT_MS)
        # The main window's own server: its sessions come from the window's dashboard.
        view.table.selectRow(0)
        assert view.selected_dashboard is window.dashboard
    finally:
        if fleet is not None:
            arun(fleet.stop(), timeout=30)
        settings.delete("fleet")
