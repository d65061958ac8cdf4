"""The official clients, each in a venv of its own (.ci/setup --dev makes them), driven
from tests as subprocesses: their dependency pins may differ from ours."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT, env_without_key

GEN1_PYTHON = ROOT / ".venv-peers" / "gen1" / "bin" / "python"
GEN1_DRIVER = Path(__file__).with_name("gen1_driver.py")
GEN2_PYTHON = ROOT / ".venv-peers" / "gen2" / "bin" / "python"
GEN2_DRIVER = Path(__file__).with_name("gen2_driver.py")


def run_gen1(url: str, scenario: str, *, key: str | None = None, timeout: float = 240.0
             ) -> dict[str, Any]:
    """Run one scenario of gen1_driver.py; fail with the client's own traceback."""
    if not GEN1_PYTHON.exists():
        raise AssertionError(
            f"{GEN1_PYTHON} is missing: run `bash .ci/setup --dev` (it installs "
            "layerscale==0.2.1 there)")
    result = subprocess.run(
        [str(GEN1_PYTHON), str(GEN1_DRIVER), url, scenario], cwd=ROOT,
        env=env_without_key(key), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"official client, {scenario}:\n{result.stderr[-6000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_gen2(url: str, scenario: str, *, key: str | None = None, timeout: float = 240.0
             ) -> dict[str, Any]:
    """Run one scenario of gen2_driver.py (layerscale 0.8.0); fail with its traceback."""
    if not GEN2_PYTHON.exists():
        raise AssertionError(
            f"{GEN2_PYTHON} is missing: run `bash .ci/setup --dev` (it installs "
            "layerscale==0.8.0 there)")
    result = subprocess.run(
        [str(GEN2_PYTHON), str(GEN2_DRIVER), url, scenario], cwd=ROOT,
        env=env_without_key(key), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"official client 0.8.0, {scenario}:\n{result.stderr[-6000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
