"""Port conflicts, a server that ignores SIGTERM, a server that prints its key, log rotation."""

from __future__ import annotations

import asyncio
import http.server
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.launcher import PortInUse, Profile, ServerController, ServerStatus, procs
from app.launcher.logs import LogTail, RotatingLog
from tests.launcher.polling import until
from tests.support.server import free_port


@pytest.fixture
def plain_listener() -> Iterator[int]:
    """Fault injection: a bare TCP listener (not a LayerScale server) holding a port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield int(sock.getsockname()[1])
    sock.close()


def test_port_held_by_another_program_is_named_and_a_free_one_offered(
        plain_listener: int) -> None:
    controller = ServerController(Profile.bundled(port=plain_listener, name="Busy"))
    with pytest.raises(PortInUse) as caught:
        asyncio.run(controller.start())
    error = caught.value
    assert error.port == plain_listener
    assert error.owner is not None and "python" in error.owner and "pid" in error.owner
    assert error.suggestion is not None and error.suggestion != plain_listener
    assert f"Port {error.suggestion} is free" in str(error)
    assert not controller.state_file.exists()  # no second server started blindly
    assert controller.status == ServerStatus.STOPPED


def test_http_server_that_is_not_layerscale_is_not_attached() -> None:
    """Fault injection: a plain HTTP server (404 on /v1/health) on the profile's port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        controller = ServerController(Profile.bundled(port=server.server_port, name="Http"))
        with pytest.raises(PortInUse):
            asyncio.run(controller.start())
        assert not controller.attached
    finally:
        server.shutdown()
        server.server_close()


STUBBORN = """#!{python}
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: print("ignoring SIGTERM", flush=True))
print("my key is " + os.environ.get("LAYERSCALE_LICENSE_KEY", "none"), flush=True)
while True:
    time.sleep(0.05)
"""


def test_stubborn_server_is_killed_after_timeout_and_key_is_scrubbed(tmp_path: Path) -> None:
    """Fault injection: a 'server' that ignores SIGTERM and prints its key to stdout."""
    import sys

    binary = tmp_path / "stubborn"
    binary.write_text(STUBBORN.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    key = "LS-printed-by-mistake-77"
    profile = Profile(name="Stubborn", kind="binary", binary=str(binary), model=str(model),
                      port=free_port())

    async def scenario() -> None:
        controller = ServerController(profile, key=key, stop_timeout=1.0)
        await controller.start()
        pid = controller.pid
        assert pid is not None
        await until(lambda: any("my key is" in line for line in controller.logs.lines()), 15)
        await controller.stop()
        assert not procs.is_alive(pid)
        assert controller.status == ServerStatus.STOPPED
        lines = controller.logs.lines()
        await controller.aclose()
        text = controller.log_file.read_text()
        assert key not in text and key not in "\n".join(lines)
        assert "my key is [licence key redacted]" in text
        assert "ignoring SIGTERM" in text and "killing it" in text

    asyncio.run(scenario())



def test_unrunnable_binary_is_reported(tmp_path: Path) -> None:
    binary = tmp_path / "broken"
    binary.write_text("#!/nonexistent/interpreter\n")
    binary.chmod(0o755)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    profile = Profile(name="Broken", kind="binary", binary=str(binary), model=str(model),
                      port=free_port())
    controller = ServerController(profile)
    with pytest.raises(Exception, match="cannot run"):
        asyncio.run(controller.start())


def test_log_file_rotates_and_tail_follows(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    log = RotatingLog(path, max_bytes=200, backups=2)
    tail = LogTail(path, from_end_lines=5)
    for i in range(10):
        log.write(f"line {i:02d} " + "x" * 20)
    assert tail.read_new()  # first look: recent history
    for i in range(10, 40):
        log.write(f"line {i:02d} " + "x" * 20)
        seen = tail.read_new()
        assert seen == [f"line {i:02d} " + "x" * 20]
    log.close()
    assert path.stat().st_size <= 200
    assert (tmp_path / "server.log.1").exists() and (tmp_path / "server.log.2").exists()
    assert not (tmp_path / "server.log.3").exists()
