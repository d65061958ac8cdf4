"""`layerscale-dashboard` GUI entry: main(argv) -> exit code.

    layerscale-dashboard [--server URL] [--demo [TYPE]] [--replay FILE.csv [--speed X]]
                         [--screenshot FILE.png --quit-after SECONDS]

The window opens at once; starting the bundled server (--demo, or --replay without
--server) and creating sessions happen afterwards on the qasync loop, with their
progress in the status bar, so the GUI never waits on the network.

Start-up paints first: this module imports only Qt, qasync and the window's shell; the
core (the API client's pydantic models, httpx, numpy, the stream types) and the panels
(pyqtgraph) are imported once the shell has been painted, while it shows "Starting…".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.ui import layout, theme  # isort: skip  (first: pins the Qt binding, app/ui/__init__)
import qasync
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from app.paths import config_dir
from app.ui.icon import apply_identity
from app.ui.main_window import MainWindow
from app.ui.screenshot import save_screenshot, shows_answers
from app.ui.tasks import spawn

if TYPE_CHECKING:
    from app.core.archive import ArchivedSession
    from app.core.dashboard import Dashboard
    from app.core.session import SessionModel, SessionSpec

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8080"
# Entries played at once so the plot and the model start with some history: the session's
# window's worth.
DEMO_BACKLOG = 60
# What a first paint waits for at most (a window that is never exposed, e.g. minimised).
FIRST_PAINT_WAIT_S = 0.5
# Imported on a worker thread while the shell is up: no Qt in them (tests/api/test_boundaries).
CORE_MODULES = ("app.core.dashboard", "app.core.archive", "app.secrets")


def demo_spec(stream_name: str | None = None) -> SessionSpec:
    """The demo session of a stream type: its prompt and flash questions, framed for the
    bundled model (app.streams)."""
    from app.core.session import SessionSpec
    from app.streams import registry

    stream = registry.get(stream_name or registry.DEFAULT)
    return SessionSpec(type=stream.name, prompt=stream.demo_prompt(), context=4096,
                       window_size=DEMO_BACKLOG, flash=stream.demo_questions(),
                       flash_max_tokens=8, mark_prefix=True)


def _stream_types(argv: list[str]) -> tuple[tuple[str, ...], str]:
    """The stream type names and the default, read (app.streams: pydantic, numpy) only if
    the command line can mean --demo (or an abbreviation) or --help."""
    if not any(a.startswith(("--d", "--h", "-h")) for a in argv):
        return (), ""
    from app.streams import registry

    return registry.names(), registry.DEFAULT


def parse_args(argv: list[str]) -> argparse.Namespace:
    names, default = _stream_types(argv)
    p = argparse.ArgumentParser(prog="layerscale-dashboard",
                                description="Desktop dashboard for LayerScale servers.")
    p.add_argument("--server", metavar="URL", help=f"server to connect to (default {DEFAULT_URL})")
    p.add_argument("--demo", nargs="?", const=default, metavar="TYPE", choices=names or None,
                   help="start the bundled server if none answers, create a demo session of "
                        f"TYPE ({', '.join(names)}; default {default}) "
                        "with two flash queries and feed it synthetic data")
    p.add_argument("--replay", metavar="FILE.csv", type=Path,
                   help="create an OHLCV session and replay this CSV file into it")
    p.add_argument("--speed", type=float, default=None,
                   help="feed speed in candles per second (default 0.5 for the demo, 5 for replay; "
                        "0 = as fast as possible)")
    p.add_argument("--screenshot", metavar="FILE.png", type=Path,
                   help="save a picture of the main window (with --quit-after: just before "
                        "quitting)")
    p.add_argument("--quit-after", metavar="SECONDS", type=float,
                   help="quit cleanly after this many seconds")
    p.add_argument("--until-answered", action="store_true",
                   help="with --quit-after: screenshot and quit as soon as every open session "
                        "shows data and a flash answer (exit 3 if none came in time)")
    args = p.parse_args(argv)
    if args.speed is not None and args.speed < 0:
        p.error("--speed must be >= 0")
    if args.replay is not None and not args.replay.is_file():
        p.error(f"--replay: no such file: {args.replay}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=os.environ.get("LAYERSCALE_LOG", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "layerscale"])
    assert isinstance(app, QApplication)
    apply_identity(app)
    # Closing the window must not stop the loop under our feet: we finish on `closed`.
    app.setQuitOnLastWindowClosed(False)
    theme.apply(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        return int(loop.run_until_complete(run(args)))


def window_settings() -> QSettings:
    """The window's remembered layout (app.ui.layout), beside the settings file."""
    return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)


class _FirstPaint(QObject):
    """Sets `done` once `widget` has finished its first Paint event."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.widget = widget
        self.done = asyncio.Event()
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.widget and event.type() == QEvent.Type.Paint and not self.done.is_set():
            # After this paint has been delivered: the pixels are out before the heavy work.
            QTimer.singleShot(0, self.done.set)
            obj.removeEventFilter(self)
        return False


def _import_core() -> None:
    import importlib

    for name in CORE_MODULES:
        importlib.import_module(name)


async def import_core() -> None:
    """The core's modules, imported on a worker thread so the painted shell still handles
    its events meanwhile (the GIL is shared, but released to the GUI every few ms)."""
    await asyncio.to_thread(_import_core)


async def run(args: argparse.Namespace) -> int:
    needs_local = args.demo or (args.replay is not None and not args.server)
    automated = args.quit_after is not None
    settings = window_settings()
    # A plain start goes back to the last server; the demo and a replay without --server
    # use the bundled one's default address.
    remembered = None if needs_local or automated else layout.last_server(settings)
    url = (args.server or remembered or DEFAULT_URL).rstrip("/")
    # The window's shell first, where it was last time, painted before the core loads.
    window = MainWindow(None, settings=None if automated else settings, url=url)
    window.restore_layout(docks=False)
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    painted = _FirstPaint(window)
    window.show()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(painted.done.wait(), FIRST_PAINT_WAIT_S)
    await import_core()
    from app.core.archive import SessionArchive
    from app.core.dashboard import Dashboard
    from app.secrets import resolve_key_async
    from app.ui.fleet_view import open_fleet

    archive = SessionArchive()
    dashboard = Dashboard(url, key_lookup=resolve_key_async, archive=archive)
    window.attach(dashboard)
    window.restore_layout()  # the docks, now that they exist
    attach_launcher(window, None)
    fleet = open_fleet(window)  # the fleet dock: one poller per saved server
    # The window and its docks live until quit: taking them out of the collector's reach
    # keeps bulk candle ingest free of long full-heap GC pauses (measured by the chart bench).
    gc.collect()
    gc.freeze()
    controller: Any = None
    started_here = False
    # Sessions made for --demo / --replay: nobody feeds them once we quit, so they go too.
    ephemeral: list[SessionModel] = []

    async def prepare() -> None:
        nonlocal controller, started_here
        # The keyring may block (D-Bus, an unlock prompt): on its thread, with the window up.
        dashboard.set_key(await resolve_key_async(url))
        if needs_local:
            window.statusBar().showMessage(f"Looking for a server at {url}; starting the bundled "
                                           "one if none answers…")
            from app.launcher import ensure_local_server

            controller = await ensure_local_server(url)
            started_here = controller is not None and not getattr(controller, "attached", True)
            if controller is not None:
                attach_launcher(window, controller)
        dashboard.start()
        if args.demo or args.replay is not None:
            await start_feed_session(window, args, ephemeral)
        else:
            await window.restore_tabs()

    def failed(message: str) -> None:
        window.statusBar().showMessage(f"Start-up failed: {message}")
        dashboard.server.set_problem(RuntimeError(message), None)
        if not dashboard.client:
            dashboard.start()

    spawn(prepare(), on_error=failed)

    outcome = 0
    finished = False
    if automated:
        def finish() -> None:
            nonlocal outcome, finished
            if finished:
                return
            finished = True
            if args.until_answered and not shows_answers(window):
                outcome = 3
            try:
                if args.screenshot is not None:
                    save_screenshot(window, args.screenshot)
            finally:
                # No questions on an automated quit (the launcher's "leave the server
                # running?" is for people); a server this run started is stopped below.
                window.shutdown()

        QTimer.singleShot(int(args.quit_after * 1000), finish)
        if args.until_answered:
            def check() -> None:
                if shows_answers(window):
                    finish()

            watch = QTimer(window, interval=250)
            watch.timeout.connect(check)
            watch.start()
    elif args.screenshot is not None:
        QTimer.singleShot(3000, lambda: save_screenshot(window, args.screenshot))

    await closed.wait()
    for model in ephemeral:  # its id may have changed if the server lost and we recreated it
        answered = sum(q.latest is not None for q in model.board.queries.values())
        log.info("session %s: %d %s drawn, %d of %d flash queries answered",
                 model.session_id, len(model.store), model.stream.unit, answered,
                 len(model.board))
        deleting = asyncio.ensure_future(dashboard.delete_session(model.session_id))
        await asyncio.wait({deleting}, timeout=5.0)  # a busy server must not hold up the quit
        if not deleting.done():
            deleting.cancel()
        elif not deleting.cancelled() and deleting.exception() is not None:
            log.info("demo session not deleted: %s", deleting.exception())
    if fleet is not None:
        await fleet.stop()
    await dashboard.stop()
    panel = getattr(window, "launcher_panel", None)
    if panel is not None and hasattr(panel, "aclose"):
        with contextlib.suppress(Exception):
            await panel.aclose()  # while the loop still runs
    await asyncio.to_thread(archive.close)  # every acknowledged entry on disk
    if controller is not None:
        if started_here and automated:
            # An automated run (--quit-after) leaves nothing behind. Interactively the
            # launcher panel asked the user whether the server keeps running.
            with contextlib.suppress(Exception):
                await controller.stop()
        with contextlib.suppress(Exception):
            await controller.aclose()
    return outcome


async def start_feed_session(window: MainWindow, args: argparse.Namespace,
                             ephemeral: list[SessionModel]) -> None:
    """Create the --demo / --replay session and feed it; its id goes into `ephemeral`."""
    from app.feeds import CsvReplayFeed, SyntheticFeed

    resumable = await resumable_session(window.dashboard, args)
    if resumable is not None:
        # The same replay or demo was running when the last run died: carry on with it.
        window.statusBar().showMessage("Re-adopting the session of the last run…")
        model = await window.dashboard.adopt(resumable)
        window.show_session(model)
        ephemeral.append(model)
        window.statusBar().showMessage(
            f"Re-adopted {model.session_id[:12]}: {len(model.store):,} {model.stream.unit} "
            "from the last run; the feed resumes", 10000)
        return
    window.statusBar().showMessage("Creating the session…")
    view = await window.create_session(demo_spec(args.demo))
    model = view.model
    ephemeral.append(model)
    if args.replay is not None:
        speed = 5.0 if args.speed is None else args.speed
        feed: Any = await CsvReplayFeed.open(args.replay, math.inf if speed == 0 else speed)
        view.attach_feed(feed, args.replay.name)
        window.statusBar().showMessage(
            f"Replaying {args.replay.name}: {feed.total} candles"
            + (f", {len(feed.problems)} bad rows skipped" if feed.problems else ""), 10000)
    else:
        # One entry every 2 s: what the bundled CPU server keeps up with on a busy 2-core
        # machine while it re-answers both flash queries after every batch.
        stream = model.stream
        speed = 0.5 if args.speed is None else args.speed
        feed = SyntheticFeed(stream=stream.name, seed=8, speed=math.inf if speed == 0 else speed,
                             interval=stream.interval,
                             start=_history_start(DEMO_BACKLOG, stream.interval),
                             **stream.demo_params)
        # Some history first, so the plot and the model have something to look at at once:
        # straight into the outbox (pushed and drawn as acknowledged), then the paced feed
        # continues from there.
        for entry in feed.backlog(DEMO_BACKLOG):
            model.outbox.put_nowait(entry)
        view.attach_feed(feed, "synthetic")
        window.statusBar().showMessage(f"Demo: synthetic {stream.unit} feeding the session",
                                       10000)


async def resumable_session(dashboard: Dashboard, args: argparse.Namespace
                            ) -> ArchivedSession | None:
    """A session of an earlier run that was playing this same replay (or demo) when that
    run ended without deleting it (killed, crashed)."""
    from app.streams import registry

    default = registry.DEFAULT
    for kept in reversed(await dashboard.archived()):
        feed = kept.feed or {}
        if args.replay is not None:
            if feed.get("kind") == "csv" and feed.get("path") == str(args.replay.resolve()):
                return kept
        elif feed.get("kind") == "synthetic" and kept.type == (args.demo or default):
            return kept
    return None


def attach_launcher(window: MainWindow, controller: Any) -> None:
    """Dock the launcher helper's Server panel and its Server-menu actions, when present."""
    try:
        from app.ui.launcher_panel import attach_to_window
    except ImportError:
        return
    try:
        attach_to_window(window, controller)
    except Exception as exc:  # the dashboard works without the panel
        log.warning("server panel unavailable: %s", exc)


def _history_start(n: int, interval: float = 60.0) -> float:
    import time

    now = math.floor(time.time() / interval) * interval
    return now - n * interval


if __name__ == "__main__":
    sys.exit(main())
