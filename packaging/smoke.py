"""Smoke check of a frozen build, run by packaging/build.sh (and so by CI):

1. every library in the bundle resolves (nothing we pruned is still needed);
2. its llama.cpp engine is the portable build (no AVX-512/AMX);
3. the headless CLI works from the bundle: `keys add/list/remove` in a real Secret Service,
   `server start --wait`, `status`, `stop`;
4. `--demo --screenshot` draws candles *and* a flash answer: the screenshot's report says
   where the plot and the flash panel are, and the picture must show candle colours in the
   one and a confidence bar in the other.

Usage: python packaging/smoke.py dist/layerscale-dashboard/layerscale-dashboard
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unresolved_libraries(bundle: Path) -> list[str]:
    """NEEDED entries that neither the bundle nor the system provides."""
    internal = bundle / "_internal"
    dirs = sorted({str(p.parent) for p in internal.rglob("*.so*")} | {str(internal)})
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(dirs)}
    missing = []
    for lib in sorted(internal.rglob("*.so*")):
        if lib.is_symlink() or not lib.is_file():
            continue
        out = subprocess.run(["ldd", str(lib)], env=env, capture_output=True, text=True).stdout
        missing += [f"{lib.relative_to(bundle)}: {line.strip()}"
                    for line in out.splitlines() if "not found" in line]
    return missing


def run(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"smoke: $ {' '.join(Path(c).name if c.startswith('/') else c for c in cmd)} "
          f"-> exit {done.returncode}")
    return done


def main(exe: str) -> int:
    bundle = Path(exe).resolve().parent
    home = Path(tempfile.mkdtemp(prefix="smoke-home-"))
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_STATE_HOME": str(home / "state"), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CACHE_HOME": str(home / "cache"),
           "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    env.pop("LAYERSCALE_LICENSE_KEY", None)

    missing = unresolved_libraries(bundle)
    if missing:
        print("smoke: libraries that do not resolve:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    print("smoke: every library in the bundle resolves")

    engine = run([exe, "engine-check"], env, 60)
    print(engine.stdout.strip() or engine.stderr.strip())
    if engine.returncode != 0:
        return 1

    # Licence keys from the bundle, in a real Secret Service (as .ci/test runs one).
    if shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon"):
        key_file = home / "key"  # the key goes in on stdin, never on a command line
        key_file.write_text("LS-smoke-key-0001\n")
        script = (
            'eval "$(printf smoke | gnome-keyring-daemon --unlock --components=secrets)"; '
            'export GNOME_KEYRING_CONTROL; "$0" keys add --server http://127.0.0.1:9 < "$1" '
            '&& "$0" keys list && "$0" keys remove --server http://127.0.0.1:9')
        keys = run(["dbus-run-session", "--", "sh", "-c", script, exe, str(key_file)], env, 120)
        if keys.returncode != 0 or "http://127.0.0.1:9" not in keys.stdout:
            print(keys.stdout + keys.stderr, file=sys.stderr)
            return 1
        if "LS-smoke-key-0001" in keys.stdout + keys.stderr:
            print("smoke: the key was printed", file=sys.stderr)
            return 1
        print("smoke: keys add/list/remove work from the bundle (real Secret Service)")

    # The headless CLI against a profile of its own (written with the source tree's code,
    # into the same settings file the frozen app reads).
    port = free_port()
    subprocess.run([sys.executable, "-c",
                    "import sys; from app.launcher import LauncherSettings, Profile; "
                    "s = LauncherSettings(); s.save(Profile.bundled(port=int(sys.argv[1]), "
                    "name='Smoke', pool_size=2)); s.select('Smoke')", str(port)],
                   env=env, check=True, cwd=Path(__file__).resolve().parents[1])
    started = run([exe, "server", "start", "--profile", "Smoke", "--wait", "--timeout", "120"],
                  env, 180)
    status = run([exe, "server", "status", "--profile", "Smoke"], env, 60)
    print(f"smoke: status says: {status.stdout.strip()}")
    try:
        if started.returncode != 0 or status.returncode != 0 or not status.stdout.startswith(
                "ready"):
            print(started.stdout + started.stderr + status.stderr, file=sys.stderr)
            return 1
        # 4. The demo against that server: candles and answers on screen.
        # On a virtual X screen when there is one: the xcb platform plugin is what users run.
        shot = home / "frozen.png"
        gui_env, prefix = env, []
        if shutil.which("xvfb-run"):
            gui_env = {**env, "QT_QPA_PLATFORM": "xcb"}
            prefix = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"]
        gui = run([*prefix, exe, "--demo", "--server", f"http://127.0.0.1:{port}",
                   "--screenshot", str(shot), "--quit-after", "150", "--until-answered"],
                  gui_env, 240)
        if gui.returncode != 0 or not shot.exists():
            print(gui.stdout + gui.stderr, file=sys.stderr)
            print(f"smoke: frozen GUI failed (exit {gui.returncode})", file=sys.stderr)
            return 1
        from app.ui.screenshot import picture_problem

        report = json.loads(shot.with_suffix(".json").read_text())
        print(f"smoke: the screenshot shows: {report['sessions']}")
        problem = picture_problem(shot)
        if problem:
            print(f"smoke: screenshot {shot}: {problem}", file=sys.stderr)
            return 1
        print(f"smoke: frozen GUI drew candles and flash answers ({shot})")
    finally:
        stopped = run([exe, "server", "stop", "--profile", "Smoke"], env, 60)
    after = run([exe, "server", "status", "--profile", "Smoke"], env, 60)
    if stopped.returncode != 0 or after.returncode != 3:
        print(stopped.stdout + stopped.stderr + after.stdout, file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"smoke: passed; bundle {size / 2**20:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
