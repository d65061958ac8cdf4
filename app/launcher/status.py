"""Server states and the auto-restart policy."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ServerStatus(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"  # process running, port not answering yet
    LOADING = "loading"  # /v1/health answers 503
    READY = "ready"  # /v1/health answers 200
    CRASHED = "crashed"  # exited without being asked to (exit code + last log lines)

    @property
    def running(self) -> bool:
        return self in (ServerStatus.STARTING, ServerStatus.LOADING, ServerStatus.READY)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Restart after a crash with doubling delays; give up after max_crashes within window s."""

    enabled: bool = False
    max_crashes: int = 3
    window: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, crash_number: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** max(0, crash_number - 1))

    def to_dict(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "max_crashes": self.max_crashes,
            "window": self.window,
            "base_delay": self.base_delay,
            "max_delay": self.max_delay,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object] | None) -> RestartPolicy:
        data = data or {}
        default = cls()
        return cls(
            enabled=bool(data.get("enabled", default.enabled)),
            max_crashes=max(1, int(data.get("max_crashes", default.max_crashes))),  # type: ignore[call-overload]
            window=float(data.get("window", default.window)),  # type: ignore[arg-type]
            base_delay=float(data.get("base_delay", default.base_delay)),  # type: ignore[arg-type]
            max_delay=float(data.get("max_delay", default.max_delay)),  # type: ignore[arg-type]
        )
