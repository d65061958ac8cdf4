"""Is a recorded pid still the process we started? (pids get reused), and signalling it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path


def start_marker(pid: int) -> str | None:
    """A value that changes when `pid` is reused: the start time in /proc on Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = stat[stat.rfind(")") + 2:].split()
    return rest[19] if len(rest) > 19 else None


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_alive(pid: int | None) -> bool:
    """Running and not a zombie."""
    if not pid or pid <= 0:
        return False
    if sys.platform.startswith("linux"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        state = stat[stat.rfind(")") + 2:].split()[:1]
        return state not in (["Z"], ["X"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_ours(pid: int | None, marker: str | None) -> bool:
    """`pid` is alive and, where the OS tells us, is the very process recorded with `marker`."""
    if not is_alive(pid):
        return False
    assert pid is not None
    current = start_marker(pid)
    if marker is None or current is None:
        return True  # no /proc: liveness is all we can check
    return current == marker


def terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)


def kill(pid: int) -> None:
    sig = getattr(signal, "SIGKILL", signal.SIGTERM)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
