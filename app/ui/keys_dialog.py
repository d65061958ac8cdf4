"""Licence keys dialog: servers with a key (masked unless revealed), add/replace/remove/test.

Keys live in the OS keyring (app.secrets). When the keyring is unusable, the dialog says
what to install or unlock, and a key added anyway is kept in memory for this run only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.secrets import KeyStore, KeyStoreUnavailable, keyring_call, mask, normalise_url
from app.secrets.check import KeyCheck, check_key

log = logging.getLogger(__name__)
T = TypeVar("T")
MASKED = mask("LS-")  # the same for every key: the list never hints at a key's length

OK_STYLE = "color: #26a69a;"
ERROR_STYLE = "color: #ef5350;"
WARN_STYLE = ("background: #3a2f12; color: #f0b429; border: 1px solid #6b5417; "
              "border-radius: 3px; padding: 6px;")


class KeysDialog(QDialog):
    """`keys_changed` fires after a key is added, replaced or removed."""

    keys_changed = Signal()

    def __init__(self, store: KeyStore | None = None, parent: QWidget | None = None, *,
                 server_url: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Licence keys")
        self.resize(720, 440)
        self.store = store or KeyStore()
        self._revealed: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._testing: asyncio.Task[KeyCheck | None] | None = None
        self.last_check: KeyCheck | None = None

        layout = QVBoxLayout(self)
        intro = QLabel("One LayerScale licence key per server, kept in the OS keyring. Keys are "
                       "sent only to their own server; LAYERSCALE_LICENSE_KEY, when set, "
                       "overrides them.")
        intro.setWordWrap(True)
        intro.setObjectName("muted")
        layout.addWidget(intro)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(WARN_STYLE)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        layout.addWidget(self.banner)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Server", "Key", "Stored in"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, 1)

        actions = QHBoxLayout()
        self.reveal_button = QPushButton("Reveal")
        self.reveal_button.setCheckable(True)
        self.reveal_button.setToolTip("Show the selected key until the selection changes")
        self.reveal_button.toggled.connect(self._reveal_toggled)
        self.replace_button = QPushButton("Replace…")
        self.replace_button.clicked.connect(self._replace_selected)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("GET /v1/health, then one authenticated call (/v1/models)")
        self.test_button.clicked.connect(self.test_selected)
        for button in (self.reveal_button, self.replace_button, self.remove_button,
                       self.test_button):
            actions.addWidget(button)
        actions.addStretch(1)
        layout.addLayout(actions)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.result)

        form_box = QGroupBox("Add or replace a key")
        form = QFormLayout(form_box)
        self.url_edit = QLineEdit(server_url or "")
        self.url_edit.setPlaceholderText("http://127.0.0.1:8080")
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("LS-…")
        self.key_edit.returnPressed.connect(self.save_key)
        self.show_key = QPushButton("Show")
        self.show_key.setCheckable(True)
        self.show_key.toggled.connect(lambda on: self.key_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.show_key)
        self.save_button = QPushButton("Save key")
        self.save_button.setObjectName("primary")
        self.save_button.clicked.connect(self.save_key)
        key_row.addWidget(self.save_button)
        form.addRow("Server URL", self.url_edit)
        form.addRow("Licence key", _wrap(key_row))
        layout.addWidget(form_box)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        # Filled in the background; tests and callers may await `ready`.
        self.ready = self._run(self._refresh(select=server_url))

    # ------------------------------------------------------------------ tasks
    def _run(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Every keyring call goes through a task (the keyring is worked on its own thread);
        closing the dialog cancels whatever is still pending."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or not isValid(self):
            return
        exc = task.exception()
        if exc is not None:  # the type only: a keyring error's text is not ours to show
            log.error("keys dialog action failed: %s", type(exc).__name__)
            self._say(f"That did not work ({type(exc).__name__}).", ok=False)

    # ------------------------------------------------------------------ listing
    def servers(self) -> list[str]:
        return [self.table.item(row, 0).text() for row in range(self.table.rowCount())]

    def refresh(self) -> asyncio.Task[None]:
        """Re-read the keyring (in the background) and redraw the list."""
        return self._run(self._refresh())

    async def _refresh(self, select: str | None = None) -> None:
        listing = await keyring_call(_read_listing, self.store)
        if not isValid(self):
            return
        problem = listing.problem
        if problem:
            self.banner.setText(f"{problem}\nKeys you add now are kept in memory for this run "
                                "only and are never written anywhere.")
        self.banner.setVisible(bool(problem))
        selected = select or self.selected_url()
        self.table.setRowCount(len(listing.servers))
        for row, (name, memory_only) in enumerate(listing.servers):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            self.table.setItem(row, 1, QTableWidgetItem(MASKED))
            where = "memory (this run only)" if memory_only else "OS keyring"
            self.table.setItem(row, 2, QTableWidgetItem(where))
        self._revealed = None
        self.reveal_button.setChecked(False)
        if selected:
            self.select(selected)
        self._update_buttons()

    def select(self, url: str) -> bool:
        try:
            name = normalise_url(url)
        except ValueError:
            return False
        row = self._row_of(name)
        if row >= 0:
            self.table.selectRow(row)
        return row >= 0

    def selected_url(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.item(rows[0].row(), 0).text() if rows else None

    def _selection_changed(self) -> None:
        self.reveal_button.setChecked(False)  # a revealed key never follows the selection
        url = self.selected_url()
        if url:
            self.url_edit.setText(url)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.selected_url() is not None
        for button in (self.reveal_button, self.replace_button, self.remove_button):
            button.setEnabled(has)
        self.test_button.setEnabled(has and self._testing is None)

    def _row_of(self, url: str) -> int:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == url:
                return row
        return -1

    def _reveal_toggled(self, on: bool) -> None:
        if self._revealed is not None:
            row = self._row_of(self._revealed)
            if row >= 0:
                self.table.item(row, 1).setText(MASKED)
            self._revealed = None
        url = self.selected_url()
        if not on or url is None:
            self.reveal_button.setText("Reveal")
            return
        self._run(self._reveal(url))

    async def _reveal(self, url: str) -> None:
        try:
            key = await keyring_call(self.store.get, url)
        except KeyStoreUnavailable as exc:
            key = None
            self._say(str(exc), ok=False)
        if not isValid(self):
            return
        # The user may have moved on while the keyring answered: show nothing then.
        if not key or self.selected_url() != url or not self.reveal_button.isChecked():
            self.reveal_button.setChecked(False)
            return
        self.table.item(self._row_of(url), 1).setText(key)
        self._revealed = url
        self.reveal_button.setText("Hide")

    def shown_key_text(self, url: str) -> str:
        row = self._row_of(normalise_url(url))
        return self.table.item(row, 1).text() if row >= 0 else ""

    # ------------------------------------------------------------------ changes
    def _replace_selected(self) -> None:
        url = self.selected_url()
        if url:
            self.url_edit.setText(url)
            self.key_edit.clear()
            self.key_edit.setFocus()
            self._say(f"Type the new key for {url} and press Save key.", ok=True)

    def save_key(self) -> asyncio.Task[bool]:
        """Store the typed key for the typed URL; the task's result says whether it reached
        the OS keyring."""
        return self._run(self._save(self.url_edit.text(), self.key_edit.text()))

    async def _save(self, url_text: str, key: str) -> bool:
        try:
            url = normalise_url(url_text)
        except ValueError as exc:
            self._say(str(exc), ok=False)
            return False
        replacing = url in self.servers()
        self.save_button.setEnabled(False)
        try:
            await keyring_call(self.store.set, url, key)
        except ValueError as exc:  # empty, or has spaces: the user fixes the typed key
            self._say(str(exc), ok=False)
            return False
        except KeyStoreUnavailable as exc:
            return await self._saved(url, str(exc), ok=False)
        finally:
            if isValid(self):
                self.save_button.setEnabled(True)
        stored = f"{'Replaced' if replacing else 'Stored'} the key for {url} in the OS keyring."
        return await self._saved(url, stored, ok=True)

    async def _saved(self, url: str, message: str, *, ok: bool) -> bool:
        if not isValid(self):
            return ok
        self.key_edit.clear()  # the typed key does not linger in the widget
        self.show_key.setChecked(False)
        await self._refresh(select=url)
        if isValid(self):
            self._say(message, ok=ok)
            self.keys_changed.emit()
        return ok

    def remove_selected(self) -> asyncio.Task[bool] | None:
        """Ask, then remove the selected server's key; None when nothing is removed."""
        url = self.selected_url()
        if url is None:
            return None
        answer = QMessageBox.question(self, "Remove key", f"Remove the licence key for {url}?")
        if answer != QMessageBox.StandardButton.Yes:
            return None
        return self._run(self._remove(url))

    async def _remove(self, url: str) -> bool:
        try:
            removed = await keyring_call(self.store.delete, url)
        except KeyStoreUnavailable as exc:
            self._say(str(exc), ok=False)
            return False
        if not isValid(self):
            return removed
        await self._refresh()
        if isValid(self):
            self._say(f"Removed the key for {url}." if removed
                      else f"No key was stored for {url}.", ok=removed)
            self.keys_changed.emit()
        return removed

    def test_selected(self) -> asyncio.Task[KeyCheck | None] | None:
        """Test the selected key (health + authenticated call); the result shows when it
        finishes. Returns the task (None when nothing is selected); its result is None when
        the keyring could not be read."""
        url = self.selected_url()
        if url is None:
            return None
        self._testing = self._run(self._test(url))
        self._update_buttons()
        return self._testing

    async def _test(self, url: str) -> KeyCheck | None:
        self._say(f"Testing {url}…", ok=True)
        try:
            try:
                key = await keyring_call(self.store.get, url)
            except KeyStoreUnavailable as exc:
                self._say(str(exc), ok=False)
                return None
            result = await check_key(url, key)
        finally:
            self._testing = None
            if isValid(self):
                self._update_buttons()
        if isValid(self):
            self.last_check = result
            self._say(result.message, ok=result.ok)
        return result

    def _say(self, text: str, *, ok: bool) -> None:
        self.result.setText(text)
        self.result.setStyleSheet(OK_STYLE if ok else ERROR_STYLE)

    def done(self, result: int) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(RuntimeError):
            self.key_edit.clear()
        super().done(result)


@dataclass(frozen=True, slots=True)
class _Listing:
    problem: str | None
    servers: list[tuple[str, bool]]  # (url, kept in memory only)


def _read_listing(store: KeyStore) -> _Listing:
    """Everything the list shows, read in one trip to the keyring thread."""
    problem = store.problem
    try:
        names = store.servers()
    except KeyStoreUnavailable:
        names = []
    return _Listing(problem, [(name, store.in_memory_only(name)) for name in names])


def _wrap(layout: QHBoxLayout) -> QWidget:
    widget = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    widget.setLayout(layout)
    return widget
