"""A real Prometheus (Debian's /usr/bin/prometheus) on a loopback port, for tests.

It scrapes the given servers every second into a temporary storage folder and loads the
project's recording rules (resources/monitoring/rules.yml). The caller stops it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ROOT, free_port, start_until_ready, stop

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
RULES = ROOT / "resources" / "monitoring" / "rules.yml"


@dataclass
class RunningPrometheus:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        stop(self.process)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_prometheus(folder: Path, targets: list[str], *, interval: str = "1s"
                     ) -> RunningPrometheus:
    """targets: host:port of each server (as the dashboard's instance labels name them)."""
    port = free_port()
    config = folder / "prometheus.yml"
    listed = ", ".join(f'"{t}"' for t in targets)
    config.write_text(
        f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
        f"rule_files:\n  - {RULES}\n"
        "scrape_configs:\n  - job_name: layerscale\n"
        f"    static_configs:\n      - targets: [{listed}]\n", encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    args = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    log_path = folder / "prometheus.log"
    process = start_until_ready(args, ready_url=f"{url}/-/ready", log_path=log_path,
                                timeout=60.0)
    return RunningPrometheus(url, process, log_path)
