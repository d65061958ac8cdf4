"""Server logs: the rotating file the supervisor writes, and the live view observers keep."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from app import paths

MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
VIEW_LINES = 5000


def log_path(slug: str, folder: Path | None = None) -> Path:
    return (folder or paths.log_dir()) / f"server-{slug}.log"


class RotatingLog:
    """Append lines to `path`; when it passes max_bytes, shift it to .1 (.1 to .2, ...)."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("ab")

    def write(self, line: str) -> None:
        data = (line.rstrip("\n") + "\n").encode("utf-8", errors="replace")
        if self._fh.tell() + len(data) > self.max_bytes and self._fh.tell() > 0:
            self.rotate()
        self._fh.write(data)
        self._fh.flush()

    def rotate(self) -> None:
        self._fh.close()
        rotate_file(self.path, self.backups)
        self._fh = self.path.open("ab")

    def close(self) -> None:
        self._fh.close()


def rotate_file(path: Path, backups: int = BACKUPS) -> None:
    for index in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
    if path.exists():
        os.replace(path, path.with_name(f"{path.name}.1"))


def tail_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of a file (reads at most ~256 KB from its end)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:] if count > 0 else []


class LogTail:
    """Reads what was appended to a log file since the last call; follows rotation."""

    def __init__(self, path: Path, *, from_end_lines: int = 200) -> None:
        self.path = path
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        self._initial = from_end_lines

    def read_new(self) -> list[str]:
        try:
            stat = self.path.stat()
        except OSError:
            return []
        lines: list[str] = []
        if self._inode is None:
            # First look: show the recent past, not the whole history.
            self._inode = stat.st_ino
            lines = tail_lines(self.path, self._initial)
            self._offset = stat.st_size
            return lines
        if stat.st_ino != self._inode or stat.st_size < self._offset:
            self._inode, self._offset, self._partial = stat.st_ino, 0, b""
        if stat.st_size == self._offset:
            return []
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read(4 * 1024 * 1024)
        except OSError:
            return []
        self._offset += len(data)
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        return [chunk.decode("utf-8", errors="replace").rstrip("\r") for chunk in complete]


class LogBuffer:
    """The last VIEW_LINES lines for the live view; listeners get each batch of new lines."""

    def __init__(self, maxlen: int = VIEW_LINES) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=maxlen)
        self._listeners: list[Callable[[list[str]], None]] = []

    def __len__(self) -> int:
        return len(self._lines)

    def lines(self) -> list[str]:
        return list(self._lines)

    def extend(self, lines: Iterable[str]) -> None:
        batch = list(lines)
        if not batch:
            return
        self._lines.extend(batch)
        for listener in list(self._listeners):
            listener(batch)

    def clear(self) -> None:
        """Clears the view only; the log file keeps everything."""
        self._lines.clear()

    def subscribe(self, listener: Callable[[list[str]], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe
