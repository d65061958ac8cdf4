"""The settings file: one JSON document shared by the GUI and the CLI.

Secrets never go here (they live in the OS keyring, see app.secrets); `set`
refuses anything that looks like a licence key so a slip fails loudly.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from app.paths import config_dir


class SettingsError(RuntimeError):
    pass


class Settings:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "settings.json"
        self._data: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SettingsError(f"cannot read settings file {self.path}: {exc}") from exc
        if not isinstance(data, dict):
            raise SettingsError(f"settings file {self.path} does not hold a JSON object")
        return data

    def reload(self) -> None:
        self._data = self._read()

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if _looks_like_secret(value):
            raise SettingsError(f"refusing to write a licence key into settings ({key!r})")
        # Re-read first: the GUI and the CLI share the file, and each writes only its own keys.
        self.reload()
        self._data[key] = value
        self._write()

    def delete(self, key: str) -> None:
        self.reload()
        if self._data.pop(key, None) is not None:
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a crash never leaves half a file behind.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".settings-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._data, fh, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _looks_like_secret(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("LS-") and len(value) > 8
    if isinstance(value, dict):
        return any(_looks_like_secret(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_looks_like_secret(v) for v in value)
    return False
