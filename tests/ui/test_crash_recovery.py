"""The dashboard process is killed (SIGKILL) mid-replay and started again: it re-adopts its
session (the same one, not a new one), redraws what it had from disk, and goes on feeding,
so that the server holds every candle of the file exactly once, in order."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from app.feeds import CsvReplayFeed
from tests.support.server import ROOT, RunningServer, start_server

ROWS = 48


def wait_for(cond: Callable[[], bool], timeout: float, what: str,
             proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the dashboard exited ({proc.returncode}) while waiting for "
                                 f"{what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)  # polling interval of a deadline wait


def sessions(server: RunningServer) -> list[dict]:
    return httpx.get(f"{server.url}/v1/sessions", timeout=30).json()["sessions"]


def statistics(server: RunningServer, sid: str) -> dict:
    return httpx.get(f"{server.url}/v1/sessions/{sid}/stream/status",
                     timeout=30).json()["statistics"]


def journaled(db: Path) -> list[float]:
    """Timestamps of the entries the dashboard's archive holds, in order."""
    if not db.exists():
        return []
    import json

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute("SELECT wire FROM entries ORDER BY session, seq").fetchall()
    return [float(json.loads(w)["timestamp"]) for (w,) in rows]


def test_sigkill_mid_feed_then_restart_readopts_every_candle_once(tmp_path: Path) -> None:
    source = ROOT / "resources" / "sample_data" / "synthetic_1m.csv"
    csv = tmp_path / "replay.csv"
    csv.write_text("\n".join(source.read_text().splitlines()[: ROWS + 1]) + "\n")
    expected = [float(c.timestamp) for c in CsvReplayFeed(csv).skip(ROWS)]
    assert len(expected) == ROWS
    env = {k: v for k, v in os.environ.items() if k != "LAYERSCALE_LICENSE_KEY"}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"))
    db = tmp_path / "data" / "layerscale-dashboard" / "sessions.sqlite3"
    server = start_server(tmp_path)
    cmd = [sys.executable, "-c", "import sys; from app.ui.main import main; sys.exit(main())",
           "--server", server.url, "--replay", str(csv), "--speed", "12"]
    procs: list[subprocess.Popen[str]] = []
    try:
        first = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(first)
        wait_for(lambda: len(sessions(server)) == 1, 120, "the replay session", first)
        sid = sessions(server)[0]["session_id"]
        wait_for(lambda: statistics(server, sid)["total_enqueued"] >= 12, 120,
                 "some candles acknowledged", first)
        first.send_signal(signal.SIGKILL)  # no chance to clean up or delete anything
        first.wait(30)
        before = statistics(server, sid)["total_enqueued"]
        assert before < ROWS, "the replay finished before it could be killed"

        second = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(second)
        wait_for(lambda: statistics(server, sid)["total_enqueued"] == ROWS, 240,
                 "the rest of the file fed to the same session", second)
        # Re-adopted: still one session, the same one; nothing sent twice, nothing dropped.
        assert [s["session_id"] for s in sessions(server)] == [sid]
        stats = statistics(server, sid)
        assert stats["total_enqueued"] == ROWS and stats["total_dropped"] == 0
        # Every acknowledged candle is drawn (and kept) once, in order.
        wait_for(lambda: journaled(db) == expected, 60, "the archive to hold every candle once",
                 second)
        assert journaled(db) == expected
        assert statistics(server, sid)["total_enqueued"] == ROWS
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        server.stop()
