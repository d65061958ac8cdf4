"""The Keys dialog over the real Secret Service and the real bundled server that needs a key."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import keyring
import keyring.backend
import keyring.backends.fail
import pytest
from PySide6.QtWidgets import QMessageBox

from app.secrets import SERVICE, KeyStore
from app.ui.keys_dialog import KeysDialog
from tests.conftest import TEST_KEY
from tests.support.server import RunningServer


def _url() -> str:
    return f"http://127.0.0.1:{20000 + uuid.uuid4().int % 40000}"


def _table_text(dialog: KeysDialog) -> str:
    return " ".join(dialog.table.item(r, c).text() for r in range(dialog.table.rowCount())
                    for c in range(dialog.table.columnCount()))


def _dialog(qtbot: Any, arun: Callable[..., Any], *args: Any, **kwargs: Any) -> KeysDialog:
    dialog = KeysDialog(*args, **kwargs)
    qtbot.addWidget(dialog)
    arun(dialog.ready)  # the list is read from the keyring in the background
    return dialog


def test_add_reveal_replace_remove(qtbot: Any, arun: Callable[..., Any],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    dialog = _dialog(qtbot, arun)
    url = _url()
    dialog.url_edit.setText(url + "/")
    dialog.key_edit.setText("LS-dialog-key-000001")
    assert arun(dialog.save_key()) is True
    assert keyring.get_password(SERVICE, url) == "LS-dialog-key-000001"
    assert url in dialog.servers()
    assert dialog.key_edit.text() == ""  # the typed key does not linger
    assert "LS-dialog-key" not in _table_text(dialog)  # masked
    assert dialog.selected_url() == url

    dialog.reveal_button.setChecked(True)
    qtbot.waitUntil(lambda: dialog.shown_key_text(url) == "LS-dialog-key-000001", timeout=10_000)
    assert dialog.reveal_button.text() == "Hide"
    dialog.table.clearSelection()  # moving away hides it again
    assert "LS-dialog-key" not in _table_text(dialog)
    assert not dialog.reveal_button.isChecked()

    dialog.select(url)
    dialog.replace_button.click()
    assert dialog.url_edit.text() == url
    dialog.key_edit.setText("LS-dialog-key-000002")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: "Replaced" in dialog.result.text(), timeout=10_000)
    assert keyring.get_password(SERVICE, url) == "LS-dialog-key-000002"
    assert dialog.key_edit.text() == ""

    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    dialog.select(url)
    removing = dialog.remove_selected()
    assert removing is not None and arun(removing) is True
    assert keyring.get_password(SERVICE, url) is None
    assert url not in dialog.servers()


def test_bad_input_is_explained(qtbot: Any, arun: Callable[..., Any]) -> None:
    dialog = _dialog(qtbot, arun)
    dialog.url_edit.setText("ftp://nope")
    dialog.key_edit.setText("LS-x-000000001")
    assert arun(dialog.save_key()) is False
    assert "http" in dialog.result.text()
    url = _url()
    dialog.url_edit.setText(url)
    dialog.key_edit.setText("")
    assert arun(dialog.save_key()) is False
    assert "empty" in dialog.result.text()
    assert url not in dialog.servers() and keyring.get_password(SERVICE, url) is None


def test_key_tested_against_its_server(qtbot: Any, arun: Callable[..., Any],
                                       keyed_server: RunningServer) -> None:
    store = KeyStore()
    store.set(keyed_server.url, TEST_KEY)
    try:
        dialog = _dialog(qtbot, arun, server_url=keyed_server.url)
        assert dialog.selected_url() == keyed_server.url
        task = dialog.test_selected()
        assert task is not None
        assert not dialog.test_button.isEnabled()  # one test at a time
        result = arun(task, timeout=30)
        assert result is not None and result.ok and result.health == "ready"
        assert "accepted" in dialog.result.text()
        assert dialog.test_button.isEnabled()

        store.set(keyed_server.url, "LS-wrong-key-99999")
        result = arun(dialog.test_selected(), timeout=30)
        assert result is not None
        assert not result.ok and "rejected" in dialog.result.text()
        assert "LS-wrong" not in dialog.result.text()
    finally:
        store.delete(keyed_server.url)


def test_unusable_keyring_banner_and_memory_only_key(qtbot: Any,
                                                     arun: Callable[..., Any]) -> None:
    """keyring's own fail backend (what a machine without any keyring gets)."""
    store = KeyStore(keyring.backends.fail.Keyring())
    dialog = _dialog(qtbot, arun, store)
    assert dialog.banner.isVisibleTo(dialog)
    assert "gnome-keyring" in dialog.banner.text()
    url = _url()
    dialog.url_edit.setText(url)
    dialog.key_edit.setText("LS-memory-only-12345")
    assert arun(dialog.save_key()) is False  # not saved, and it says so
    assert dialog.key_edit.text() == ""
    assert "memory for this run only" in dialog.result.text()
    assert url in dialog.servers()
    row = dialog._row_of(url)
    assert dialog.table.item(row, 2).text() == "memory (this run only)"
    assert keyring.get_password(SERVICE, url) is None  # never reached any keyring
    store.delete(url)


class _ThreadRecordingKeyring(keyring.backend.KeyringBackend):
    """Instrumentation, not a fake: passes every call to the real Secret Service backend and
    notes the thread it came from."""

    priority = 0  # never picked or chained by keyring itself: only used where passed in

    def __init__(self, real: keyring.backend.KeyringBackend) -> None:
        super().__init__()
        self.real = real
        self.threads: set[str] = set()

    def _note(self) -> None:
        self.threads.add(threading.current_thread().name)

    def get_password(self, service: str, username: str) -> str | None:
        self._note()
        return self.real.get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self._note()
        self.real.set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        self._note()
        self.real.delete_password(service, username)


def test_keyring_is_never_called_on_the_gui_thread(qtbot: Any, arun: Callable[..., Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    backend = _ThreadRecordingKeyring(keyring.get_keyring())
    dialog = _dialog(qtbot, arun, KeyStore(backend))
    url = _url()
    dialog.url_edit.setText(url)
    dialog.key_edit.setText("LS-thread-check-0001")
    assert arun(dialog.save_key()) is True
    dialog.reveal_button.setChecked(True)
    qtbot.waitUntil(lambda: dialog.shown_key_text(url) == "LS-thread-check-0001", timeout=10_000)
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    removing = dialog.remove_selected()
    assert removing is not None and arun(removing) is True
    assert backend.threads, "the dialog never reached the keyring"
    assert threading.current_thread().name not in backend.threads
    assert all(name.startswith("keyring") for name in backend.threads), backend.threads
