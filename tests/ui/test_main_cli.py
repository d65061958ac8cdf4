"""`layerscale-dashboard --screenshot FILE --quit-after S` in a subprocess: a PNG, exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from PySide6.QtGui import QImage

from tests.support.server import ROOT, RunningServer, start_server


def test_demo_screenshot_writes_png_and_quits_cleanly(tmp_path: Path) -> None:
    # A private server: the demo's feed must not load the shared one other tests time.
    server = start_server(tmp_path)
    try:
        run_demo(server, tmp_path)
    finally:
        server.stop()


def run_demo(server: RunningServer, tmp_path: Path) -> None:
    png = tmp_path / "shot.png"
    env = {k: v for k, v in os.environ.items() if k != "LAYERSCALE_LICENSE_KEY"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["HOME"] = str(tmp_path)  # the launcher's settings go to a scratch profile
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from app.ui.main import main; sys.exit(main())",
         "--server", server.url, "--demo", "--screenshot", str(png), "--quit-after", "6"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    image = QImage(str(png))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 500
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    # The window had a session view open with the demo's candles while the server answered.
    assert httpx.get(f"{server.url}/v1/health", timeout=10).status_code == 200
