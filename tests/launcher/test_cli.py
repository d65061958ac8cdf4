"""`layerscale-dashboard server ...` in subprocesses, as a shell user runs it, against the real
bundled server; the GUI's controller sees and stops what the CLI started."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx

from app.launcher import LauncherSettings, Profile, ServerController, ServerStatus, procs
from app.secrets import ENV_KEY, KeyStore
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = "LS-cli-profile-key-5150"


def server(*argv: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "server", *argv],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env=os.environ.copy())


def test_start_status_logs_then_gui_stops_it() -> None:
    port = free_port()
    LauncherSettings().save(Profile.bundled(port=port, name="Cli"))
    url = f"http://127.0.0.1:{port}"
    KeyStore().set(url, KEY)  # the profile's server uses the key stored for its URL
    try:
        _start_status_logs_then_gui_stops_it(port, url)
    finally:
        KeyStore().delete(url)


def _start_status_logs_then_gui_stops_it(port: int, url: str) -> None:

    stopped = server("status", "--profile", "Cli")
    assert stopped.returncode == 3 and stopped.stdout.startswith(f"stopped {url} pid=-")

    begun = time.monotonic()
    started = server("start", "--profile", "Cli")
    assert started.returncode == 0, started.stderr
    assert time.monotonic() - begun < 30  # returns once the process runs, not when ready
    assert "running: " in started.stdout and "--port" in started.stdout
    assert f"started Cli: {url} pid=" in started.stdout

    waited = server("start", "--profile", "Cli", "--wait")
    assert waited.returncode == 0 and "already running" in waited.stdout
    assert f"ready {url}" in waited.stdout

    status = server("status", "--profile", "Cli", "--json")
    assert status.returncode == 0
    info = json.loads(status.stdout)
    assert info["status"] == "ready" and info["url"] == url and info["pid"]
    pid = int(info["pid"])
    assert procs.is_alive(pid)
    assert f"{ENV_KEY}={KEY}".encode() in Path(f"/proc/{pid}/environ").read_bytes()
    assert KEY.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}"},
                     timeout=5).status_code == 200
    assert httpx.get(f"{url}/v1/models", timeout=5).status_code == 401
    for done in (started, waited, status):
        assert KEY not in done.stdout + done.stderr

    logs = server("logs", "--profile", "Cli", "-n", "200")
    assert logs.returncode == 0 and "listening on" in logs.stdout
    assert KEY not in logs.stdout

    follow = subprocess.Popen([sys.executable, "-m", "app.cli", "server", "logs", "-f",
                               "--profile", "Cli", "-n", "0"], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The GUI's controller sees the CLI's server and stops it; the follower prints the
        # launcher's note about it.
        async def gui_side() -> None:
            controller = ServerController(LauncherSettings().get("Cli"))
            assert await controller.refresh() == ServerStatus.READY
            assert controller.pid == pid
            await controller.stop()
            await controller.aclose()

        asyncio.run(gui_side())
        assert follow.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(follow.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + 20
        line = ""
        while "server stopped" not in line:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
    finally:
        follow.terminate()
        follow.wait(10)
    assert not procs.is_alive(pid)

    after = server("status", "--profile", "Cli")
    assert after.returncode == 3 and after.stdout.startswith("stopped")
    again = server("stop", "--profile", "Cli")
    assert again.returncode == 0 and "not running" in again.stdout


def _pump(stream: IO[str], into: queue.Queue[str]) -> None:
    """Hands a pipe's lines to the test, which waits on them with a deadline."""
    for line in stream:
        into.put(line)


def test_cli_stops_what_another_process_started() -> None:
    port = free_port()
    LauncherSettings().save(Profile.bundled(port=port, name="Other"))

    async def gui_start() -> int:
        controller = ServerController(LauncherSettings().get("Other"))
        await controller.start()
        pid = controller.pid
        await controller.aclose()  # the GUI quits, leaving the server running
        assert pid is not None
        return pid

    pid = asyncio.run(gui_start())
    assert procs.is_alive(pid)
    status = server("status", "--profile", "Other")
    assert status.returncode in (0, 4) and f"pid={pid}" in status.stdout
    stopped = server("stop", "--profile", "Other")
    assert stopped.returncode == 0 and f"pid={pid}" in stopped.stdout
    assert not procs.is_alive(pid)


def test_cli_refuses_port_held_by_another_program_and_unknown_profile() -> None:
    import socket

    with socket.socket() as sock:  # fault injection: a bare listener on the profile's port
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        LauncherSettings().save(Profile.bundled(port=port, name="Busy"))
        done = server("start", "--profile", "Busy")
    assert done.returncode == 6
    assert f"Port {port}" in done.stderr and "hint: change the profile's port to" in done.stderr
    unknown = server("status", "--profile", "Nope")
    assert unknown.returncode == 2 and "known: " in unknown.stderr
    usage = server("explode")
    assert usage.returncode == 2


def test_default_profile_is_the_bundled_server_on_8080() -> None:
    """No settings yet, no --profile: the bundled server on http://127.0.0.1:8080 (whatever its
    state on this shared machine)."""
    status = server("status")
    assert status.returncode in (0, 3, 4, 5), status.stderr
    words = status.stdout.split()
    assert words[0] in {"stopped", "starting", "loading", "ready", "crashed"}
    assert words[1] == "http://127.0.0.1:8080" and "profile=Bundled" in words
    listed = server("profiles")
    assert listed.returncode == 0
    assert listed.stdout.split() == ["*", "Bundled", "bundled", "http://127.0.0.1:8080"]


def test_cli_status_of_a_foreign_server_and_refusal_to_stop_it(local_server) -> None:  # type: ignore[no-untyped-def]
    LauncherSettings().save(Profile.bundled(port=local_server.port, name="Foreign"))
    status = server("status", "--profile", "Foreign")
    assert status.returncode == 0 and status.stdout.startswith("ready")
    assert "not started by the dashboard" in status.stdout
    stop = server("stop", "--profile", "Foreign")
    assert stop.returncode == 7 and "not started by the dashboard" in stop.stderr
    assert local_server.process.poll() is None
