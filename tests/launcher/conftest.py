"""Each launcher test gets its own settings, state and log folders (XDG dirs), and whatever
server it started is killed afterwards even when the test fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.launcher import procs
from app.launcher.statefile import ServerState, servers_dir


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
    yield tmp_path
    for path in servers_dir().glob("*.json"):
        state = ServerState.read(path)
        if state is None:
            continue
        for pid, marker in ((state.supervisor_pid, state.supervisor_marker),
                            (state.pid, state.pid_marker)):
            if pid and procs.is_ours(pid, marker):
                procs.kill(pid)
