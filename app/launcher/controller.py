"""ServerController: start, watch, stop one profile's server; shared by the GUI and the CLI.

The server runs under a supervisor process (app.launcher.supervisor) that outlives the
controller, so the state file, not this object, is the truth: any controller for the same
profile, in any process, sees the same server and can stop it. The HTTP states (starting,
loading, ready) come from /v1/health.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import httpx

from app.launcher import procs
from app.launcher.errors import LaunchError, NotOurServer, PortInUse
from app.launcher.health import Probe, probe
from app.launcher.logs import LogBuffer, LogTail, log_path, tail_lines
from app.launcher.ports import port_free, port_owner, suggest_port
from app.launcher.profiles import ENV_KEY, LauncherSettings, Profile
from app.launcher.statefile import CRASHED, RESTARTING, RUNNING, STOPPED, ServerState, state_path
from app.launcher.status import RestartPolicy, ServerStatus
from app.launcher.supervisor import supervisor_command
from app.secrets import normalise_url, resolve_key_async

log = logging.getLogger(__name__)


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


AUTO: Final = _Auto()
StatusCallback = Callable[[ServerStatus], None]
HEALTH_EVERY_WHEN_READY = 5.0
ATTACHED_NOTE = ("Attached to the server already answering on {url}; it was not started by the "
                 "dashboard, so it cannot be stopped from here.")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


class ServerController:
    """One profile's server. `status`, `message`, `exit_code`, `last_lines`, `logs` are kept
    current by a watch task (started by start()/watch()); on_status callbacks run on changes."""

    def __init__(
        self,
        profile: Profile,
        *,
        key: str | _Auto | None = AUTO,
        restart: RestartPolicy | None = None,
        stop_timeout: float = 10.0,
        log_dir: Path | None = None,
    ) -> None:
        self.profile = profile
        self._key = key
        self.restart_policy = restart or RestartPolicy()
        self.stop_timeout = stop_timeout
        self.state_file = state_path(profile.slug)
        self.log_file = log_path(profile.slug, log_dir)
        self.logs = LogBuffer()
        self.status = ServerStatus.STOPPED
        self.message = ""
        self.exit_code: int | None = None
        self.last_lines: list[str] = []
        self.attached = False  # a server answering on our port that we did not start
        self.state: ServerState | None = None
        self.history: list[ServerStatus] = []
        self._listeners: list[StatusCallback] = []
        self._task: asyncio.Task[None] | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._client: httpx.AsyncClient | None = None
        self._tail: LogTail | None = None
        self._next_health = 0.0
        self._busy = False  # start/stop in progress: the watch loop must not report midway

    def __repr__(self) -> str:
        return f"ServerController({self.profile.name!r}, {self.url}, {self.status.value})"

    # ---- what observers read -------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.state is not None and self.state.url and self.owned:
            return self.state.url
        return self.profile.url

    @property
    def pid(self) -> int | None:
        if self.state is not None and self.state.server_alive():
            return self.state.pid
        return None

    @property
    def owned(self) -> bool:
        """A server (or its supervisor) we started is alive for this profile."""
        state = self.state
        # A supervisor that has written "stopped"/"crashed" is about to exit: not ours any more.
        return state is not None and state.phase in (RUNNING, RESTARTING) and state.live()

    def on_status(self, callback: StatusCallback) -> Callable[[], None]:
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def _set(self, status: ServerStatus, message: str | None = None) -> None:
        changed = status != self.status or (message is not None and message != self.message)
        if message is not None:
            self.message = message
        if status != self.status:
            self.history.append(status)
        self.status = status
        if changed:
            for callback in list(self._listeners):
                try:
                    callback(status)
                except Exception:  # a broken view must not stop the watcher
                    log.exception("status callback failed")

    # ---- observation ---------------------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False)
        return self._client

    def _reap(self) -> None:
        if self._popen is not None and self._popen.poll() is not None:
            self._popen = None

    def _read_logs(self, path: str | Path) -> None:
        target = Path(path)
        if self._tail is None or self._tail.path != target:
            self._tail = LogTail(target)
        self.logs.extend(self._tail.read_new())

    async def refresh(self) -> ServerStatus:
        """Look once (state file, process, /v1/health) and update status/logs."""
        self._reap()
        state = ServerState.read(self.state_file)
        if state is not None and (state.live() or not self.attached):
            self.state = state
            self.attached = False
            self._read_logs(state.log_file)
            await self._observe_state(state)
        elif self.attached:
            self._read_logs(self.log_file)
            if self.status == ServerStatus.READY and time.monotonic() < self._next_health:
                return self.status
            self._next_health = time.monotonic() + HEALTH_EVERY_WHEN_READY
            found = await probe(self._http(), self.profile.url)
            if found == Probe.READY:
                self._set(ServerStatus.READY)
            elif found == Probe.LOADING:
                self._set(ServerStatus.LOADING)
            else:
                self.attached = False
                self._set(ServerStatus.STOPPED, f"The server at {self.profile.url} went away.")
        else:
            self.state = None
            self._read_logs(self.log_file)
            self._set(ServerStatus.STOPPED)
        return self.status

    async def _observe_state(self, state: ServerState) -> None:
        if state.phase in (RUNNING, RESTARTING) and not state.live():
            # The supervisor died without a word (killed hard): the server is gone too.
            self.exit_code = state.exit_code
            self.last_lines = tail_lines(Path(state.log_file), 20)
            self._set(ServerStatus.CRASHED, "The server and its launcher process vanished.")
            return
        if state.phase == STOPPED:
            self._set(ServerStatus.STOPPED, "")
        elif state.phase in (CRASHED, RESTARTING):
            self.exit_code = state.exit_code
            self.last_lines = list(state.last_lines)
            self._set(ServerStatus.CRASHED, state.message)
        elif state.server_alive():
            if self.status == ServerStatus.READY and time.monotonic() < self._next_health:
                return  # ready: look at /v1/health only now and then, to keep its log quiet
            self._next_health = time.monotonic() + HEALTH_EVERY_WHEN_READY
            found = await probe(self._http(), state.url)
            if found == Probe.READY:
                self._set(ServerStatus.READY, "")
            elif found == Probe.LOADING:
                self._set(ServerStatus.LOADING, "")
            elif self.status not in (ServerStatus.LOADING, ServerStatus.READY):
                self._set(ServerStatus.STARTING, "")
        # RUNNING with the server just exited: the supervisor writes the outcome next.

    def watch(self) -> None:
        """Keep status and logs current in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            if not self._busy:
                try:
                    await self.refresh()
                except Exception:
                    log.exception("watching %s failed", self.profile.name)
            fast = self.status in (ServerStatus.STARTING, ServerStatus.LOADING,
                                   ServerStatus.CRASHED) or self._busy
            await asyncio.sleep(0.1 if fast else 0.5)

    async def aclose(self) -> None:
        """Stop watching (the server keeps running)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._reap()

    async def wait_for(self, *statuses: ServerStatus, timeout: float = 60.0) -> ServerStatus:
        """Wait until status is one of `statuses`; TimeoutError otherwise."""
        self.watch()
        if self.status in statuses:
            return self.status
        future: asyncio.Future[ServerStatus] = asyncio.get_running_loop().create_future()

        def check(status: ServerStatus) -> None:
            if status in statuses and not future.done():
                future.set_result(status)

        unsubscribe = self.on_status(check)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            unsubscribe()

    async def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait for READY; LaunchError if it crashes for good (or stops) first, or times out."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                status = await self.wait_for(ServerStatus.READY, ServerStatus.CRASHED,
                                             ServerStatus.STOPPED, timeout=max(0.01, remaining))
            except TimeoutError:
                raise LaunchError(f"{self.url} was not ready after {timeout:g} s "
                                  f"(still {self.status.value}).") from None
            if status == ServerStatus.READY:
                return
            restarting = self.state is not None and self.state.phase == RESTARTING
            if status == ServerStatus.CRASHED and not restarting:
                raise LaunchError(self.crash_report())
            if status == ServerStatus.STOPPED:
                raise LaunchError(f"{self.url} stopped before it was ready.")
            await self.wait_for(ServerStatus.STARTING, ServerStatus.LOADING, ServerStatus.READY,
                                timeout=max(0.01, deadline - time.monotonic()))

    def crash_report(self) -> str:
        code = "unknown" if self.exit_code is None else str(self.exit_code)
        text = self.message or f"crashed (exit code {code})"
        if self.last_lines:
            text += "\nLast log lines:\n" + "\n".join(self.last_lines[-10:])
        return text

    async def detect(self) -> ServerStatus:
        """refresh(), and when nothing of ours runs, attach to a server answering on the port."""
        await self.refresh()
        if not self.owned and not self.attached:
            found = await probe(self._http(), self.profile.url)
            if found in (Probe.READY, Probe.LOADING):
                self._attach(found)
        return self.status

    def _attach(self, found: Probe) -> None:
        """Adopt a server that answers on our port but that we did not start."""
        self.attached = True
        self.state = None
        self._next_health = time.monotonic() + HEALTH_EVERY_WHEN_READY
        self._set(ServerStatus.READY if found == Probe.READY else ServerStatus.LOADING,
                  ATTACHED_NOTE.format(url=self.profile.url))

    # ---- actions -------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the profile's server (returns once the process runs), or attach to one that
        already answers on its port. Raises PortInUse / LaunchError / InvalidProfile."""
        # Two controllers of one process (the panel's auto-start and --demo's
        # ensure_local_server) must not both spawn a server for the same profile.
        async with _start_lock(self.state_file):
            await self._start_locked()

    async def _start_locked(self) -> None:
        await self.refresh()
        if self.owned:
            self.watch()
            return
        self._busy = True
        try:
            found = await probe(self._http(), self.profile.url)
            if found in (Probe.READY, Probe.LOADING):
                self._attach(found)
                return
            host = self.profile.host
            if found == Probe.OTHER or not port_free(host, self.profile.port):
                # Naming the owner scans /proc: seconds on a busy machine, so not on the loop.
                owner = await _run_blocking(port_owner, self.profile.port)
                raise PortInUse(host, self.profile.port, owner,
                                suggest_port(host, self.profile.port))
            command = self.profile.command()
            await self._check_docker()
            self._spawn(command, await self._environment())
            await self._wait_spawned()
        finally:
            self._busy = False
            self.watch()

    async def _environment(self) -> dict[str, str]:
        """The server's environment: the only way its licence key reaches it."""
        env = {k: v for k, v in os.environ.items() if k != ENV_KEY}
        if isinstance(self._key, _Auto):
            key = await resolve_key_async(self.profile.url)  # keyring: off the loop's thread
        else:
            key = self._key
        if key:
            env[ENV_KEY] = key
        env.setdefault("PYTHONUNBUFFERED", "1")  # live logs from Python servers
        return env

    def _spawn(self, command: list[str], env: dict[str, str]) -> None:
        spec = {
            "command": command,
            "profile": self.profile.name,
            "kind": self.profile.kind,
            "url": self.profile.url,
            "state_file": str(self.state_file),
            "log_file": str(self.log_file),
            "stop_timeout": self.stop_timeout,
            "restart": self.restart_policy.to_dict(),
        }
        self.state_file.unlink(missing_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._tail = None
        self.exit_code, self.last_lines = None, []
        with self.log_file.open("ab") as errors:
            self._popen = subprocess.Popen(
                supervisor_command(spec), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
            )

    async def _wait_spawned(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = ServerState.read(self.state_file)
            if state is not None and (state.pid is not None or state.phase != RUNNING):
                self.state = state
                if state.phase == CRASHED and state.exit_code is None:
                    raise LaunchError(state.message)
                self._read_logs(state.log_file)
                if state.phase == RUNNING:
                    self._set(ServerStatus.STARTING, "")
                else:
                    await self._observe_state(state)
                return
            if self._popen is not None and self._popen.poll() is not None:
                code = self._popen.returncode
                lines = "\n".join(tail_lines(self.log_file, 10))
                raise LaunchError(f"The launcher process exited with code {code} before the "
                                  f"server started. Log {self.log_file}:\n{lines}")
            await asyncio.sleep(0.05)
        raise LaunchError(f"The server process did not start within {timeout:g} s.")

    async def _check_docker(self) -> None:
        if self.profile.kind != "container":
            return
        problem = self.profile.container_prerequisite_problem()
        if problem:
            raise LaunchError(problem)
        try:
            proc = await asyncio.create_subprocess_exec(
                self.profile.docker, "version", "--format", "{{.Server.Version}}",
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 20)
        except (OSError, TimeoutError) as exc:
            raise LaunchError(f"Docker did not answer ({exc}).") from None
        if proc.returncode != 0 or not out.strip():
            detail = (err or out).decode(errors="replace").strip().splitlines()
            reason = detail[-1] if detail else f"exit code {proc.returncode}"
            raise LaunchError(
                f"Docker is installed but its engine is not reachable ({reason}). Start the "
                "Docker daemon (`sudo systemctl start docker`) or Docker Desktop, then try again.")

    async def stop(self) -> None:
        """Stop a server we started (graceful, then kill after stop_timeout). NotOurServer if the
        server answering was started by someone else."""
        self._busy = True
        try:
            self._reap()
            state = ServerState.read(self.state_file)
            if state is not None and state.live():
                await self._stop_state(state)
                self.attached = False
                self.state = ServerState.read(self.state_file)
                self._set(ServerStatus.STOPPED, "")
            elif self.attached:
                raise NotOurServer(
                    f"The server at {self.profile.url} was not started by the dashboard, so it "
                    "is not stopped from here: stop it where it was started.")
            else:
                self.state = state
                self._set(ServerStatus.STOPPED, "")
        finally:
            self._busy = False

    def request_stop(self) -> bool:
        """Ask a running server to stop without waiting (used when the app quits)."""
        state = ServerState.read(self.state_file)
        if state is None or not state.live():
            return False
        if state.supervisor_alive():
            procs.terminate(state.supervisor_pid)
        elif state.pid is not None and state.server_alive():
            procs.terminate(state.pid)
        return True

    async def _stop_state(self, state: ServerState) -> None:
        if state.supervisor_alive():
            procs.terminate(state.supervisor_pid)  # it stops the server: TERM, then KILL
        elif state.server_alive() and state.pid is not None:
            procs.terminate(state.pid)
        deadline = time.monotonic() + self.stop_timeout + 5.0
        while state.live() and time.monotonic() < deadline:
            self._reap()
            await asyncio.sleep(0.05)
        if state.live():
            if state.server_alive() and state.pid is not None:
                procs.kill(state.pid)
            if state.supervisor_alive():
                procs.kill(state.supervisor_pid)
            kill_deadline = time.monotonic() + 5.0
            while state.live() and time.monotonic() < kill_deadline:
                self._reap()
                await asyncio.sleep(0.05)
        self._reap()
        after = ServerState.read(self.state_file)
        if after is not None and after.phase != STOPPED:
            after.phase, after.message, after.pid = STOPPED, "stopped", None
            after.write(self.state_file)

    async def restart(self) -> None:
        if self.attached and not self.owned:
            raise NotOurServer(f"The server at {self.profile.url} was not started by the "
                               "dashboard, so it cannot be restarted from here.")
        await self.stop()
        await self.start()


# A plain thread, not the loop's default executor (QThreads under qasync, see app.secrets.worker).
_BLOCKING = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="launcher")


async def _run_blocking(fn: Callable[[int], str | None], arg: int) -> str | None:
    return await asyncio.get_running_loop().run_in_executor(_BLOCKING, fn, arg)


_START_LOCKS: dict[tuple[int, str], asyncio.Lock] = {}


def _start_lock(state_file: Path) -> asyncio.Lock:
    # Per loop as well: an asyncio.Lock belongs to the loop that first waits on it.
    key = (id(asyncio.get_running_loop()), str(state_file))
    return _START_LOCKS.setdefault(key, asyncio.Lock())


def _loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


async def ensure_local_server(url: str, *, timeout: float = 120.0) -> ServerController | None:
    """Attach to whatever LayerScale server answers at `url`, else start the bundled server
    there and wait until it is ready. None when nothing answers and `url` is not on this
    machine. Raises PortInUse when something else holds the port, LaunchError on failure."""
    base = normalise_url(url)
    parts = urlsplit(base)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    profile = next((p for p in LauncherSettings().profiles()
                    if normalise_url(p.url) == base), None)
    if profile is None:
        name = "Bundled" if port == 8080 else f"Bundled {port}"
        profile = Profile.bundled(port=port, name=name, host=host.strip("[]"))
    controller = ServerController(profile)
    async with httpx.AsyncClient(trust_env=False) as client:
        found = await probe(client, base)
    if found == Probe.NOTHING and not _loopback(host):
        await controller.aclose()
        return None
    try:
        await controller.start()
        await controller.wait_ready(timeout)
    except BaseException:
        await controller.aclose()
        raise
    return controller
