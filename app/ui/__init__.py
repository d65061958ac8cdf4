"""Qt views over app.core.

Importing this package pins the Qt binding to PySide6 for qasync and pyqtgraph:
PyQt6 is also installed (finplot, used by the benchmarks, pulls it in), and both
libraries would otherwise pick it first, after which PySide6's QtGui fails to load.
"""

from __future__ import annotations

import os

os.environ["QT_API"] = "pyside6"
os.environ["PYQTGRAPH_QT_LIB"] = "PySide6"

import PySide6.QtCore  # noqa: F401  (loaded before any qasync/pyqtgraph import)
