"""Light and dark themes: one palette and one style sheet each.

The module's colour names (BG, TEXT, MUTED...) always hold the current theme's values,
so views that read them when they build or render follow a switch. `apply()` follows the
system's colour scheme by default (dark when the system does not say); `set_mode()` is
the View > Theme menu.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QWidget

BG = "#14171c"
PANEL = "#1b1f26"
RAISED = "#232833"
BORDER = "#2e3440"
TEXT = "#d8dee9"
MUTED = "#8b95a7"
ACCENT = "#4c9aff"
UP = "#26a69a"
DOWN = "#ef5350"
WARN = "#f0b429"
ERROR = "#ef5350"
OK = "#26a69a"
ALT = "#1f242c"
HIGHLIGHT = "#2b3e5c"
PRIMARY = "#2b5797"

LEVEL_COLOURS = {"low": "#ef5350", "medium": "#f0b429", "high": "#26a69a"}


def style_sheet() -> str:
    """The style sheet for the current colours."""
    return f"""
QWidget {{ background: {BG}; color: {TEXT}; font-size: 10pt; }}
QMainWindow::separator {{ background: {BORDER}; width: 1px; height: 1px; }}
QMenuBar, QMenu {{ background: {PANEL}; }}
QMenu::item:selected, QMenuBar::item:selected {{ background: {RAISED}; }}
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox, QPlainTextEdit, QTextEdit {{
    background: {PANEL}; border: 1px solid {BORDER}; border-radius: 3px; padding: 3px 5px;
    selection-background-color: {ACCENT};
}}
QPushButton, QToolButton {{
    background: {RAISED}; border: 1px solid {BORDER}; border-radius: 3px; padding: 4px 10px;
}}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:disabled {{ color: {MUTED}; }}
QPushButton#primary {{ background: {PRIMARY}; border-color: {ACCENT}; }}
QTableView, QTreeView, QTreeWidget {{
    background: {PANEL}; alternate-background-color: {ALT}; gridline-color: {BORDER};
    border: 1px solid {BORDER}; selection-background-color: {HIGHLIGHT}; selection-color: {TEXT};
}}
QHeaderView::section {{
    background: {RAISED}; color: {MUTED}; border: none; border-right: 1px solid {BORDER};
    padding: 4px 6px; font-weight: 600;
}}
QTabWidget::pane {{ border: 1px solid {BORDER}; top: -1px; }}
QTabBar::tab {{ background: {PANEL}; color: {MUTED}; padding: 6px 14px; border: 1px solid {BORDER};
    border-bottom: none; margin-right: 2px; }}
QTabBar::tab:selected {{ background: {BG}; color: {TEXT}; border-top: 2px solid {ACCENT}; }}
QDockWidget::title {{ background: {RAISED}; padding: 4px 8px; }}
QLabel#muted {{ color: {MUTED}; }}
QCheckBox::indicator {{ width: 12px; height: 12px; border: 1px solid {MUTED}; border-radius: 2px;
    background: {PANEL}; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox::indicator:disabled {{ border-color: {BORDER}; }}
QLabel#chip {{ background: {RAISED}; border: 1px solid {BORDER}; border-radius: 9px;
    padding: 2px 8px; }}
QFrame#banner {{ border-radius: 3px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QSplitter::handle {{ background: {BORDER}; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 3px; margin-top: 12px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {MUTED}; }}
"""


STYLE = style_sheet()


DARK = {"BG": "#14171c", "PANEL": "#1b1f26", "RAISED": "#232833", "BORDER": "#2e3440",
        "TEXT": "#d8dee9", "MUTED": "#8b95a7", "ALT": "#1f242c", "HIGHLIGHT": "#2b3e5c",
        "PRIMARY": "#2b5797"}
LIGHT = {"BG": "#f5f6f8", "PANEL": "#ffffff", "RAISED": "#e8ebf0", "BORDER": "#c9d0da",
         "TEXT": "#1c222b", "MUTED": "#5b6576", "ALT": "#f0f2f5", "HIGHLIGHT": "#cfe0fb",
         "PRIMARY": "#4c9aff"}
MODES = ("system", "light", "dark")
_mode = "system"
_effective = "dark"
_listeners: list[Callable[[], Callable[[str], None] | None]] = []


def system_is_dark(app: QApplication) -> bool:
    """The system's colour scheme; dark when it does not say (the app's original look)."""
    scheme = app.styleHints().colorScheme()
    return scheme != Qt.ColorScheme.Light


def mode() -> str:
    """The user's choice: system, light or dark."""
    return _mode


def effective() -> str:
    """The theme in use: light or dark."""
    return _effective


def on_change(callback: Callable[[str], None]) -> None:
    """Call `callback(effective)` after every switch (plots recolour their backgrounds).

    A bound method is held weakly: a closed view is not kept alive by the theme.
    """
    if hasattr(callback, "__self__"):
        _listeners.append(weakref.WeakMethod(callback))  # type: ignore[arg-type]
    else:
        _listeners.append(lambda: callback)


def _apply_colours(app: QApplication, colours: dict[str, str]) -> None:
    globals().update(colours)
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BG), (QPalette.ColorRole.Base, PANEL),
        (QPalette.ColorRole.AlternateBase, ALT), (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.WindowText, TEXT), (QPalette.ColorRole.Button, RAISED),
        (QPalette.ColorRole.ButtonText, TEXT), (QPalette.ColorRole.Highlight, HIGHLIGHT),
        (QPalette.ColorRole.HighlightedText, TEXT), (QPalette.ColorRole.ToolTipBase, RAISED),
        (QPalette.ColorRole.ToolTipText, TEXT), (QPalette.ColorRole.PlaceholderText, MUTED),
    ):
        pal.setColor(role, QColor(colour))
    app.setPalette(pal)
    font = QFont(app.font())
    font.setPointSize(10)
    app.setFont(font)
    app.setStyleSheet(style_sheet())


def set_mode(app: QApplication, choice: str) -> str:
    """Switch to `choice` (system, light, dark); returns the theme now in use."""
    global _mode, _effective
    if choice not in MODES:
        raise ValueError(f"unknown theme {choice!r}; choose one of {', '.join(MODES)}")
    _mode = choice
    dark = system_is_dark(app) if choice == "system" else choice == "dark"
    _effective = "dark" if dark else "light"
    _apply_colours(app, DARK if dark else LIGHT)
    for ref in list(_listeners):
        callback = ref()
        if callback is None:
            _listeners.remove(ref)
            continue
        try:
            callback(_effective)
        except RuntimeError:  # its Qt object is already deleted
            _listeners.remove(ref)
    return _effective


def apply(app: QApplication, choice: str = "system") -> None:
    """At start-up: the chosen theme, and follow the system's scheme while on "system"."""
    set_mode(app, choice)
    hints = app.styleHints()
    signal = getattr(hints, "colorSchemeChanged", None)
    if signal is not None and not getattr(app, "_ls_theme_follow", False):
        app._ls_theme_follow = True  # type: ignore[attr-defined]
        signal.connect(lambda _scheme: _mode == "system" and set_mode(app, "system"))


class _Opaque(QObject):
    """Turns a viewport's background fill back on after the style sheet polishes it."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Polish, QEvent.Type.StyleChange) and \
                isinstance(obj, QWidget) and not obj.autoFillBackground():
            obj.setAutoFillBackground(True)
        return False


_opaque: _Opaque | None = None


def opaque_viewport(view: QAbstractScrollArea) -> None:
    """Keep a live item view's viewport opaque under the style sheet.

    The sheet's background rule turns the viewport's own fill off and draws it as a
    styled background instead, which Qt does not count as opaque: every changed cell then
    repaints each parent beneath it first (main window, dock, panel, frame), all
    through the style sheet (bench.cockpit: the docks' repaints under the overview's
    live cells). Filled with the palette's Base, which the theme sets to the sheet's
    colour, the viewport is opaque and a cell repaints only itself.
    """
    global _opaque
    if _opaque is None:
        _opaque = _Opaque()
    viewport = view.viewport()
    viewport.setAutoFillBackground(True)
    viewport.installEventFilter(_opaque)
