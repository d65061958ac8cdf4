"""Colours and fonts of the candle chart (dark, matching app.ui.theme)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChartStyle"]


@dataclass(frozen=True, slots=True)
class ChartStyle:
    background: str = "#14171c"
    text: str = "#b2bac8"
    muted: str = "#6c7789"
    axis: str = "#2e3440"
    grid: str = "#1f242c"
    crosshair: str = "#8b95a7"
    up: str = "#26a69a"
    down: str = "#ef5350"
    # Bodies slightly brighter than their outline reads as "filled" on dark.
    up_body: str = "#26a69a"
    down_body: str = "#ef5350"
    # Up/down at 40% over the background, pre-mixed: opaque fills skip alpha
    # blending, which made the volume pane the costliest item when zoomed out.
    up_volume: str = "#1b504e"
    down_volume: str = "#6c2f31"
    last_price: str = "#4c9aff"
    marker: str = "#f0b429"
    font_pt: float = 8.5
    axis_width_px: int = 68
