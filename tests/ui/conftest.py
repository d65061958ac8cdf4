"""Qt + asyncio fixtures for every test in tests/ui/.

pytest-qt owns the QApplication (`qapp`); qasync runs asyncio on top of it so
the dashboard's coroutines (network, feeds) and Qt's event loop are one loop,
exactly as in the app. See shared/design/TESTING.md for why the loop is made
with `already_running=True` and why teardown never calls `loop.stop()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import PySide6  # noqa: F401  (before qasync: it would pick PyQt6, which finplot pulls in)
import pytest
import qasync
from PySide6.QtWidgets import QApplication

T = TypeVar("T")


@pytest.fixture(scope="session")
def qasync_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """One asyncio loop driven by Qt for the whole run, set as the current loop."""
    # The app never quits on window close during tests (windows come and go).
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    # Cancel what tests left behind so nothing runs into the next session; never
    # loop.stop() here: it calls QApplication.exit() and later Qt timers never fire.
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    # asyncio.to_thread runs on qasync's QThread pool; join it so no QThread outlives Qt.
    executor = getattr(loop, "_QEventLoop__default_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


@pytest.fixture
def arun(qtbot: Any, qasync_loop: qasync.QEventLoop) -> Callable[..., Any]:
    """arun(coro, timeout=30.0) -> result: run a coroutine on the Qt loop, wait for it.

    Schedules with asyncio.ensure_future and spins Qt (qtbot.waitUntil) until the
    task is done, so Qt events and asyncio callbacks both progress meanwhile.
    Exceptions raised by the coroutine are re-raised here.
    """

    def run(coro: Awaitable[T], timeout: float = 30.0) -> T:
        task = asyncio.ensure_future(coro, loop=qasync_loop)
        try:
            qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        except BaseException:
            task.cancel()
            raise
        return task.result()

    return run
