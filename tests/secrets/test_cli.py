"""`layerscale-dashboard keys ...` as a shell user runs it, against the real keyring and the
real bundled server that requires a key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
