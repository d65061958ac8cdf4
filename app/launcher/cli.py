"""`layerscale-dashboard server start|stop|status|logs [-f] [--profile NAME]` (and `profiles`).

Uses the same profiles (settings file) and the same state files as the GUI, so a server
started here is seen, and can be stopped, by the GUI, and the other way round.

Exit codes:
  0  done: started / attached / already running; stopped or was not running;
     `status`: ready; `logs`: printed
  1  failed: the server could not start, crashed while starting, or did not stop
  2  usage error, unknown profile, or a profile that cannot run (the message says why)
  3  `status`: stopped
  4  `status`: starting or loading (running, not ready yet)
  5  `status`: crashed (exit code and last log lines are printed)
  6  `start`: the port is held by a program that is not a LayerScale server
  7  `stop`: the server answering was not started by the dashboard, so it was left alone
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from pathlib import Path

from app.launcher.controller import ServerController
from app.launcher.errors import InvalidProfile, LaunchError, NotOurServer, PortInUse
from app.launcher.logs import LogTail, log_path
from app.launcher.profiles import LauncherSettings, Profile
from app.launcher.statefile import ServerState, state_path
from app.launcher.status import ServerStatus

(EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED, EXIT_NOT_READY, EXIT_CRASHED, EXIT_PORT_IN_USE,
 EXIT_NOT_OURS) = range(8)
STATUS_EXIT = {
    ServerStatus.READY: EXIT_OK,
    ServerStatus.STOPPED: EXIT_STOPPED,
    ServerStatus.STARTING: EXIT_NOT_READY,
    ServerStatus.LOADING: EXIT_NOT_READY,
    ServerStatus.CRASHED: EXIT_CRASHED,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerscale-dashboard server",
        description="Start, stop and watch the LayerScale server of a launcher profile.",
        epilog="Exit codes: 0 ok/ready, 1 failed, 2 usage, 3 stopped, 4 starting/loading, "
               "5 crashed, 6 port held by another program, 7 not started by the dashboard.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    profile_help = "launcher profile (default: the one selected in the dashboard)"
    start = sub.add_parser("start", help="start the server; returns once the process runs")
    start.add_argument("--profile", help=profile_help)
    start.add_argument("--wait", action="store_true", help="also wait until it is ready")
    start.add_argument("--timeout", type=float, default=120.0, help="seconds for --wait")
    stop = sub.add_parser("stop", help="stop it (SIGTERM, then SIGKILL after a timeout)")
    stop.add_argument("--profile", help=profile_help)
    status = sub.add_parser("status", help="print stopped/starting/loading/ready/crashed, URL, PID")
    status.add_argument("--profile", help=profile_help)
    status.add_argument("--json", action="store_true", help="one JSON object instead of text")
    logs = sub.add_parser("logs", help="print the server log (with -f: follow it)")
    logs.add_argument("--profile", help=profile_help)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=50, help="lines of history (default 50)")
    sub.add_parser("profiles", help="list the launcher profiles")
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["_supervise"]:  # frozen builds run the supervisor through here
        from app.launcher.supervisor import main as supervise

        return supervise(args_list[1:])
    try:
        args = _parser().parse_args(args_list)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    launcher = LauncherSettings()
    if args.action == "profiles":
        selected = launcher.selected_name()
        for profile in launcher.profiles():
            mark = "*" if profile.name == selected else " "
            print(f"{mark} {profile.name}\t{profile.kind}\t{profile.url}")
        return EXIT_OK
    try:
        profile = launcher.get(args.profile)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "logs":
        return _logs(profile, args.lines, args.follow)
    return asyncio.run(_run(args, profile, launcher))


async def _run(args: argparse.Namespace, profile: Profile, launcher: LauncherSettings) -> int:
    controller = ServerController(profile, restart=launcher.restart_policy)
    try:
        if args.action == "start":
            return await _start(controller, args.wait, args.timeout)
        if args.action == "stop":
            return await _stop(controller)
        return await _status(controller, args.json)
    finally:
        await controller.aclose()


async def _start(controller: ServerController, wait: bool, timeout: float) -> int:
    profile = controller.profile
    try:
        before = await controller.detect()
        if before.running or controller.owned:
            how = "attached: not started by the dashboard" if controller.attached else (
                "already running")
            print(f"{before.value} {controller.url} pid={controller.pid or '-'} ({how})")
        else:
            command = profile.command()
            # The command is shown before it runs (for containers the issue asks for it).
            print(f"running: {shlex.join(command)}")
            await controller.start()
            print(f"started {profile.name}: {controller.url} pid={controller.pid or '-'} "
                  f"log={controller.log_file}")
        if wait:
            await controller.wait_ready(timeout)
            print(f"ready {controller.url}")
    except InvalidProfile as exc:
        print(f"error: profile {profile.name!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PortInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.suggestion is not None:
            print(f"hint: change the profile's port to {exc.suggestion} in the dashboard's "
                  "Server panel", file=sys.stderr)
        return EXIT_PORT_IN_USE
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


async def _stop(controller: ServerController) -> int:
    status = await controller.detect()
    if not controller.owned and not controller.attached:
        print(f"not running: {controller.profile.name} ({controller.url})")
        return EXIT_OK
    try:
        pid = controller.pid
        await controller.stop()
    except NotOurServer as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_OURS
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if controller.owned:
        print(f"error: the server at {controller.url} did not stop", file=sys.stderr)
        return EXIT_FAILED
    print(f"stopped {controller.profile.name} ({controller.url}, pid={pid or '-'}, "
          f"was {status.value})")
    return EXIT_OK


async def _status(controller: ServerController, as_json: bool) -> int:
    status = await controller.detect()
    if as_json:
        print(json.dumps({
            "status": status.value, "url": controller.url, "pid": controller.pid,
            "profile": controller.profile.name, "attached": controller.attached,
            "exit_code": controller.exit_code, "message": controller.message,
            "log_file": str(controller.log_file),
        }))
        return STATUS_EXIT[status]
    print(f"{status.value} {controller.url} pid={controller.pid or '-'} "
          f"profile={controller.profile.name}")
    if controller.attached:
        print("note: not started by the dashboard (attached)")
    if status == ServerStatus.CRASHED:
        print(controller.crash_report())
    return STATUS_EXIT[status]


def _logs(profile: Profile, lines: int, follow: bool) -> int:
    state = ServerState.read(state_path(profile.slug))
    path = Path(state.log_file) if state is not None else log_path(profile.slug)
    if not path.exists() and not follow:
        print(f"no log yet for {profile.name} ({path})", file=sys.stderr)
        return EXIT_OK
    tail = LogTail(path, from_end_lines=lines)
    try:
        while True:
            for line in tail.read_new():
                print(line, flush=True)
            if not follow:
                return EXIT_OK
            time.sleep(0.2)  # follow mode: poll the file for new lines
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `... | head` closed the pipe
        return EXIT_OK
