"""Helpers for core tests that run against the real bundled server (no Qt)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from app.core.session import SessionSpec

TEST_PROMPT = "Each line is one OHLCV candle. Answer yes or no."
FLASH = ("Is the trend bullish?", "Is volume increasing?")


def small_spec(flash: tuple[str, ...] = FLASH, window: int = 20) -> SessionSpec:
    """A small session: short window, few answer tokens, so the CPU server keeps up."""
    return SessionSpec(type="ohlcv", prompt=TEST_PROMPT, context=2048, window_size=window,
                       flash=flash, flash_max_tokens=4, mark_prefix=True)


async def until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for `cond` with a deadline (polling, never a bare sleep for synchronisation)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
