"""Licence keys in the OS keyring, one per server URL.

Only a real OS keyring is accepted. keyring's fail/null backends, the
plaintext and base64 "obfuscated" file backends of keyrings.alt, a locked
keyring and a backend that cannot start all raise KeyStoreUnavailable with a
message naming what to install or unlock. Keys given while the keyring is
unusable are kept in this process's memory only, never written anywhere.
"""

from __future__ import annotations

import json
import os
import sys
import threading

import keyring
import keyring.backend
import keyring.errors

from app.secrets.urls import normalise_url

SERVICE = "layerscale-dashboard"
ENV_KEY = "LAYERSCALE_LICENSE_KEY"
# keyring cannot enumerate entries portably, so the list of URLs that have a key
# is itself kept in the keyring (URLs only) under a name no URL can take.
_INDEX_USER = "<servers-with-a-key>"

# Shared by every KeyStore of the process, so a key given while the keyring is
# unusable still reaches resolve_key() for the rest of this run.
_memory: dict[str, str] = {}
_memory_lock = threading.Lock()


class KeyStoreUnavailable(RuntimeError):
    """No usable OS keyring; str(exc) says what to install or unlock."""

    def __init__(self, message: str, *, kept_in_memory: bool = False) -> None:
        if kept_in_memory:
            message += " The key is kept in memory for this run only and was not saved."
        super().__init__(message)
        self.kept_in_memory = kept_in_memory


def _install_hint() -> str:
    if sys.platform.startswith("linux"):
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            bus = " No D-Bus session bus is reachable (DBUS_SESSION_BUS_ADDRESS is not set)."
        else:
            bus = ""
        return (
            "Install and run a Secret Service provider such as gnome-keyring "
            "(Debian/Ubuntu: `sudo apt install gnome-keyring`) or KeePassXC with Secret Service "
            "enabled, inside a desktop/D-Bus session, and make sure the Python package "
            f"`secretstorage` is installed.{bus}"
        )
    return "Make sure the system keychain (macOS Keychain / Windows Credential Locker) is usable."


def _backend_problem(backend: keyring.backend.KeyringBackend) -> str | None:
    """Why this backend must not hold licence keys, or None when it is a real OS keyring."""
    chained = getattr(backend, "backends", None)
    if type(backend).__name__ == "ChainerBackend" and chained is not None:
        # The chainer writes to its first backend: that is the one that matters.
        if not chained:
            return f"No OS keyring backend is available to Python's `keyring`. {_install_hint()}"
        return _backend_problem(chained[0])
    module = type(backend).__module__
    name = f"{module}.{type(backend).__name__}"
    if module.startswith("keyring.backends.fail"):
        return f"No OS keyring backend is available to Python's `keyring`. {_install_hint()}"
    if module.startswith("keyring.backends.null"):
        return f"The keyring is disabled (backend {name}). {_install_hint()}"
    if module.startswith("keyrings.alt") or "plaintext" in name.lower():
        return (
            f"The keyring backend {name} keeps keys in a file that is not really encrypted; "
            "the dashboard does not store licence keys there. Uninstall `keyrings.alt` or select "
            f"a system keyring (PYTHON_KEYRING_BACKEND or keyringrc.cfg). {_install_hint()}"
        )
    return None


def _error_message(exc: keyring.errors.KeyringError) -> str:
    if isinstance(exc, keyring.errors.KeyringLocked):
        return (
            "The OS keyring is locked. Unlock it (log in to your desktop session, or unlock the "
            "'Login' keyring in Passwords and Keys / seahorse or KeePassXC) and try again."
        )
    if isinstance(exc, keyring.errors.NoKeyringError):
        return f"No OS keyring backend is available to Python's `keyring`. {_install_hint()}"
    detail = str(exc).strip() or type(exc).__name__
    if isinstance(exc, keyring.errors.InitError):
        return f"The OS keyring could not be opened ({detail}). {_install_hint()}"
    return f"The OS keyring failed ({detail}). {_install_hint()}"


class KeyStore:
    """Keys per normalised server URL under the service name `layerscale-dashboard`."""

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend

    def __repr__(self) -> str:
        return f"KeyStore(backend={self.backend_name})"

    @property
    def backend(self) -> keyring.backend.KeyringBackend:
        if self._backend is None:
            self._backend = keyring.get_keyring()
        return self._backend

    @property
    def backend_name(self) -> str:
        """The backend that actually stores keys (the first one when keyring chains several)."""
        backend = self.backend
        chained = getattr(backend, "backends", None)
        if type(backend).__name__ == "ChainerBackend" and chained:
            backend = chained[0]
        return f"{type(backend).__module__}.{type(backend).__name__}"

    def check(self) -> None:
        """Raise KeyStoreUnavailable unless the keyring can be read right now."""
        problem = _backend_problem(self.backend)
        if problem:
            raise KeyStoreUnavailable(problem)
        try:
            self.backend.get_password(SERVICE, _INDEX_USER)
        except keyring.errors.KeyringError as exc:
            raise KeyStoreUnavailable(_error_message(exc)) from None

    @property
    def problem(self) -> str | None:
        """The reason the keyring is unusable, or None when it works."""
        try:
            self.check()
        except KeyStoreUnavailable as exc:
            return str(exc)
        return None

    def get(self, url: str) -> str | None:
        """The key for a server, or None. Raises KeyStoreUnavailable if the keyring cannot be read
        and no key for this URL is held in memory."""
        name = normalise_url(url)
        with _memory_lock:
            if name in _memory:
                return _memory[name]
        self.check()
        try:
            return self.backend.get_password(SERVICE, name)
        except keyring.errors.KeyringError as exc:
            raise KeyStoreUnavailable(_error_message(exc)) from None

    def set(self, url: str, key: str) -> None:
        """Store (or replace) a key. When the keyring is unusable the key is kept in memory for
        this run and KeyStoreUnavailable(kept_in_memory=True) is raised so the caller can say so."""
        name = normalise_url(url)
        key = key.strip()
        if not key:
            raise ValueError("the licence key is empty")
        if any(ch.isspace() for ch in key):
            raise ValueError("a licence key has no spaces or line breaks in it")
        try:
            self.check()
            self.backend.set_password(SERVICE, name, key)
            self._update_index(add=name)
        except (KeyStoreUnavailable, keyring.errors.KeyringError) as exc:
            with _memory_lock:
                _memory[name] = key
            message = str(exc) if isinstance(exc, KeyStoreUnavailable) else _error_message(exc)
            raise KeyStoreUnavailable(message, kept_in_memory=True) from None
        with _memory_lock:
            _memory.pop(name, None)

    def delete(self, url: str) -> bool:
        """Remove a server's key; False when there was none."""
        name = normalise_url(url)
        with _memory_lock:
            had_memory = _memory.pop(name, None) is not None
        try:
            self.check()
        except KeyStoreUnavailable:
            if had_memory:
                return True
            raise
        try:
            self.backend.delete_password(SERVICE, name)
            found = True
        except keyring.errors.PasswordDeleteError:
            found = False
        except keyring.errors.KeyringError as exc:
            raise KeyStoreUnavailable(_error_message(exc)) from None
        self._update_index(remove=name)
        return found or had_memory

    def servers(self) -> list[str]:
        """URLs that have a key (keyring and this run's memory), sorted; never the keys."""
        with _memory_lock:
            names = set(_memory)
        try:
            self.check()
        except KeyStoreUnavailable:
            if names:
                return sorted(names)
            raise
        for name in self._read_index():
            try:
                if self.backend.get_password(SERVICE, name) is not None:
                    names.add(name)
            except keyring.errors.KeyringError as exc:
                raise KeyStoreUnavailable(_error_message(exc)) from None
        return sorted(names)

    def in_memory_only(self, url: str) -> bool:
        with _memory_lock:
            return normalise_url(url) in _memory

    def _read_index(self) -> list[str]:
        try:
            raw = self.backend.get_password(SERVICE, _INDEX_USER)
        except keyring.errors.KeyringError as exc:
            raise KeyStoreUnavailable(_error_message(exc)) from None
        try:
            data = json.loads(raw) if raw else []
        except ValueError:
            data = []
        return [str(item) for item in data if isinstance(item, str)]

    def _update_index(self, *, add: str | None = None, remove: str | None = None) -> None:
        names = set(self._read_index())
        if add:
            names.add(add)
        if remove:
            names.discard(remove)
        try:
            self.backend.set_password(SERVICE, _INDEX_USER, json.dumps(sorted(names)))
        except keyring.errors.KeyringError as exc:
            raise KeyStoreUnavailable(_error_message(exc)) from None


def resolve_key(server_url: str) -> str | None:
    """The key to use for a server: LAYERSCALE_LICENSE_KEY if set, else the keyring, else None.

    An unusable keyring is not an error here (a server may need no key); callers
    that must know why there is no key use KeyStore().get() instead.
    """
    override = os.environ.get(ENV_KEY, "").strip()
    if override:
        return override
    try:
        return KeyStore().get(server_url)
    except KeyStoreUnavailable:
        return None
    except ValueError:
        return None


def mask(key: str) -> str:
    """A display form that shows the key exists without giving it away."""
    # Generation 2 keys start LSK-, generation 1 keys LS-: the prefix says which it is.
    prefix = next((p for p in ("LSK-", "LS-") if key.startswith(p)), "")
    return prefix + "•" * 12
