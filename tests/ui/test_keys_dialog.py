"""The Keys dialog over the real Secret Service and the real bundled server that needs a key."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import keyring
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


def test_add_reveal_replace_remove(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    dialog = KeysDialog()
    qtbot.addWidget(dialog)
    url = _url()
    dialog.url_edit.setText(url + "/")
    dialog.key_edit.setText("LS-dialog-key-000001")
    assert dialog.save_key()
    assert keyring.get_password(SERVICE, url) == "LS-dialog-key-000001"
    assert url in dialog.servers()
    assert dialog.key_edit.text() == ""  # the typed key does not linger
    assert "LS-dialog-key" not in _table_text(dialog)  # masked
    assert dialog.selected_url() == url

    dialog.reveal_button.setChecked(True)
    assert dialog.shown_key_text(url) == "LS-dialog-key-000001"
    dialog.table.clearSelection()  # moving away hides it again
    assert "LS-dialog-key" not in _table_text(dialog)

    dialog.select(url)
    dialog.replace_button.click()
    assert dialog.url_edit.text() == url
    dialog.key_edit.setText("LS-dialog-key-000002")
    dialog.save_button.click()
    assert keyring.get_password(SERVICE, url) == "LS-dialog-key-000002"
    assert "Replaced" in dialog.result.text()

    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    dialog.select(url)
    assert dialog.remove_selected()
    assert keyring.get_password(SERVICE, url) is None
    assert url not in dialog.servers()


def test_bad_input_is_explained(qtbot: Any) -> None:
    dialog = KeysDialog()
    qtbot.addWidget(dialog)
    dialog.url_edit.setText("ftp://nope")
    dialog.key_edit.setText("LS-x-000000001")
    assert not dialog.save_key()
    assert "http" in dialog.result.text()
    dialog.url_edit.setText(_url())
    dialog.key_edit.setText("")
    assert not dialog.save_key()
    assert "empty" in dialog.result.text()


def test_key_tested_against_its_server(qtbot: Any, arun: Callable[..., Any],
                                       keyed_server: RunningServer) -> None:
    store = KeyStore()
    store.set(keyed_server.url, TEST_KEY)
    try:
        dialog = KeysDialog(server_url=keyed_server.url)
        qtbot.addWidget(dialog)
        assert dialog.selected_url() == keyed_server.url
        task = dialog.test_selected()
        assert task is not None
        result = arun(task, timeout=30)
        assert result.ok and result.health == "ready"
        assert "accepted" in dialog.result.text()

        store.set(keyed_server.url, "LS-wrong-key-99999")
        result = arun(dialog.test_selected(), timeout=30)
        assert not result.ok and "rejected" in dialog.result.text()
        assert "LS-wrong" not in dialog.result.text()
    finally:
        store.delete(keyed_server.url)


def test_unusable_keyring_banner_and_memory_only_key(qtbot: Any) -> None:
    store = KeyStore(keyring.backends.fail.Keyring())
    dialog = KeysDialog(store)
    qtbot.addWidget(dialog)
    assert dialog.banner.isVisibleTo(dialog)
    assert "gnome-keyring" in dialog.banner.text()
    url = _url()
    dialog.url_edit.setText(url)
    dialog.key_edit.setText("LS-memory-only-12345")
    assert not dialog.save_key()  # not saved, and it says so
    assert "memory for this run only" in dialog.result.text()
    assert url in dialog.servers()
    row = dialog._row_of(url)
    assert dialog.table.item(row, 2).text() == "memory (this run only)"
    assert keyring.get_password(SERVICE, url) is None  # never reached any keyring
    store.delete(url)
