"""Smoke check of a frozen build: the bundled server answers, the GUI grabs a screenshot.

Usage: python packaging/smoke.py dist/layerscale-dashboard/layerscale-dashboard
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(exe: str) -> int:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([exe, "serve-local", "--port", str(port), "--pool-size", "2"])
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                print(f"smoke: frozen server exited with {server.returncode}", file=sys.stderr)
                return 1
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                print("smoke: frozen server never became ready", file=sys.stderr)
                return 1
            time.sleep(0.2)  # poll interval while waiting on the deadline
        print(f"smoke: frozen server ready at {url}")
        shot = Path(tempfile.mkdtemp()) / "frozen.png"
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        gui = subprocess.run(
            [exe, "--server", url, "--screenshot", str(shot), "--quit-after", "5"],
            env=env, timeout=120, check=False,
        )
        if gui.returncode != 0 or not shot.exists() or shot.stat().st_size == 0:
            print(f"smoke: frozen GUI failed (exit {gui.returncode})", file=sys.stderr)
            return 1
        print(f"smoke: frozen GUI wrote {shot} ({shot.stat().st_size} bytes)")
        return 0
    finally:
        server.terminate()
        server.wait(15)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
