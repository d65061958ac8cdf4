"""The plot of each stream type, found through the registry (`StreamType.plot`).

Every plot is a QWidget over the type's store with `refresh() -> bool` (called from the
display timer; nothing happens when the store did not change), `add_marker(timestamp,
label, colour)` and `counts()` (what it drew, for tests and benchmarks).
"""

# PySide6 first: pyqtgraph binds to the first Qt it finds imported.
import PySide6.QtCore  # noqa: F401  isort: skip

import importlib
from typing import Any

from PySide6.QtWidgets import QWidget

from app.streams.base import StreamType

__all__ = ["make_plot", "plot_class"]


def plot_class(stream: type[StreamType]) -> type[QWidget]:
    module, _, name = stream.plot.partition(":")
    cls: type[QWidget] = getattr(importlib.import_module(module), name)
    return cls


def make_plot(stream: type[StreamType], store: Any, parent: QWidget | None = None) -> Any:
    """The widget that draws `store`, a store of `stream` entries."""
    return plot_class(stream)(store, parent)
