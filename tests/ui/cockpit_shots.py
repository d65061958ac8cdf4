"""Screenshots of the cockpit's panels for docs/ (cockpit-*.png), against the bundled server.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.ui.cockpit_shots docs/ [--seconds 75]

A demo session (OHLCV, two flash queries) is fed for `--seconds` so the ingest graphs
have history, two queries run in the console, then each dock is shown and grabbed, plus
the whole window in the light theme and the About dialog.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6.QtCore  # noqa: F401  isort: skip  (qasync and pyqtgraph bind to PySide6)
import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.ui import theme


async def shoot(out: Path, seconds: float) -> None:
    from app.core.dashboard import Dashboard
    from app.feeds import SyntheticFeed
    from app.ui.main import demo_spec
    from app.ui.main_window import MainWindow
    from tests.support.server import start_server

    server = start_server(Path(tempfile.mkdtemp(prefix="shots-")))
    try:
        d = Dashboard(server.url, poll_interval=1.0)
        w = MainWindow(d)
        w.resize(1600, 1000)
        w.show()
        d.start()
        while not d.server.ok:
            await asyncio.sleep(0.1)
        # One flash question with short answers: a busy shared CPU still keeps up.
        spec = replace(demo_spec("ohlcv"), flash=demo_spec("ohlcv").flash[:1],
                       flash_max_tokens=4)
        view = await w.create_session(spec)
        feed = SyntheticFeed(stream="ohlcv", seed=8, speed=2.0, interval=60.0,
                             start=math.floor(time.time() / 60) * 60 - 60 * 60)
        for entry in feed.backlog(60):
            view.model.outbox.put_nowait(entry)
        view.attach_feed(feed, "synthetic")
        ui = w.cockpit
        docks = ui.docks
        # Every panel visible while the feed runs, so each poller gathers history.
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, docks["Session state"])
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, docks["Server overview"])
        w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, docks["Ingest"])
        w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, docks["Query console"])
        w.splitDockWidget(docks["Ingest"], docks["Query console"], Qt.Orientation.Horizontal)
        for dock in docks.values():
            dock.show()
        w.resizeDocks([docks["Ingest"]], [430], Qt.Orientation.Vertical)
        w.resizeDocks([docks["Session state"]], [620], Qt.Orientation.Horizontal)
        w.resizeDocks([docks["Session state"], docks["Server overview"]], [560, 300],
                      Qt.Orientation.Vertical)
        console = ui.console
        deadline = time.monotonic() + seconds
        asked = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            sc = console.cockpit
            if sc is not None and not sc.console.busy and asked < 2 and \
                    time.monotonic() > deadline - seconds / 2:
                # A fast yes/no first, then a streamed answer that stays on screen.
                console.prompt.setPlainText(("Is the trend bullish? Answer yes or no.",
                                             "Count from 1 to 20: 1, 2, 3,")[asked])
                console.max_tokens.setValue(8 if asked == 0 else 24)
                console.fast.setChecked(asked == 0)
                console.send()
                asked += 1
        ui.state.search.setText("O100")
        w.refresh()
        await asyncio.sleep(0.5)
        # Show where the prefix ends and the data begins, the boundary a reader looks for.
        viewer = ui.state.viewer
        cursor = viewer.textCursor()
        cursor.setPosition(max(0, ui.state.marks()[1] - 1))
        viewer.setTextCursor(cursor)
        viewer.centerCursor()
        await asyncio.sleep(0.2)
        out.mkdir(parents=True, exist_ok=True)
        w.grab().save(str(out / "cockpit-window.png"))
        for title, name in (("Session state", "state"), ("Ingest", "ingest"),
                            ("Query console", "console")):
            docks[title].grab().save(str(out / f"cockpit-{name}.png"))
        # The overview floated wide enough for every column, sparklines included.
        overview = docks["Server overview"]
        overview.setFloating(True)
        overview.resize(1500, 330)
        await asyncio.sleep(0.5)
        ui.server._shown = ()
        w.refresh()
        await asyncio.sleep(0.3)
        overview.grab().save(str(out / "cockpit-overview.png"))
        overview.setFloating(False)
        ui.set_theme("light")
        w.refresh()
        await asyncio.sleep(1.0)
        w.grab().save(str(out / "cockpit-light.png"))
        ui.set_theme("system")
        about = ui.show_about()
        await asyncio.sleep(0.3)
        about.grab().save(str(out / "cockpit-about.png"))
        about.close()
        view.runner.stop_feed()
        await d.delete_session(view.model.session_id)
        w.shutdown()
        await d.stop()
        await ui.aclose()
    finally:
        server.stop()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("--seconds", type=float, default=75.0)
    args = p.parse_args()
    app = QApplication.instance() or QApplication(["shots"])
    theme.apply(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(shoot(args.out, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
