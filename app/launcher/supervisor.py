"""The process that runs one server: pumps its output into the rotating log file, records its
pid and exit in the state file, restarts it after a crash (capped backoff), and stops it
gracefully on SIGTERM (SIGKILL after the stop timeout).

It outlives whoever started it (the GUI or `layerscale-dashboard server start`), so either
can stop a server the other started. The licence key arrives in its environment and goes on
to the server's environment only; output lines are scrubbed of it as a second line of defence.

Started as `python -m app.launcher SPEC_JSON` (frozen builds:
`<app> server _supervise SPEC_JSON`); SPEC_JSON holds no secret.
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from app.launcher import procs
from app.launcher.exits import describe_exit, last_request
from app.launcher.logs import RotatingLog
from app.launcher.profiles import ENV_KEY
from app.launcher.statefile import CRASHED, RESTARTING, RUNNING, STOPPED, ServerState
from app.launcher.status import RestartPolicy

TAIL_LINES = 30


def supervisor_command(spec: dict[str, Any]) -> list[str]:
    payload = json.dumps(spec, separators=(",", ":"))
    if getattr(sys, "frozen", False):
        return [sys.executable, "server", "_supervise", payload]
    return [sys.executable, "-m", "app.launcher", payload]


class Supervisor:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.command: list[str] = list(spec["command"])
        self.state_file = Path(spec["state_file"])
        self.stop_timeout = float(spec.get("stop_timeout", 10.0))
        self.policy = RestartPolicy.from_dict(spec.get("restart"))
        self.log = RotatingLog(Path(spec["log_file"]),
                               max_bytes=int(spec.get("log_max_bytes", 2 * 1024 * 1024)))
        self.secret = os.environ.get(ENV_KEY) or None
        self.state = ServerState(
            profile=spec["profile"], url=spec["url"], kind=spec.get("kind", "bundled"),
            log_file=spec["log_file"], supervisor_pid=os.getpid(),
            supervisor_marker=procs.start_marker(os.getpid()), command=self.command,
        )
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self._kill_timer: threading.Timer | None = None
        self._last_request: str | None = None

    def _scrub(self, line: str) -> str:
        if self.secret and self.secret in line:
            return line.replace(self.secret, "[licence key redacted]")
        return line

    def _note(self, text: str) -> None:
        self.log.write(f"[launcher {time.strftime('%Y-%m-%d %H:%M:%S')}] {text}")

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        self._stop_child()

    def _stop_child(self) -> None:
        """SIGTERM now, SIGKILL if it is still running after stop_timeout."""
        child = self.child
        if child is not None and child.poll() is None and self._kill_timer is None:
            child.terminate()
            self._kill_timer = threading.Timer(self.stop_timeout, self._kill_child)
            self._kill_timer.daemon = True
            self._kill_timer.start()

    def _kill_child(self) -> None:
        child = self.child
        if child is not None and child.poll() is None:
            self._note(f"server did not stop within {self.stop_timeout:g} s: killing it")
            child.kill()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        crashes: list[float] = []
        while True:
            code, tail = self._run_once()
            if code is None:  # could not even start
                return 1
            self.state.exit_code = code
            self.state.last_lines = tail
            ended = describe_exit(code, self._last_request)
            if self.stopping.is_set():
                self._note(f"server stopped ({ended})")
                self.state.phase, self.state.message = STOPPED, "stopped"
                self.state.pid = None
                self.state.write(self.state_file)
                return 0
            now = time.time()
            crashes = [t for t in crashes if now - t < self.policy.window] + [now]
            self.state.crashes = crashes
            self.state.pid = None
            if self.policy.enabled and len(crashes) < self.policy.max_crashes:
                delay = self.policy.delay(len(crashes))
                self.state.phase, self.state.restart_at = RESTARTING, now + delay
                self.state.message = (
                    f"crashed: {ended}; restarting in {delay:g} s "
                    f"(crash {len(crashes)} of {self.policy.max_crashes} allowed in "
                    f"{self.policy.window:g} s)")
                self._note(self.state.message)
                self.state.write(self.state_file)
                if self.stopping.wait(delay):
                    self.state.phase, self.state.message = STOPPED, "stopped"
                    self.state.restart_at = None
                    self.state.write(self.state_file)
                    return 0
                continue
            self.state.phase, self.state.restart_at = CRASHED, None
            if self.policy.enabled:
                self.state.message = (
                    f"crashed: {ended}; gave up after {_crashes(len(crashes))} in "
                    f"{self.policy.window:g} s (auto-restart stops there)")
            else:
                self.state.message = f"crashed: {ended}; see the log {self.state.log_file}"
            self._note(self.state.message)
            self.state.write(self.state_file)
            return 0

    def _run_once(self) -> tuple[int | None, list[str]]:
        self._note(f"starting: {shlex.join(self.command)}")
        try:
            self.child = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=os.environ.copy(),
            )
        except OSError as exc:
            self.state.phase = CRASHED
            self.state.message = f"cannot run {self.command[0]}: {exc.strerror or exc}"
            self.state.exit_code = None
            self._note(self.state.message)
            self.state.write(self.state_file)
            return None, []
        child = self.child
        self.state.pid = child.pid
        self.state.pid_marker = procs.start_marker(child.pid)
        self.state.phase, self.state.restart_at = RUNNING, None
        self.state.message = ""
        self.state.started_at = time.time()
        self.state.write(self.state_file)
        if self.stopping.is_set():  # asked to stop while we were spawning
            self._stop_child()
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._last_request = None
        assert child.stdout is not None
        for raw in child.stdout:
            line = self._scrub(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            self.log.write(line)
            tail.append(line)
            self._last_request = last_request(line) or self._last_request
        code = child.wait()
        if self._kill_timer is not None:
            self._kill_timer.cancel()
            self._kill_timer = None
        return code, list(tail)


def _crashes(count: int) -> str:
    return f"{count} crash" if count == 1 else f"{count} crashes"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m app.launcher SPEC_JSON", file=sys.stderr)
        return 2
    return Supervisor(json.loads(args[0])).run()


if __name__ == "__main__":
    sys.exit(main())
