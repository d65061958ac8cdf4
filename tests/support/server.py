"""Start the real bundled server as a child process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    key: str | None = None
    args: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def start_server(
    log_dir: Path,
    *,
    port: int | None = None,
    key: str | None = None,
    extra_args: list[str] | None = None,
    ready_timeout: float = 120.0,
) -> RunningServer:
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k != "LAYERSCALE_LICENSE_KEY"}
    if key:
        env["LAYERSCALE_LICENSE_KEY"] = key
    args = [
        sys.executable, "-m", "app.localserver",
        "--host", "127.0.0.1", "--port", str(port),
        *(extra_args or ["--ctx-size", "4096", "--pool-size", "8"]),
    ]
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = RunningServer(f"http://127.0.0.1:{port}", port, process, log_path, key, args)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bundled server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/v1/health", timeout=2.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling interval while waiting on a deadline, not a sync sleep
    server.stop()
    raise RuntimeError(f"bundled server not ready after {ready_timeout}s:\n{server.log()}")
