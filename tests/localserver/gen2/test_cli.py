"""`--api` and `--api-key` on the command line, and a launcher profile that starts the
bundled server speaking generation 2 (the real process, over loopback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from app.launcher import Profile
from tests.support.processes import ROOT, env_without_key, free_port, start_until_ready, stop

from .helpers import WAIT


def test_api_key_without_a_key_is_refused_at_start() -> None:
    result = subprocess.run([sys.executable, "-m", "app.localserver", "--api", "2",
                             "--api-key", "--port", "0"], cwd=ROOT, env=env_without_key(),
                            capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 2
    assert "--api-key needs the key in LAYERSCALE_LICENSE_KEY" in result.stderr + result.stdout


def test_unknown_generation_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "app.localserver", "--api", "3"], cwd=ROOT,
                            env=env_without_key(), capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 2 and "--api" in result.stderr


def test_launcher_profile_starts_a_generation_2_server(tmp_path: Path) -> None:
    port = free_port()
    profile = Profile.bundled(port=port, api=2, ctx_size=1024, pool_size=2, threads=1)
    url = profile.url
    process = start_until_ready(profile.command(), ready_url=f"{url}/health",
                                log_path=tmp_path / "server.log", timeout=WAIT)
    try:
        health = httpx.get(f"{url}/health", timeout=WAIT).json()
        assert health["status"] == "ok" and "uptime_ms" in health
        assert httpx.get(f"{url}/v1/sessions", timeout=WAIT).json() == {"object": "list",
                                                                         "data": []}
    finally:
        stop(process)
    assert process.returncode == 0
