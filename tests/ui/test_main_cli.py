"""`layerscale-dashboard --screenshot FILE --quit-after S [--until-answered]` in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PySide6.QtGui import QImage

from app.ui import theme
from app.ui.main import parse_args
from app.ui.screenshot import picture_problem
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
    env["LAYERSCALE_LOG"] = "INFO"  # main() logs what the demo session showed when it quits
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from app.ui.main import main; sys.exit(main())",
         "--server", server.url, "--demo", "--screenshot", str(png), "--quit-after", "90",
         "--until-answered"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    image = QImage(str(png))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 500
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    # The demo session was created, fed and drawn: candles acknowledged by the server...
    drawn = re.search(r"session sess_\w+: (\d+) candles drawn, \d+ of 2 flash queries", proc.stderr)
    assert drawn is not None and int(drawn.group(1)) >= 1, proc.stderr[-3000:]
    # ...and visibly so: the picture holds rising and falling candle bodies...
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 2)
               for y in range(0, image.height(), 2)}
    assert theme.UP in colours and theme.DOWN in colours
    # ...and, where the report says the plot and the flash panel are, candles and an
    # answer with its confidence bar (--until-answered waited for one).
    assert picture_problem(png) is None, picture_problem(png)
    # A server this run did not start is left running (and its demo session deleted).
    assert httpx.get(f"{server.url}/v1/health", timeout=10).status_code == 200
    listing = httpx.get(f"{server.url}/v1/sessions", timeout=10).json()
    assert listing["sessions"] == [], listing


def test_command_line_rejects_bad_values(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["--server", "http://h:1", "--replay", __file__, "--speed", "0"])
    assert args.server == "http://h:1" and args.speed == 0.0 and args.replay == Path(__file__)
    for argv, why in ((["--speed", "-1"], "--speed must be >= 0"),
                      (["--replay", str(tmp_path / "missing.csv")], "no such file")):
        with pytest.raises(SystemExit) as exit_info:
            parse_args(argv)
        assert exit_info.value.code == 2 and why in capsys.readouterr().err
