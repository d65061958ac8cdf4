"""app.api stands alone: no Qt, nothing of the dashboard or the bundled server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import app.api

FORBIDDEN = (
    "PySide6",
    "qasync",
    "pyqtgraph",
    "app.ui",
    "app.core",
    "app.feeds",
    "app.launcher",
    "app.secrets",
    "app.localserver",
    "llama_cpp",
)


def test_importing_the_client_pulls_in_nothing_of_the_app() -> None:
    code = (
        "import sys, app.api, app.api.models, app.api.errors, app.api.reconnect;"
        f"bad = [m for m in sys.modules if m.startswith({FORBIDDEN!r})];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_is_typed_and_documented() -> None:
    root = Path(app.api.__file__).parent
    assert (root / "py.typed").exists()
    for module in sorted(root.glob("*.py")):
        text = module.read_text(encoding="utf-8")
        assert text.lstrip().startswith('"""'), f"{module.name} has no module docstring"
        for word in FORBIDDEN[:3]:
            assert f"import {word}" not in text and f"from {word}" not in text
