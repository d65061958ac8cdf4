"""The shared qasync fixtures: coroutines run on the Qt loop and Qt timers still fire."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from PySide6.QtCore import QTimer


def test_arun_returns_result_and_qt_timers_fire(arun: Any) -> None:
    fired: list[int] = []
    QTimer.singleShot(10, lambda: fired.append(1))

    async def work() -> int:
        # Polls with a deadline: the Qt timer must fire while a coroutine waits on the loop.
        deadline = time.monotonic() + 5.0
        while not fired:
            assert time.monotonic() < deadline, "Qt timer never fired under qasync"
            await asyncio.sleep(0.01)
        return 42

    assert arun(work()) == 42
    assert fired == [1]


def test_arun_reraises(arun: Any) -> None:
    async def boom() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        arun(boom())


def test_arun_times_out(arun: Any) -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    with pytest.raises(Exception, match="waitUntil timed out"):
        arun(forever(), timeout=0.2)
