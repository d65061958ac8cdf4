"""The dark theme: one palette and one style sheet, applied once at start-up."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

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

LEVEL_COLOURS = {"low": "#ef5350", "medium": "#f0b429", "high": "#26a69a"}

STYLE = f"""
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
QPushButton#primary {{ background: #2b5797; border-color: {ACCENT}; }}
QTableView, QTreeView, QTreeWidget {{
    background: {PANEL}; alternate-background-color: #1f242c; gridline-color: {BORDER};
    border: 1px solid {BORDER}; selection-background-color: #2b3e5c; selection-color: {TEXT};
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


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BG), (QPalette.ColorRole.Base, PANEL),
        (QPalette.ColorRole.AlternateBase, "#1f242c"), (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.WindowText, TEXT), (QPalette.ColorRole.Button, RAISED),
        (QPalette.ColorRole.ButtonText, TEXT), (QPalette.ColorRole.Highlight, "#2b3e5c"),
        (QPalette.ColorRole.HighlightedText, TEXT), (QPalette.ColorRole.ToolTipBase, RAISED),
        (QPalette.ColorRole.ToolTipText, TEXT), (QPalette.ColorRole.PlaceholderText, MUTED),
    ):
        pal.setColor(role, QColor(colour))
    app.setPalette(pal)
    font = QFont(app.font())
    font.setPointSize(10)
    app.setFont(font)
    app.setStyleSheet(STYLE)
