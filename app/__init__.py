"""LayerScale Dashboard: a desktop app for LayerScale inference servers."""

__version__ = "0.1.0"
