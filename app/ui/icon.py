"""The application's icon and desktop identity (name, .desktop file), set once at start-up."""

from __future__ import annotations

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app.paths import APP_NAME, resources_dir

DISPLAY_NAME = "LayerScale Dashboard"


def application_icon() -> QIcon:
    """Every size we ship (resources/icons/hicolor), so each surface picks a sharp one."""
    icon = QIcon()
    root = resources_dir()
    if root is None:
        return icon
    for path in sorted((root / "icons" / "hicolor").glob("*/apps/layerscale-dashboard.*")):
        icon.addFile(str(path))
    return icon


def apply_identity(app: QApplication) -> None:
    app.setApplicationName(DISPLAY_NAME)
    app.setApplicationDisplayName(DISPLAY_NAME)
    # Matches resources/layerscale-dashboard.desktop, so docks and task bars group our windows.
    app.setDesktopFileName(APP_NAME)
    app.setWindowIcon(application_icon())
