"""Start the real bundled server as a child process on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.localserver.__main__ import default_threads
from tests.support.processes import ROOT, env_without_key, free_port, start_until_ready, stop

__all__ = ["ROOT", "RunningServer", "free_port", "start_server"]


@dataclass
class RunningServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    key: str | None = None
    args: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def stop(self, timeout: float = 15.0) -> None:
        stop(self.process, timeout)


def start_server(
    log_dir: Path,
    *,
    port: int | None = None,
    key: str | None = None,
    extra_args: list[str] | None = None,
    ready_timeout: float = 120.0,
) -> RunningServer:
    port = port or free_port()
    extra = list(extra_args or ["--ctx-size", "4096", "--pool-size", "8"])
    if "--threads" not in extra:
        # A fixed count: servers started together must not each time 1..N threads against
        # the others' load (tests/localserver/test_threads.py tests the measurement).
        extra += ["--threads", str(default_threads())]
    args = [
        sys.executable, "-m", "app.localserver",
        "--host", "127.0.0.1", "--port", str(port),
        *extra,
    ]
    url = f"http://127.0.0.1:{port}"
    log_path = log_dir / f"server-{port}.log"
    process = start_until_ready(args, ready_url=f"{url}/v1/health", log_path=log_path,
                                env=env_without_key(key), timeout=ready_timeout)
    return RunningServer(url, port, process, log_path, key, args)
