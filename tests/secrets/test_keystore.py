"""KeyStore against the real Secret Service that .ci/test starts (gnome-keyring on D-Bus)."""

from __future__ import annotations

import uuid

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest

from app.secrets import SERVICE, KeyStore, KeyStoreUnavailable, mask, normalise_url, resolve_key
from app.secrets.store import _backend_problem


def _url() -> str:
    return f"http://127.0.0.1:{20000 + uuid.uuid4().int % 40000}"


def test_backend_is_the_real_secret_service() -> None:
    store = KeyStore()
    assert "SecretService" in store.backend_name
    assert store.problem is None


def test_add_replace_remove() -> None:
    store = KeyStore()
    url = _url()
    store.set(url + "/", "LS-first-key-000001")
    assert store.get(url) == "LS-first-key-000001"
    # Really in the OS keyring, under our service name, not just in memory.
    assert keyring.get_password(SERVICE, url) == "LS-first-key-000001"
    assert not store.in_memory_only(url)
    assert url in store.servers()

    store.set(url, "LS-second-key-000002")
    assert store.get(url) == "LS-second-key-000002"
    assert store.servers().count(url) == 1

    assert store.delete(url) is True
    assert store.get(url) is None
    assert keyring.get_password(SERVICE, url) is None
    assert url not in store.servers()
    assert store.delete(url) is False


def test_one_key_per_server() -> None:
    store = KeyStore()
    a, b = _url(), _url()
    store.set(a, "LS-key-for-a-0000001")
    store.set(b, "LS-key-for-b-0000002")
    try:
        assert store.get(a) == "LS-key-for-a-0000001"
        assert store.get(b) == "LS-key-for-b-0000002"
        assert {a, b} <= set(store.servers())
    finally:
        store.delete(a)
        store.delete(b)


def test_environment_overrides_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    store = KeyStore()
    url = _url()
    store.set(url, "LS-from-keyring-00001")
    try:
        monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
        assert resolve_key(url) == "LS-from-keyring-00001"
        monkeypatch.setenv("LAYERSCALE_LICENSE_KEY", "LS-from-environment-1")
        assert resolve_key(url) == "LS-from-environment-1"
    finally:
        store.delete(url)
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY")
    assert resolve_key(url) is None


def test_localhost_and_trailing_slash_name_the_same_server() -> None:
    assert normalise_url("localhost:8080/") == "http://127.0.0.1:8080"
    assert normalise_url("HTTP://Example.COM:80/v1") == "http://example.com"
    assert normalise_url("https://h:8443") == "https://h:8443"
    with pytest.raises(ValueError, match="http"):
        normalise_url("ftp://h")


def test_bad_keys_are_refused() -> None:
    store = KeyStore()
    with pytest.raises(ValueError, match="empty"):
        store.set(_url(), "   ")
    with pytest.raises(ValueError, match="spaces") as caught:
        store.set(_url(), "LS-two words")
    assert "two words" not in str(caught.value)  # the message never echoes the key


def test_repr_and_mask_never_show_the_key() -> None:
    store = KeyStore()
    url = _url()
    store.set(url, "LS-secret-value-99999")
    try:
        assert "secret-value" not in repr(store)
        assert "secret-value" not in mask("LS-secret-value-99999")
        assert mask("LS-secret-value-99999").startswith("LS-")
    finally:
        store.delete(url)


@pytest.mark.parametrize("backend", [keyring.backends.fail.Keyring(),
                                     keyring.backends.null.Keyring()])
def test_fail_and_null_backends_are_unusable(backend: keyring.backend.KeyringBackend) -> None:
    problem = _backend_problem(backend)
    assert problem is not None and "gnome-keyring" in problem
    store = KeyStore(backend)
    url = _url()
    with pytest.raises(KeyStoreUnavailable) as caught:
        store.set(url, "LS-memory-only-000001")
    assert caught.value.kept_in_memory
    assert "memory for this run only" in str(caught.value)
    # Kept for this run: the launcher and the dashboard still get it.
    assert store.get(url) == "LS-memory-only-000001"
    assert store.in_memory_only(url)
    assert resolve_key(url) == "LS-memory-only-000001"
    assert store.delete(url) is True
    with pytest.raises(KeyStoreUnavailable):
        store.get(url)


class _PlaintextKeyring(keyring.backend.KeyringBackend):
    """Stand-in for keyrings.alt's file backends (not installed here): only its module name
    matters to the check, and it must never be asked to store anything."""

    priority = 0  # never picked or chained by keyring itself: only used where passed in

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a plaintext backend must never receive a key")

    def delete_password(self, service: str, username: str) -> None:
        raise AssertionError("unexpected")


_PlaintextKeyring.__module__ = "keyrings.alt.file"


def test_plaintext_backend_is_refused() -> None:
    store = KeyStore(_PlaintextKeyring())
    problem = store.problem
    assert problem is not None and "keyrings.alt" in problem
    with pytest.raises(KeyStoreUnavailable) as caught:
        store.set(_url(), "LS-never-in-a-file-01")
    assert caught.value.kept_in_memory


class _BrokenKeyring(keyring.backend.KeyringBackend):
    """Fault injection: a keyring backend that fails to start (keyring's InitError), as a
    Secret Service without a collection does."""

    priority = 0  # never picked or chained by keyring itself: only used where passed in

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.InitError("Failed to create the collection: Prompt dismissed.")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.InitError("Failed to create the collection: Prompt dismissed.")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.InitError("Failed to create the collection: Prompt dismissed.")


def test_backend_that_cannot_start_is_explained_and_key_kept_in_memory() -> None:
    store = KeyStore(_BrokenKeyring())
    problem = store.problem
    assert problem is not None
    assert "could not be opened" in problem and "gnome-keyring" in problem
    url = _url()
    with pytest.raises(KeyStoreUnavailable) as caught:
        store.set(url, "LS-init-error-key-0001")
    assert caught.value.kept_in_memory and "LS-init-error" not in str(caught.value)
    assert store.get(url) == "LS-init-error-key-0001" and store.in_memory_only(url)
    assert store.delete(url) is True
