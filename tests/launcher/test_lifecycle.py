"""Start and stop the real bundled server through ServerController."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app import paths
from app.launcher import (
    LauncherSettings,
    Profile,
    RestartPolicy,
    ServerController,
    ServerStatus,
    ensure_local_server,
    procs,
)
from app.secrets import KeyStore, resolve_key_async
from app.settings import Settings
from tests.launcher.polling import until
from tests.support.server import free_port

KEY = "LS-launcher-env-only-4242"
S = ServerStatus


def _proc_bytes(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()


def test_start_states_logs_key_and_stop() -> None:
    profile = Profile.bundled(port=free_port(), name="Lifecycle")
    launcher = LauncherSettings()
    launcher.save(profile)  # so there is a settings file to search for the key
    # The key the profile's server gets is the one stored in the real keyring for its URL.
    KeyStore().set(profile.url, KEY)

    async def scenario() -> None:
        controller = ServerController(profile)
        assert KEY not in repr(controller)
        await controller.start()
        assert controller.status == S.STARTING  # returns once the process runs
        pid = controller.pid
        assert pid is not None and procs.is_alive(pid)
        await controller.wait_ready(120)
        assert controller.history[:3] == [S.STARTING, S.LOADING, S.READY]
        health = httpx.get(f"{controller.url}/v1/health", timeout=5)
        assert health.status_code == 200
        # The key reaches the server through its environment and nowhere else.
        models = httpx.get(f"{controller.url}/v1/models", timeout=5,
                           headers={"Authorization": f"Bearer {KEY}"})
        assert models.status_code == 200
        assert httpx.get(f"{controller.url}/v1/models", timeout=5).status_code == 401
        # The dashboard's client for this server looks up the very same key.
        assert await resolve_key_async(controller.url) == KEY
        assert f"LAYERSCALE_LICENSE_KEY={KEY}".encode() in _proc_bytes(pid, "environ")
        assert KEY.encode() not in _proc_bytes(pid, "cmdline")
        state = controller.state
        assert state is not None
        assert KEY.encode() not in _proc_bytes(state.supervisor_pid, "cmdline")
        # The supervisor's spec (its argv) and the state file it shares with the CLI name the
        # command, never the key.
        assert "app.localserver" in controller.state_file.read_text()
        assert KEY not in controller.state_file.read_text()
        # Logs captured live and in the file.
        await until(lambda: any("listening on" in line for line in controller.logs.lines()), 10)
        log_text = controller.log_file.read_text()
        assert "listening on http://127.0.0.1" in log_text
        assert controller.log_file.parent == paths.log_dir()  # platformdirs' user log dir
        assert KEY not in "\n".join(controller.logs.lines())  # what the log view shows
        # A second controller (as the CLI or another window would) sees the same server...
        other = ServerController(profile)
        assert await other.refresh() == S.READY and other.pid == pid
        # ...and stops it.
        await other.stop()
        assert other.status == S.STOPPED
        assert not procs.is_alive(pid)
        await controller.wait_for(S.STOPPED, timeout=10)
        assert controller.pid is None
        await other.aclose()
        await controller.aclose()

    try:
        asyncio.run(scenario())
    finally:
        KeyStore().delete(profile.url)
    settings_text = Settings().path.read_text()
    assert "Lifecycle" in settings_text and KEY not in settings_text
    for path in launcher.settings.path.parent.parent.parent.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path



def test_crash_is_detected_restarted_then_given_up() -> None:
    profile = Profile.bundled(port=free_port(), name="Crashy")
    LauncherSettings().save(profile)
    policy = RestartPolicy(enabled=True, max_crashes=2, window=120, base_delay=0.5)

    async def scenario() -> None:
        controller = ServerController(profile, restart=policy)
        await controller.start()
        await controller.wait_ready(120)
        first = controller.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await controller.wait_for(S.CRASHED, timeout=10)
        assert controller.exit_code == -signal.SIGKILL
        assert "restarting in" in controller.message
        assert any("listening on" in line for line in controller.last_lines)
        await controller.wait_ready(120)  # auto-restarted
        second = controller.pid
        assert second is not None and second != first
        os.kill(second, signal.SIGKILL)
        await controller.wait_for(S.CRASHED, timeout=10)
        await until(lambda: "gave up" in controller.message, 10)
        assert "gave up after 2 crashes" in controller.message
        with pytest.raises(Exception, match="gave up"):
            await controller.wait_ready(2)
        assert controller.pid is None and not controller.owned
        await controller.aclose()

    asyncio.run(scenario())
    status = subprocess.run([sys.executable, "-m", "app.cli", "server", "status", "--profile",
                             "Crashy"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 5, status.stdout + status.stderr
    assert status.stdout.startswith("crashed") and "gave up after 2 crashes" in status.stdout
    assert "Last log lines:" in status.stdout


def test_a_signal_death_is_told_in_words_with_the_last_request() -> None:
    """SIGSEGV stands in for an engine crash (e.g. an instruction the CPU cannot run)."""
    profile = Profile.bundled(port=free_port(), name="Segv")
    LauncherSettings().save(profile)

    async def scenario() -> None:
        controller = ServerController(profile)
        await controller.start()
        await controller.wait_ready(120)
        async with httpx.AsyncClient() as http:
            created = await http.post(f"{profile.url}/v1/sessions/init",
                                      json={"type": "ohlcv", "prompt": "x"}, timeout=60)
            assert created.status_code == 200, created.text
        pid = controller.pid
        assert pid is not None
        os.kill(pid, signal.SIGSEGV)
        await controller.wait_for(S.CRASHED, timeout=15)
        message = controller.message
        assert "killed by SIGSEGV (signal 11)" in message
        assert "the last request it started was POST /v1/sessions/init" in message
        assert "see the log" in message
        await controller.aclose()

    asyncio.run(scenario())
    status = subprocess.run([sys.executable, "-m", "app.cli", "server", "status", "--profile",
                             "Segv"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 5, status.stdout + status.stderr
    assert "killed by SIGSEGV (signal 11)" in status.stdout


def test_attach_to_a_server_already_answering(local_server) -> None:  # type: ignore[no-untyped-def]
    from app.launcher import NotOurServer

    profile = Profile.bundled(port=local_server.port, name="Attach")

    async def scenario() -> None:
        controller = ServerController(profile)
        await controller.start()
        assert controller.attached and controller.status == S.READY
        assert "not started by the dashboard" in controller.message
        assert controller.pid is None
        with pytest.raises(NotOurServer):
            await controller.stop()
        await controller.aclose()

    asyncio.run(scenario())
    assert local_server.process.poll() is None  # left alone
    assert httpx.get(f"{local_server.url}/v1/health", timeout=5).status_code == 200


def test_ensure_local_server_starts_then_attaches() -> None:
    port = free_port()

    async def scenario() -> None:
        controller = await ensure_local_server(f"http://localhost:{port}")
        assert controller is not None and controller.status == S.READY
        assert controller.owned and controller.pid is not None
        again = await ensure_local_server(f"http://127.0.0.1:{port}/")
        assert again is not None and again.status == S.READY and again.pid == controller.pid
        pid = again.pid
        assert pid is not None
        await again.stop()
        assert not procs.is_alive(pid)
        await again.aclose()
        await controller.aclose()
        # Nothing answers at a remote URL: nothing to attach to, nothing we can start.
        assert await ensure_local_server("http://192.0.2.1:9") is None

    asyncio.run(scenario())
