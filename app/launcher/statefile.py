"""The state file of a running profile: how the GUI and the CLI share one server.

The supervisor process that runs the server writes it (atomically); every
observer reads it. One file per profile under app.paths.state_dir()/servers.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app import paths
from app.launcher import procs

# Supervisor phases (the server's HTTP state comes from /v1/health, not from here).
RUNNING, RESTARTING, CRASHED, STOPPED = "running", "restarting", "crashed", "stopped"


def servers_dir() -> Path:
    folder = paths.state_dir() / "servers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def state_path(slug: str) -> Path:
    return servers_dir() / f"{slug}.json"


@dataclass
class ServerState:
    profile: str
    url: str
    kind: str
    log_file: str
    supervisor_pid: int
    supervisor_marker: str | None = None
    pid: int | None = None
    pid_marker: str | None = None
    phase: str = RUNNING
    exit_code: int | None = None
    last_lines: list[str] = field(default_factory=list)
    crashes: list[float] = field(default_factory=list)
    restart_at: float | None = None
    message: str = ""
    command: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @classmethod
    def read(cls, path: Path) -> ServerState | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return None

    def write(self, path: Path) -> None:
        self.updated = time.time()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(self), fh, indent=1)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def supervisor_alive(self) -> bool:
        return procs.is_ours(self.supervisor_pid, self.supervisor_marker)

    def server_alive(self) -> bool:
        return self.pid is not None and procs.is_ours(self.pid, self.pid_marker)

    def live(self) -> bool:
        """Something of ours is still running for this profile (maybe waiting to restart)."""
        return self.supervisor_alive() or self.server_alive()
