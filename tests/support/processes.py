"""Start a server process on loopback, wait until it is healthy, stop it.

Shared by the test fixtures and the benchmarks (bench/ imports it too), so there is one way
to bring up the bundled server or a peer such as llama_cpp.server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_without_key(key: str | None = None) -> dict[str, str]:
    """This environment minus any inherited licence key, plus `key` if given."""
    env = {k: v for k, v in os.environ.items() if k != "LAYERSCALE_LICENSE_KEY"}
    if key:
        env["LAYERSCALE_LICENSE_KEY"] = key
    return env


def start_until_ready(
    args: list[str],
    *,
    ready_url: str,
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.Popen[bytes]:
    """Spawn `args` (output to `log_path`) and return once `ready_url` answers 200."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env if env is not None else env_without_key(),
            stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{args[2] if len(args) > 2 else args[0]} exited with "
                               f"{process.returncode}:\n{_tail(log_path)}")
        try:
            if httpx.get(ready_url, timeout=2.0).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling interval while waiting on a deadline, not a sync sleep
    stop(process)
    raise RuntimeError(f"{ready_url} not ready after {timeout:g} s:\n{_tail(log_path)}")


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:]
