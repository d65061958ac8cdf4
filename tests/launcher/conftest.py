"""Each launcher test gets its own settings, state and log folders (XDG dirs), and whatever
server it started is killed afterwards even when the test fails."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.launcher import procs
from app.launcher.statefile import ServerState, servers_dir


@contextlib.contextmanager
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Private XDG folders under tmp_path (settings, state, logs); on exit, kills the servers
    and supervisors recorded in the state folder. Also used by the Server panel's tests."""
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
    try:
        yield tmp_path
    finally:
        for path in servers_dir().glob("*.json"):
            state = ServerState.read(path)
            if state is None:
                continue
            for pid, marker in ((state.supervisor_pid, state.supervisor_marker),
                                (state.pid, state.pid_marker)):
                if pid and procs.is_ours(pid, marker):
                    procs.kill(pid)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with isolated_state(tmp_path, monkeypatch) as folder:
        yield folder
