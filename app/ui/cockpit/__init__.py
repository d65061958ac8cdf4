"""The operator's cockpit: session state, ingest graphs, server overview, query console."""

from __future__ import annotations

from app.ui.cockpit.shell import CockpitUI, attach_cockpit

__all__ = ["CockpitUI", "attach_cockpit"]
