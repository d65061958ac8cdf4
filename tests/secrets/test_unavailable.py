"""No usable keyring, for real: a child process without a session bus, and a locked
gnome-keyring (a second daemon unlocked with the wrong password)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "app.cli", "keys"]
KEY = "LS-child-process-key-777"


def _env_without_bus(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DBUS_SESSION_BUS_ADDRESS", "GNOME_KEYRING_CONTROL",
                        "LAYERSCALE_LICENSE_KEY")}
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["XDG_DATA_HOME"] = str(home / ".local/share")
    env["XDG_STATE_HOME"] = str(home / ".local/state")
    return env


def _files_contain(folder: Path, needle: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_no_session_bus_gives_clear_message_and_writes_nothing(tmp_path: Path) -> None:
    env = _env_without_bus(tmp_path)
    added = subprocess.run([*CLI, "add", "--server", "http://127.0.0.1:8080"], input=KEY + "\n",
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert added.returncode == 3, added.stderr
    assert "gnome-keyring" in added.stderr
    assert "DBUS_SESSION_BUS_ADDRESS" in added.stderr
    assert KEY not in added.stdout + added.stderr
    listed = subprocess.run([*CLI, "list"], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=60)
    assert listed.returncode == 3
    assert _files_contain(tmp_path, KEY) == []


def test_no_session_bus_keeps_key_in_memory_only(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from app.secrets import KeyStore, KeyStoreUnavailable, resolve_key
        store = KeyStore()
        try:
            store.set("http://127.0.0.1:8080", {KEY!r})
        except KeyStoreUnavailable as exc:
            assert exc.kept_in_memory, exc
            print("UNAVAILABLE", exc)
        assert resolve_key("http://localhost:8080/") == {KEY!r}
        print("RESOLVED")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=_env_without_bus(tmp_path), cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "UNAVAILABLE" in done.stdout and "memory for this run only" in done.stdout
    assert "RESOLVED" in done.stdout
    assert KEY not in done.stdout
    assert _files_contain(tmp_path, KEY) == []


def _in_private_keyring(
    home: Path, password: str, command: str
) -> subprocess.CompletedProcess[str]:
    env = _env_without_bus(home)
    env["XDG_RUNTIME_DIR"] = str(home / "run")
    (home / "run").mkdir(mode=0o700, exist_ok=True)
    shell = (f'eval "$(printf %s {password} | gnome-keyring-daemon --unlock '
             f'--components=secrets)"; export GNOME_KEYRING_CONTROL; {command}')
    return subprocess.run(["dbus-run-session", "--", "sh", "-c", shell], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=90)


def test_locked_keyring_says_unlock(tmp_path: Path) -> None:
    cli = " ".join(CLI)
    first = _in_private_keyring(
        tmp_path, "right-password",
        f"echo {KEY} | {cli} add --server http://127.0.0.1:9999")
    assert first.returncode == 0, first.stderr
    # Same keyring file, wrong password: gnome-keyring stays locked (KeyringLocked).
    second = _in_private_keyring(tmp_path, "wrong-password", f"{cli} list; echo rc=$?")
    assert "rc=3" in second.stdout, second.stdout + second.stderr
    assert "locked" in second.stderr.lower() and "unlock" in second.stderr.lower()
    assert KEY not in second.stdout + second.stderr


@pytest.mark.parametrize("argv", [["add", "--server", "http://h:1", "--key", KEY],
                                  ["add", "--server", "http://h:1", KEY]])
def test_key_on_the_command_line_is_refused(argv: list[str]) -> None:
    done = subprocess.run([*CLI, *argv], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          input="")
    assert done.returncode == 2
