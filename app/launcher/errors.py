"""What can go wrong when starting or stopping a server, in words a user can act on."""

from __future__ import annotations


class LaunchError(RuntimeError):
    """A server could not be started or stopped; str(exc) is the user-facing message."""


class PortInUse(LaunchError):
    """The profile's port is held by something that is not a LayerScale server."""

    def __init__(self, host: str, port: int, owner: str | None, suggestion: int | None) -> None:
        who = f" by {owner}" if owner else " by another program"
        text = f"Port {port} on {host} is already in use{who}, which is not a LayerScale server."
        if suggestion is not None:
            text += f" Port {suggestion} is free: use it instead?"
        super().__init__(text)
        self.host = host
        self.port = port
        self.owner = owner
        self.suggestion = suggestion


class NotOurServer(LaunchError):
    """A server answers on the port but was not started by the dashboard, so it is not stopped."""


class InvalidProfile(LaunchError):
    """The profile cannot produce a runnable command (missing model, binary, bad port...)."""
