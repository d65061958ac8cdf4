"""The live candle chart (pyqtgraph): CandleChart over an app.streams.candles.CandleStore."""

# PySide6 first: pyqtgraph binds to the first Qt it finds imported, and finplot
# (a dev dependency) pulls PyQt6 into the environment.
import PySide6.QtCore  # noqa: F401  isort: skip

from app.ui.chart.widget import CandleChart

__all__ = ["CandleChart"]
