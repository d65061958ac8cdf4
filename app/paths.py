"""Where the dashboard keeps its files (per-user, per-platform)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "layerscale-dashboard"


def config_dir() -> Path:
    path = Path(platformdirs.user_config_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    path = Path(platformdirs.user_log_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    """Runtime state shared by the GUI and the CLI (e.g. which server process we started)."""
    path = Path(platformdirs.user_state_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path | None:
    """The project's resources/ folder: inside a frozen bundle, or beside `app/` in a source
    tree; None for an install that carries neither (icons are then simply absent)."""
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle is not None:
        candidate = Path(bundle) / "resources"
    else:
        candidate = Path(__file__).resolve().parents[1] / "resources"
    return candidate if candidate.is_dir() else None
