"""The connection banner and the connect bar at the top of the main window."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from app.core.problems import Problem
from app.ui import theme

if TYPE_CHECKING:  # the window's shell is painted before the core is imported
    from app.core.server import Banner as BannerState
    from app.core.server import ServerState

BANNER_COLOURS = {
    Problem.UNREACHABLE: ("#3a1d1f", theme.ERROR),
    Problem.AUTH: ("#3a1d1f", theme.ERROR),
    Problem.LOADING: ("#3a3119", theme.WARN),
    Problem.NOT_FOUND: ("#3a3119", theme.WARN),
    Problem.ERROR: ("#3a1d1f", theme.ERROR),
}


class Banner(QFrame):
    """Shown while the server is unreachable, refuses the key or is loading; hides itself after."""

    retry_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="banner")
        self.title = QLabel()
        self.detail = QLabel(objectName="muted")
        self.detail.setWordWrap(True)
        # A server's long reason wraps inside the window; it never widens it.
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.countdown = QLabel(objectName="muted")
        self.retry = QPushButton("Retry now")
        self.retry.clicked.connect(self.retry_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.detail, 1)
        layout.addWidget(self.countdown)
        layout.addWidget(self.retry)
        self.problem: Problem | None = None
        self._shown: BannerState | None = None
        self.hide()

    def show_state(self, state: ServerState) -> None:
        b = state.banner
        if b is None:
            self.problem, self._shown = None, None
            self.hide()
            return
        if b is not self._shown:
            # Called every frame while the server is failing (for the countdown): restyling
            # only when the problem changes keeps that cheap.
            self.problem, self._shown = b.problem, b
            bg, fg = BANNER_COLOURS[b.problem]
            self.setStyleSheet(f"QFrame#banner {{ background: {bg}; border: 1px solid {fg}; }}")
            self.title.setText(f"<b style='color:{fg}'>{b.title}</b>")
            self.detail.setText(b.detail)
        wait = state.retry_in()
        self.countdown.setText("" if wait is None else f"retrying in {wait:.0f} s")
        self.show()


class ConnectBar(QWidget):
    connect_requested = Signal(str)

    def __init__(self, url: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.url = QLineEdit(url)
        self.url.setPlaceholderText("http://127.0.0.1:8080")
        self.url.setMinimumWidth(200)
        self.url.returnPressed.connect(self._connect)
        self.button = QPushButton("Connect")
        self.button.clicked.connect(self._connect)
        self.status = QLabel()
        # A long model name must not set the window's minimum width (and squeeze the docks):
        # the label takes what is left and clips.
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.key = QLabel(objectName="muted")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 2)
        layout.addWidget(QLabel("<b>LayerScale</b>"))
        layout.addSpacing(8)
        layout.addWidget(QLabel("Server"))
        layout.addWidget(self.url)
        layout.addWidget(self.button)
        layout.addSpacing(12)
        layout.addWidget(self.status, 1)
        layout.addWidget(self.key)

    def _connect(self) -> None:
        text = self.url.text().strip()
        if text:
            if "://" not in text:
                text = "http://" + text
                self.url.setText(text)
            self.connect_requested.emit(text)

    def show_state(self, state: ServerState, has_key: bool) -> None:
        if state.ok:
            gen = state.generation_label()
            self.status.setText(f"<span style='color:{theme.OK}'>●</span> connected"
                                f"{f' · <b>{gen}</b>' if gen else ''} · model "
                                f"<b>{state.model or '?'}</b>")
            # Shown once per change of state, so a start time rather than a stale "up 3 s".
            h = state.health
            up = h.get("uptime")
            if not isinstance(up, int | float) and isinstance(h.get("uptime_ms"), int):
                up = h["uptime_ms"] / 1000.0  # generation 2 counts milliseconds
            since = (time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() - float(up)))
                     if isinstance(up, int | float) else "?")
            details = "\n".join(f"{k}: {v}" for k, v in state.details()[2:])
            self.status.setToolTip(f"{state.url}\nserver {h.get('version') or '?'}, "
                                   f"running since {since}" + (f"\n{details}" if details else ""))
        elif state.status == "connecting":
            self.status.setText(f"<span style='color:{theme.WARN}'>●</span> connecting…")
        else:
            self.status.setText(f"<span style='color:{theme.ERROR}'>●</span> not connected")
        self.key.setText("licence key set" if has_key else "no licence key")
