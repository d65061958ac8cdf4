"""Is a port free, who holds it, and which nearby port is free instead."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from app.launcher import procs


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_free(host: str, port: int) -> bool:
    """True when a server could bind host:port now."""
    bind_host = host.strip("[]")
    with socket.socket(_family(bind_host), socket.SOCK_STREAM) as sock:
        if os.name == "posix":
            # Lets a port in TIME_WAIT count as free, as it does for the server itself.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind_host, port))
        except OSError:
            return False
    return True


def suggest_port(host: str, port: int, tries: int = 200) -> int | None:
    for candidate in range(port + 1, min(65536, port + 1 + tries)):
        if port_free(host, candidate):
            return candidate
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10:
                continue
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(inode)
    return inodes


def port_owner(port: int) -> str | None:
    """"name (pid N)" of the process listening on `port`, where the OS lets us see it."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        pid = int(entry.name)
                        args = procs.cmdline(pid)
                        name = (entry / "comm").read_text().strip()
                        shown = " ".join(args)[:120] if args else name
                        return f"{name} (pid {pid}: {shown})"
    return None
