"""`layerscale-dashboard keys ...` as a shell user runs it, against the real keyring and the
real bundled server that requires a key."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

from app.secrets import KeyStore
from tests.conftest import TEST_KEY
from tests.support.server import RunningServer

ROOT = Path(__file__).resolve().parents[2]


def keys(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "keys", *argv], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_add_list_test_remove(keyed_server: RunningServer) -> None:
    url = keyed_server.url
    added = keys("add", "--server", url + "/", stdin=TEST_KEY + "\n")
    assert added.returncode == 0, added.stderr
    assert "stored" in added.stdout and TEST_KEY not in added.stdout

    listed = keys("list")
    assert listed.returncode == 0 and url in listed.stdout.split()
    assert TEST_KEY not in listed.stdout

    tested = keys("test", "--server", url)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "accepted" in tested.stdout

    replaced = keys("add", "--server", url, stdin="LS-wrong-key-000000\n")
    assert replaced.returncode == 0 and "replaced" in replaced.stdout
    rejected = keys("test", "--server", url)
    assert rejected.returncode == 4
    assert "rejected" in rejected.stderr and "LS-wrong" not in rejected.stderr

    removed = keys("remove", "--server", url)
    assert removed.returncode == 0
    assert url not in keys("list").stdout.split()
    again = keys("remove", "--server", url)
    assert again.returncode == 1 and "no key stored" in again.stderr


def test_test_without_key_says_the_server_needs_one(keyed_server: RunningServer) -> None:
    done = keys("test", "--server", keyed_server.url)
    assert done.returncode == 4
    assert "requires a key" in done.stderr


def test_unreachable_server(tmp_path: Path) -> None:
    from tests.support.server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    keys("add", "--server", url, stdin="LS-some-key-0000001\n")
    try:
        done = keys("test", "--server", url)
        assert done.returncode == 5
        assert "unreachable" in done.stderr
    finally:
        keys("remove", "--server", url)


def test_empty_key_is_refused() -> None:
    done = keys("add", "--server", "http://127.0.0.1:1", stdin="\n")
    assert done.returncode == 1 and "no key given" in done.stderr


def test_add_asks_with_a_hidden_prompt_on_a_terminal() -> None:
    """A real pseudo-terminal: the key typed at the prompt is not echoed back."""
    url = f"http://127.0.0.1:{20000 + uuid.uuid4().int % 40000}"
    key = "LS-typed-at-the-prompt-01"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI, with the pty as its controlling terminal
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "app.cli", "keys", "add", "--server", url])
    output = b""
    try:
        output += _read_until(fd, b"(input hidden)", deadline=time.monotonic() + 30)
        os.write(fd, key.encode() + b"\n")
        output += _read_until(fd, None, deadline=time.monotonic() + 30)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    try:
        assert os.waitstatus_to_exitcode(status) == 0, output
        assert b"stored the key for " + url.encode() in output
        assert key.encode() not in output  # not echoed, not printed
        assert KeyStore().get(url) == key
    finally:
        KeyStore().delete(url)


def _read_until(fd: int, marker: bytes | None, deadline: float) -> bytes:
    """Read the pty until `marker` shows up (or, for None, until the child closes it)."""
    data = b""
    while marker is None or marker not in data:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {marker!r}; got {data!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child exited and closed the terminal
            chunk = b""
        if not chunk:
            if marker is None:
                return data
            raise AssertionError(f"the CLI exited before {marker!r}; got {data!r}")
        data += chunk
    return data
