"""Building a feed again from its recipe (`PacedFeed.recipe()`), to resume it after a
restart of the dashboard: same file or same seed, so the same entries in the same order."""

from __future__ import annotations

import math
from typing import Any

from app.feeds.base import PacedFeed


async def feed_from_recipe(recipe: dict[str, Any], speed: float = 1.0) -> PacedFeed:
    """The feed `recipe` describes, at its start; raises ValueError (unknown kind) or
    OSError (a file that is gone) with a message for the user."""
    kind = recipe.get("kind")
    speed = math.inf if not speed or speed <= 0 else speed
    if kind == "synthetic":
        from app.feeds.synthetic import SyntheticFeed

        return SyntheticFeed(stream=recipe["stream"], seed=int(recipe["seed"]),
                             interval=float(recipe["interval"]), start=float(recipe["start"]),
                             count=recipe.get("count"), speed=speed,
                             **dict(recipe.get("params") or {}))
    if kind == "csv":
        from app.feeds.csv_replay import CsvReplayFeed

        return await CsvReplayFeed.open(recipe["path"], speed, stream=recipe["stream"])
    raise ValueError(f"cannot resume a feed of kind {kind!r}")
