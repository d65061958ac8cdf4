"""Start, watch and stop LayerScale servers (bundled, binary, container); Qt-free."""

from app.launcher.controller import ServerController, ensure_local_server
from app.launcher.errors import InvalidProfile, LaunchError, NotOurServer, PortInUse
from app.launcher.profiles import LauncherSettings, Profile
from app.launcher.status import RestartPolicy, ServerStatus

__all__ = [
    "InvalidProfile",
    "LaunchError",
    "LauncherSettings",
    "NotOurServer",
    "PortInUse",
    "Profile",
    "RestartPolicy",
    "ServerController",
    "ServerStatus",
    "ensure_local_server",
]
