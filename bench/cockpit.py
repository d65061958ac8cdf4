"""The operator's cockpit under load: event-to-pixel latency, GUI loop lag, memory, start-up.

    .venv/bin/python -m bench.cockpit [--seconds 20] [--rate 1000] [--sessions 20]
                                      [--replay-hours 1] [--startup-runs 3]

1. Event-to-pixel and loop lag. The real MainWindow (offscreen) with `--sessions` open
   session tabs, every cockpit dock of the current one visible side by side (session
   state, ingest graphs, server overview, query console) in a 2560x1440 window. A
   synthetic event source at the client's event level (the runner's reconnecting stream
   is replaced; nothing else is) delivers `--rate` events/s in total, round-robin over
   the sessions: data_updated, push_ack (queue size) and flash_ready. Latency runs from
   the moment the runner receives an event to the end of the first window repaint after
   the display tick that read it (the window's UpdateRequest returning from
   QApplication.notify). The overview table shows every open session's data version,
   acked queue and newest flash answer, so every event changes pixels (checked before
   measuring: until 1 Dec 2026 the 1800x1100 window showed one row of the 20, and until
   the answer column came a hidden tab's flash_ready changed nothing: either way such
   events were timed to whatever unrelated repaint came next). A 5 ms heartbeat QTimer
   measures how late the loop runs (lag).
2. Memory: an hour of 20 busy sessions replayed fast on a simulated clock, through the
   same core objects (runners' event handling, link timings, ingest series, overview
   lines, health strip, a query per session per minute) and the panels repainted each
   simulated second. RSS after the first simulated minute (start) and at the end.
3. Start-up to first paint: `layerscale-dashboard` (app.cli.main) in a subprocess, from
   spawn to the main window's first Paint event (the real MainWindow: its shell, menus
   and connect bar, painted before the core and the panels are imported). Cold = the
   first start of a fresh copy of the app's source (no bytecode of the app's own modules:
   every one the start imports is compiled), with Python's and the libraries' bytecode as
   installed: what a user's first start is, since pip, distribution packages and the
   PyInstaller bundle all ship compiled bytecode for those. Warm = the later starts of
   that copy. Also printed, for comparison with earlier figures: cold with nothing
   compiled at all (PYTHONPYCACHEPREFIX to an empty directory: the standard library,
   PySide6's Python parts and every other library compiled too), which no installed
   build meets. The OS page cache cannot be dropped without root.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6.QtCore  # noqa: F401  isort: skip  (pyqtgraph and qasync bind to PySide6)
import numpy as np
import qasync
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication

from app.api.errors import LayerScaleError
from app.api.generation import Detection, Generation
from app.api.models import (
    ConnectedEvent,
    DataUpdatedEvent,
    FlashList,
    FlashReadyEvent,
    Health,
    ModelList,
    PushAckEvent,
    SessionList,
    SessionState,
    StreamStatus,
)
from app.api.reconnect import LinkState
from app.api.surface import Surface

HEARTBEAT_MS = 5


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else math.nan


# ---------------------------------------------------------------------- synthetic client
class SyntheticStream:
    """Stands in for ReconnectingSessionStream: events from a queue the source fills."""

    def __init__(self, sid: str, on_state: Any, arrivals: deque[float]) -> None:
        self.sid = sid
        self.on_state = on_state
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.arrivals = arrivals

    async def __aenter__(self) -> SyntheticStream:
        if self.on_state is not None:
            self.on_state(LinkState("open"))
        self.queue.put_nowait(ConnectedEvent(session_id=self.sid, data_version=0))
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> SyntheticStream:
        return self

    async def __anext__(self) -> Any:
        event = await self.queue.get()
        self.arrivals.append(time.perf_counter())  # the frame reached the runner now
        return event

    async def push(self, entries: Any) -> None:
        return None


class SyntheticSessions:
    def __init__(self, ids: list[str], arrivals: deque[float]) -> None:
        self.ids = ids
        self.arrivals = arrivals
        self.streams: dict[str, SyntheticStream] = {}
        self.processed = dict.fromkeys(ids, 0)
        now = time.time()
        self.created = now

    def reconnecting_stream(self, sid: str, on_state: Any = None, **_: Any) -> SyntheticStream:
        stream = SyntheticStream(sid, on_state, self.arrivals)
        self.streams[sid] = stream
        return stream

    async def list(self, **_: Any) -> SessionList:
        return SessionList.model_validate({"count": len(self.ids), "max_sessions": 64,
                                           "sessions": [self._summary(s) for s in self.ids]})

    def _summary(self, sid: str) -> dict[str, Any]:
        n = 400 + self.processed[sid] % 3000
        return {"session_id": sid, "n_tokens": n, "context": 4096, "prefix_end": 40,
                "cache_usage": n / 4096, "created_at": self.created,
                "last_used_at": time.time(), "in_use": False}

    async def get(self, sid: str, **_: Any) -> SessionState:
        lines = "".join(f"+60 O{100 + i * .1:.1f} H+.1 L-.1 C+.05 V1k\n" for i in range(60))
        return SessionState.model_validate(self._summary(sid) | {
            "type": "ohlcv", "pos_min": 0, "pos_max": 999, "pos_next": 1000,
            "data_region": {"start": 40, "end": 1000, "window_size": 60}, "data_count": 60,
            "context_text": "Each line is one OHLCV candle.\n" + lines})

    async def stream_status(self, sid: str, **_: Any) -> StreamStatus:
        p = self.processed[sid]
        return StreamStatus.model_validate({
            "type": "ohlcv",
            "streaming": {"initialized": True, "running": True, "queue_size": p % 40,
                          "queue_capacity": 1000},
            "statistics": {"total_enqueued": p, "total_dropped": p // 500,
                           "batches_processed": p // 4, "items_processed": p,
                           "total_process_time_us": p * 900.0, "avg_process_time_us": 3600.0},
            "data": {"initialized": True, "data_count": 60, "total_data_tokens": 900,
                     "pos_next": 1000}})

    async def list_flash(self, sid: str, **_: Any) -> FlashList:
        return FlashList.model_validate({"flash_queries": [], "count": 2,
                                         "current_data_version": 0})

    async def stats(self, sid: str, **_: Any) -> Any:
        raise LayerScaleError("statistics are not part of this bench")


class SyntheticClient:
    def __init__(self, ids: list[str], arrivals: deque[float]) -> None:
        self.sessions = SyntheticSessions(ids, arrivals)
        self.detection = Detection(Generation.V1, "synthetic bench client", ())

    @property
    def capabilities(self) -> Any:
        return self.detection.capabilities

    async def surface(self) -> Surface:
        return Surface(self.detection, self.sessions, None, self.health,  # type: ignore
                       self.models)

    async def health(self, **_: Any) -> Health:
        return Health(status="ok", model="SmolLM2-135M-Instruct (synthetic)")

    async def models(self, **_: Any) -> ModelList:
        return ModelList.model_validate({"data": [{"id": "synthetic"}]})

    async def aclose(self) -> None:
        return None


def event_for(i: int, version: int) -> Any:
    kind = i % 5
    if kind in (0, 1):
        return DataUpdatedEvent(data_version=version, data_count=60, pos_next=1000)
    if kind in (2, 3):
        return PushAckEvent(pushed=4, dropped=0, queue_size=version % 37)
    return FlashReadyEvent(id=1 + version % 2, query="Is the trend bullish?",
                           value="Yes" if version % 7 else "No", data_version=version,
                           confidence=1.5 + version % 3, evaluated_at=time.time())


# ---------------------------------------------------------------------- paint tracking
class PaintClock(QObject):
    """Times the end of the window's repaints: an UpdateRequest returning from notify."""

    def __init__(self, app: QApplication, window: Any) -> None:
        super().__init__()
        self.window = window
        self.pending: list[float] = []  # arrivals read by a display tick, not yet painted
        self.latencies: list[float] = []
        self._next_paint = False
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.window and event.type() == QEvent.Type.UpdateRequest and self.pending:
            # Paint now (what the UpdateRequest would do), then stamp: the pixels are out.
            obj.event(event)
            now = time.perf_counter()
            self.latencies.extend(now - t for t in self.pending)
            self.pending.clear()
            return True
        return False


def place_docks(window: Any) -> None:
    """Every cockpit panel visible at once: no two docks tabbed together; the server
    overview down the right side, tall and wide enough for every session's row."""
    docks = window.cockpit.docks
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, docks["Server overview"])
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, docks["Session state"])
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, docks["Ingest"])
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, docks["Query console"])
    window.splitDockWidget(docks["Session state"], docks["Ingest"], Qt.Orientation.Horizontal)
    window.splitDockWidget(docks["Ingest"], docks["Query console"], Qt.Orientation.Horizontal)
    for dock in docks.values():
        dock.show()
    window.resizeDocks([docks["Server overview"]], [1180], Qt.Orientation.Horizontal)
    window.resizeDocks([docks["Session state"]], [520], Qt.Orientation.Vertical)
    window.resizeDocks([docks["Session state"], docks["Ingest"], docks["Query console"]],
                       [700, 1000, 860], Qt.Orientation.Horizontal)
    window.cockpit.panels["Session state"].search.setText("candle")


def overview_shows_every_event(window: Any, n: int) -> None:
    """The premise of the latency figure: each session's row, with its live cells (data
    version, acked queue, newest answer), is on screen, so every event changes pixels."""
    from app.ui.cockpit.server_panel import LIVE_COLUMNS

    table = window.cockpit.server.table
    view = table.viewport().rect()
    last = table.model().index(n - 1, max(LIVE_COLUMNS))
    if table.model().rowCount() < n or not view.contains(table.visualRect(last)):
        raise RuntimeError(f"the overview table does not show all {n} sessions' live cells "
                           f"(viewport {view.width()}x{view.height()}); enlarge the window")


async def load_run(app: QApplication, n: int, rate: float, seconds: float) -> dict[str, Any]:
    from app.core.dashboard import Dashboard
    from app.core.session import Mode
    from app.ui.main_window import MainWindow

    ids = [f"bench-{i:02d}" for i in range(n)]
    arrivals: deque[float] = deque()
    client = SyntheticClient(ids, arrivals)
    d = Dashboard("http://synthetic", client_factory=lambda url, key: client,
                  poll_interval=1.5)
    w = MainWindow(d)
    w.resize(2560, 1440)  # a desktop monitor; the overview needs the room for 20 rows
    w.show()
    d.start()
    deadline = time.monotonic() + 10
    while len(d.sessions.rows) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for sid in ids:  # the listing may not have read every type yet: ask, as the app does
        view = w.show_session(await d.open_session_typed(sid), focus=False)
        view.model.mode = Mode.OWNED  # as if this dashboard fed them: acks carry the queue
    w.tabs.setCurrentIndex(0)
    place_docks(w)
    clock = PaintClock(app, w)
    original = w.refresh

    def refresh() -> None:
        clock.pending.extend(arrivals)  # every arrival so far is read by this tick
        arrivals.clear()
        original()

    w.timer.timeout.disconnect()
    w.timer.timeout.connect(refresh)
    # Warm up: a few seconds for pollers, first paints, graphs' first data.
    await asyncio.sleep(3)
    overview_shows_every_event(w, n)
    clock.latencies.clear()
    lags: list[float] = []
    last = [time.perf_counter()]
    beat = QTimer()
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.setInterval(HEARTBEAT_MS)

    def on_beat() -> None:
        now = time.perf_counter()
        lags.append(max(0.0, (now - last[0]) * 1e3 - HEARTBEAT_MS))
        last[0] = now

    beat.timeout.connect(on_beat)
    beat.start()
    start = time.perf_counter()
    sent = 0
    versions = dict.fromkeys(ids, 0)
    sessions = client.sessions
    # A query streaming into the console meanwhile is part of "every panel visible".
    console = w.cockpit.console
    while time.perf_counter() - start < seconds:
        due = int((time.perf_counter() - start) * rate)
        while sent < due:
            sid = ids[sent % n]
            versions[sid] += 1
            sessions.processed[sid] += 1
            sessions.streams[sid].queue.put_nowait(event_for(sent // n, versions[sid]))
            sent += 1
        if console.record is None or console.record.status != "running":
            console.record = None
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - start
    beat.stop()
    await asyncio.sleep(0.2)
    result = {"events": sent, "rate": sent / elapsed, "latency": list(clock.latencies),
              "lag": lags}
    w.shutdown()
    await d.stop()
    await w.cockpit.aclose()
    w.deleteLater()
    return result


# ---------------------------------------------------------------------- memory replay
async def replay(n: int, hours: float) -> tuple[float, float, int]:
    """An hour of n busy sessions on a simulated clock; RSS after one minute and at the end."""
    from app.core.cockpit import Cockpit, SessionCockpit
    from app.core.console import QueryRecord
    from app.core.dashboard import Dashboard
    from app.core.link import SessionRunner
    from app.core.session import Mode, SessionModel
    from app.ui.cockpit.ingest_panel import IngestPanel
    from app.ui.cockpit.server_panel import ServerPanel
    from app.ui.cockpit.state_panel import StatePanel

    ids = [f"replay-{i:02d}" for i in range(n)]
    client = SyntheticClient(ids, deque(maxlen=1))
    d = Dashboard("http://synthetic", client_factory=lambda url, key: client)
    d.client = client
    d.server.set_ok(model="synthetic")
    d.sessions.apply((await client.sessions.list()).sessions, 64)
    cockpit = Cockpit(d)
    models = [SessionModel(sid, "ohlcv", mode=Mode.OWNED) for sid in ids]
    runners = [SessionRunner(client, m) for m in models]  # type: ignore[arg-type]
    cockpits = [SessionCockpit(d, m) for m in models]
    state, ingest, server = StatePanel(), IngestPanel(), ServerPanel(cockpit.server)
    for panel in (state, ingest, server):
        panel.resize(900, 500)
        panel.show()
    state.set_cockpit(cockpits[0])
    ingest.set_cockpit(cockpits[0])
    state.cockpit.state.value = await client.sessions.get(ids[0])
    per_second = 1000 // n
    t0 = time.time()
    start_rss = 0.0
    total = int(hours * 3600)
    for sec in range(total):
        now = t0 + sec
        for m, r, c in zip(models, runners, cockpits, strict=True):
            sid = m.session_id
            for k in range(per_second):
                client.sessions.processed[sid] += 1
                r._handle(event_for(k, client.sessions.processed[sid]))
            c.ingest.add(await client.sessions.stream_status(sid), now)
            if sec % 60 == 0:  # a query a minute per session, kept in its history
                c.console.history.append(QueryRecord(prompt="Why is the queue growing?",
                                                     text="Because " * 20, tokens=40,
                                                     status="done"))
        if sec % 2 == 0:
            cockpit.server.sync_rows(now)
            for sid in ids:
                line = cockpit.server.lines[sid]
                line.add_status(await client.sessions.stream_status(sid), now)
        cockpit.server.sample_health(now)
        for g in ingest.graphs:  # a repaint a simulated second, reading up to the hour
            g.set_span(3600.0)
            g.refresh(now)
        if sec % 30 == 0:  # render the panels (grab paints synchronously, no event loop)
            state._shown = ()
            state.refresh()
            server._shown = ()
            server.refresh()
            for panel in (state, ingest, server):
                panel.grab()
        if sec == 60:
            gc.collect()
            start_rss = rss_mb()
    gc.collect()
    await cockpit.stop()
    for c in cockpits:
        await c.stop()
    return start_rss, rss_mb(), total * per_second * n


# ---------------------------------------------------------------------- start-up
CHILD = r"""
import sys, time, os
t_spawn = float(sys.argv[1])
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(["layerscale-dashboard"])
class First(QObject):
    done = False
    def eventFilter(self, obj, ev):
        if not self.done and ev.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
            self.done = True
            print(f"FIRST_PAINT {time.time() - t_spawn:.4f} {time.process_time():.4f}",
                  flush=True)
            QTimer.singleShot(0, lambda: os._exit(0))
        return False
f = First()
app.installEventFilter(f)
from app.cli import main
main(["--server", "http://127.0.0.1:9", "--quit-after", "20"])
"""


def first_paint(env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds from spawn to the main window's first paint."""
    t = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, repr(t)], capture_output=True,
                         text=True, env=env, timeout=120, cwd=cwd)
    line = next((x for x in out.stdout.splitlines() if x.startswith("FIRST_PAINT")), None)
    if line is None:
        raise RuntimeError(f"no first paint: {out.stderr[-800:]}")
    _, wall, cpu = line.split()
    return float(wall), float(cpu)


def startup(runs: int) -> tuple[tuple[float, float], list[tuple[float, float]],
                                tuple[float, float]]:
    """(wall, CPU) seconds to the first paint: the cold run and the warm ones of a fresh
    copy of the app (libraries' bytecode as installed), then cold with nothing compiled."""
    root = Path(tempfile.mkdtemp(prefix="ls-startup-"))
    # The copy is found first (the child's sys.path starts with its working directory).
    shutil.copytree(Path(__file__).parent.parent / "app", root / "app",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.gguf"))
    if (Path(__file__).parent.parent / "resources").is_dir():  # the icons, as installed
        (root / "resources").symlink_to(Path(__file__).parent.parent / "resources")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=tempfile.mkdtemp(prefix="ls-home-"))
    times = [first_paint(env, root) for _ in range(runs + 1)]
    bare = dict(env, PYTHONPYCACHEPREFIX=tempfile.mkdtemp(prefix="ls-pycache-"),
                HOME=tempfile.mkdtemp(prefix="ls-home-"))
    nothing = first_paint(bare, Path(__file__).parent.parent)
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(bare["PYTHONPYCACHEPREFIX"], ignore_errors=True)
    return times[0], times[1:], nothing


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cockpit")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--replay-hours", type=float, default=1.0)
    p.add_argument("--startup-runs", type=int, default=3)
    args = p.parse_args(argv)
    app = QApplication.instance() or QApplication(["bench"])
    from app.ui import theme

    theme.apply(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        load = loop.run_until_complete(load_run(app, args.sessions, args.rate, args.seconds))
        start_rss, end_rss, replayed = loop.run_until_complete(
            replay(args.sessions, args.replay_hours))
    cold, warm, nothing = startup(args.startup_runs)
    lat = [x * 1e3 for x in load["latency"]]
    rows = [
        ("event-to-pixel p50", f"{pct(lat, 50):.1f} ms", "-"),
        ("event-to-pixel p99", f"{pct(lat, 99):.1f} ms", "< 16 ms"),
        ("GUI loop lag p50", f"{pct(load['lag'], 50):.1f} ms", "-"),
        ("GUI loop lag p99", f"{pct(load['lag'], 99):.1f} ms", "< 20 ms"),
        ("events delivered", f"{load['events']:,} ({load['rate']:,.0f}/s, "
                             f"{args.sessions} sessions)", "1,000/s"),
        ("RSS start (after 1 simulated min)", f"{start_rss:.1f} MB", "-"),
        (f"RSS end ({args.replay_hours:g} h, {replayed:,} events)",
         f"{end_rss:.1f} MB ({(end_rss / start_rss - 1) * 100:+.1f} %)", "growth < 5 %"),
        ("startup to first paint, cold", f"{cold[0]:.2f} s (CPU {cold[1]:.2f} s)", "< 0.8 s"),
        ("startup to first paint, warm", f"{min(w for w, _ in warm):.2f} s (CPU "
                                         f"{min(c for _, c in warm):.2f} s)", "< 0.8 s"),
        ("  cold, nothing compiled (stdlib too)", f"{nothing[0]:.2f} s (CPU {nothing[1]:.2f} s)",
         "-"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<34}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<34}  {target}")
    print(f"(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
