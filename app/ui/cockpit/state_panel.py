"""Session state: tokens, cache bar, positions, data region, and the decoded context.

Reads `GET /v1/sessions/{id}/state` through the cockpit's poller, which runs only while
this panel is visible (API generation 2 has no such route: its session as
`GET /v1/sessions/{id}` reports it, through the common surface; the rest is not
offered). The context viewer marks the prefix and the data region and keeps the
reader's scroll position across refreshes.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QColor,
    QKeySequence,
    QShortcut,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.api.surface import SessionOverview
from app.core.cockpit import NOT_OFFERED, SessionCockpit, context_marks
from app.ui import theme
from app.ui.frame import frame
from app.ui.live_label import LEFT, LiveLabel

CACHE_WARN = 0.7  # cache bar turns amber at 70 % of the context, red at 90 %
CACHE_FULL = 0.9
PREFIX_TINT = "#4c9aff"
DATA_TINT = "#26a69a"
FIELDS = ("tokens", "positions", "prefix end", "data region", "data count", "in use",
          "created", "last used", "type", "read")


def cache_colour(fill: float) -> str:
    return theme.ERROR if fill >= CACHE_FULL else theme.WARN if fill >= CACHE_WARN else theme.OK


def _when(unix: float) -> str:
    if not unix:
        return "–"
    ago = max(0.0, time.time() - unix)
    span = f"{ago:.0f} s" if ago < 120 else f"{ago / 60:.0f} min" if ago < 7200 \
        else f"{ago / 3600:.1f} h"
    return f"{time.strftime('%H:%M:%S', time.localtime(unix))} ({span} ago)"


def _tint(colour: str, alpha: int) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def _css(colour: str) -> str:
    c = _tint(colour, 90)
    return f"rgba({c.red()},{c.green()},{c.blue()},0.35)"


class StatePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cockpit: SessionCockpit | None = None
        self._shown: tuple[object, ...] = ()
        self._text_shown: str | None = None
        self._marks = (0, 0, 0)
        self.heading = QLabel("<b>Session state</b>")
        self.notice = QLabel(objectName="muted")
        self.notice.setWordWrap(True)
        self.cache_bar = QProgressBar()
        self.cache_bar.setRange(0, 1000)
        self.cache_bar.setTextVisible(True)
        self.cache_bar.setFixedHeight(16)
        self.values: dict[str, LiveLabel] = {}
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(3)
        grid.addWidget(QLabel("cache", objectName="muted"), 0, 0)
        grid.addWidget(self.cache_bar, 0, 1)
        for row, name in enumerate(FIELDS, start=1):
            value = LiveLabel("–")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(QLabel(name, objectName="muted"), row, 0)
            grid.addWidget(value, row, 1, LEFT)
            self.values[name] = value
        # --- the decoded context
        self.search = QLineEdit(placeholderText="Search the context (Enter: next, "
                                                "Shift+Enter: previous)")
        self.search.returnPressed.connect(lambda: self.find(self.search.text()))
        self.search.textChanged.connect(lambda text: self._highlight_matches(text))
        QShortcut(QKeySequence("Shift+Return"), self.search,
                  activated=lambda: self.find(self.search.text(), backwards=True))
        prev_btn = QPushButton("◀")
        next_btn = QPushButton("▶")
        prev_btn.setToolTip("Previous match")
        next_btn.setToolTip("Next match")
        prev_btn.clicked.connect(lambda: self.find(self.search.text(), backwards=True))
        next_btn.clicked.connect(lambda: self.find(self.search.text()))
        self.matches = LiveLabel(objectName="muted")
        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(prev_btn)
        bar.addWidget(next_btn)
        bar.addWidget(self.matches)
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.viewer = QPlainTextEdit(readOnly=True)
        self.viewer.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.viewer.setObjectName("context-viewer")
        font = self.viewer.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.viewer.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.heading)
        layout.addWidget(self.notice)
        layout.addLayout(grid)
        layout.addWidget(QLabel("<b>Context</b> <span style='color:gray'>· decoded, "
                                "read-only</span>"))
        layout.addLayout(bar)
        layout.addWidget(self.legend)
        layout.addWidget(self.viewer, 1)
        self.notice.hide()
        theme.on_change(self._recolour)

    def _recolour(self, _effective: str) -> None:
        self._shown = ()  # the cache bar and notices again in the new colours

    # ------------------------------------------------------------------ data
    def set_cockpit(self, cockpit: SessionCockpit | None) -> None:
        if cockpit is self.cockpit:
            return
        if self.cockpit is not None:
            self.cockpit.state.want(False)
        self.cockpit = cockpit
        self._shown, self._text_shown = (), None
        self.viewer.setPlainText("")
        self.viewer.setPlaceholderText("")

    def refresh(self) -> None:
        c = self.cockpit
        if c is None:
            self.heading.setText("<b>Session state</b> · no session open")
            return
        poller = c.state
        poller.want(self.isVisible())
        key = (poller.version, c.model.session_id, int(time.time()))  # ages tick each second
        if key == self._shown or not frame.claim():  # (a tick with room: app.ui.frame)
            return
        self._shown = key
        self.heading.setText(f"<b>Session state</b> · {c.model.session_id}")
        if poller.unsupported:
            self.notice.setText(f"Session state is {NOT_OFFERED}.")
        elif poller.error:
            self.notice.setText(f"<span style='color:{theme.ERROR}'>not updated: "
                                f"{poller.error}</span>")
        elif poller.value is None:
            self.notice.setText("reading the session state…")
        state = poller.value
        gen2 = isinstance(state, SessionOverview)
        if gen2 and not poller.error:
            self.notice.setText(f"API generation 2: the session as the server lists it. "
                                f"Context size, positions, prefix, data region and the "
                                f"decoded context are {NOT_OFFERED}.")
        self.notice.setVisible(poller.unsupported or bool(poller.error) or state is None
                               or gen2)
        if state is None:
            return
        if gen2:
            self._show_overview(c, state)
            return
        fill = state.n_tokens / state.context if state.context else 0.0
        colour = cache_colour(fill)
        self._set_bar(round(fill * 1000), f"{fill * 100:.1f} %")
        sheet = (f"QProgressBar::chunk {{ background: {colour}; }}"
                 f"QProgressBar {{ border: 1px solid {theme.BORDER}; "
                 "border-radius: 3px; text-align: center; }")
        if sheet != self.cache_bar.styleSheet():  # re-polishing costs; only on a change
            self.cache_bar.setStyleSheet(sheet)
        region = state.data_region
        window = f", window {region.window_size}" if region.window_size else ""
        v = self.values
        v["tokens"].setText(f"{state.n_tokens:,} / {state.context:,}")
        v["positions"].setText(f"pos_min {state.pos_min} · pos_max {state.pos_max} · "
                               f"pos_next {state.pos_next}")
        v["prefix end"].setText(str(state.prefix_end) if state.prefix_end else "none marked")
        v["data region"].setText(f"{region.start} – {region.end}{window}")
        v["data count"].setText(f"{state.data_count:,}")
        v["in use"].setText("yes" if state.in_use else "no")
        v["created"].setText(_when(state.created_at))
        v["last used"].setText(_when(state.last_used_at))
        v["type"].setText(state.type)
        v["read"].setText(_when(poller.at or 0.0))
        if state.context_text != self._text_shown:
            self._show_text(state)

    def _set_bar(self, value: int, text: str) -> None:
        """QProgressBar.setValue repaints at once (synchronously, inside the display tick's
        refresh); with updates off it is painted with the rest of the tick's changes."""
        bar = self.cache_bar
        if bar.value() == value and bar.format() == text:
            return
        bar.setUpdatesEnabled(False)
        try:
            bar.setValue(value)
            bar.setFormat(text)
        finally:
            bar.setUpdatesEnabled(True)  # schedules one ordinary update

    def _show_overview(self, c: SessionCockpit, s: SessionOverview) -> None:
        """A generation-2 session: what its GET /v1/sessions/{id} says, the rest said to be
        not offered."""
        self._set_bar(0, f"context size {NOT_OFFERED}")
        v = self.values
        kv = f" · KV {s.kv_tokens:,}" if s.kv_tokens is not None else ""
        v["tokens"].setText(f"{s.tokens:,}{kv}")
        v["positions"].setText(NOT_OFFERED)
        v["prefix end"].setText(NOT_OFFERED)
        window = f"window {s.window:,} tokens" if s.window else "no window"
        evicted = f", {s.evicted:,} entries evicted" if s.evicted else ""
        v["data region"].setText(f"{window}{evicted}")
        pending = f" · {s.pending:,} pending" if s.pending is not None else ""
        version = f"data version {s.data_version}" if s.data_version is not None else ""
        v["data count"].setText(f"{version}{pending}" or NOT_OFFERED)
        v["in use"].setText("yes" if s.busy else "no")
        v["created"].setText(_when(s.created))
        v["last used"].setText(_when(s.last_used))
        v["type"].setText(s.type or getattr(c.model, "type", "") or "?")
        v["read"].setText(_when(c.state.at or 0.0))
        if self._text_shown != "":
            self._text_shown = ""
            self._marks = (0, 0, 0)
            self.viewer.setPlainText("")
            self.viewer.setPlaceholderText(f"The decoded context is {NOT_OFFERED} "
                                           "(API generation 2).")
            self.legend.setText("")
            self._highlight_matches(self.search.text())

    def _show_text(self, state: object) -> None:
        from app.api.models import SessionState

        assert isinstance(state, SessionState)
        bar = self.viewer.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        keep = bar.value()
        self._text_shown = state.context_text
        self.viewer.setPlainText(state.context_text)
        self._marks = context_marks(state)
        self.legend.setText(
            f"<span style='background:{_css(PREFIX_TINT)}'>"
            f"&nbsp;prefix&nbsp;</span> tokens 0–{state.prefix_end or 0} · "
            f"<span style='background:{_css(DATA_TINT)}'>"
            f"&nbsp;data region&nbsp;</span> tokens {state.data_region.start}–"
            f"{state.data_region.end}, {state.data_count} entries")
        self._highlight_matches(self.search.text())
        bar.setValue(bar.maximum() if at_end else keep)

    def marks(self) -> tuple[int, int, int]:
        """(prefix end, data start, data end) as character offsets in the viewer."""
        return self._marks

    def _region_selections(self) -> list[QTextEdit.ExtraSelection]:
        out = []
        prefix, start, end = self._marks
        for a, b, colour in ((0, prefix, PREFIX_TINT), (start, end, DATA_TINT)):
            if b <= a:
                continue
            sel = QTextEdit.ExtraSelection()
            fmt = QTextCharFormat()
            fmt.setBackground(_tint(colour, 60))
            sel.format = fmt
            cursor = QTextCursor(self.viewer.document())
            cursor.setPosition(a)
            cursor.setPosition(b, QTextCursor.MoveMode.KeepAnchor)
            sel.cursor = cursor
            out.append(sel)
        return out

    def _highlight_matches(self, text: str) -> None:
        selections = self._region_selections()
        count = 0
        if text:
            doc = self.viewer.document()
            cursor = QTextCursor(doc)
            fmt = QTextCharFormat()
            fmt.setBackground(QColor(theme.WARN))
            fmt.setForeground(QColor("#000000"))
            while count < 1000:
                cursor = doc.find(text, cursor)
                if cursor.isNull():
                    break
                sel = QTextEdit.ExtraSelection()
                sel.format, sel.cursor = fmt, cursor
                selections.append(sel)
                count += 1
        self.viewer.setExtraSelections(selections)
        self.matches.setText(f"{count}{'+' if count >= 1000 else ''} found" if text else "")

    def find(self, text: str, backwards: bool = False) -> bool:
        """Move to the next (or previous) match, wrapping around; False if none."""
        if not text:
            return False
        flags = QTextDocument.FindFlag.FindBackward if backwards else \
            QTextDocument.FindFlag(0)
        if self.viewer.find(text, flags):
            return True
        cursor = self.viewer.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End if backwards
                            else QTextCursor.MoveOperation.Start)
        self.viewer.setTextCursor(cursor)
        return self.viewer.find(text, flags)

    def shown(self) -> dict[str, str]:
        """What the panel shows, by field (tests, screenshots)."""
        return {name: label.text() for name, label in self.values.items()} | {
            "cache": self.cache_bar.format()}
