"""Qt + asyncio fixtures for every test in tests/ui/.

pytest-qt owns the QApplication (`qapp`); qasync runs asyncio on top of it so
the dashboard's coroutines (network, feeds) and Qt's event loop are one loop,
exactly as in the app. See shared/design/TESTING.md for why the loop is made
with `already_running=True` and why teardown never calls `loop.stop()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import PySide6  # noqa: F401  (before qasync: it would pick PyQt6, which finplot pulls in)
import pytest
import qasync
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow
    from tests.support.server import RunningServer

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


@pytest.fixture
def window_for(qtbot: Any, arun: Any, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[Callable[..., MainWindow]]:
    """window_for(url, key=None, poll_interval=0.5, key_lookup=None) -> a shown MainWindow
    polling `url`.

    The licence key is only what the test passes (never the environment's). At teardown
    the sessions the windows created are deleted and their dashboards stopped.
    """
    from app.core.dashboard import Dashboard
    from app.ui.main_window import MainWindow

    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
    made: list[MainWindow] = []

    def make(url: str, key: str | None = None, poll_interval: float = 0.5,
             key_lookup: Any = None) -> MainWindow:
        dashboard = Dashboard(url, key=key, poll_interval=poll_interval, key_lookup=key_lookup)
        window = MainWindow(dashboard)
        qtbot.addWidget(window)
        window.resize(1400, 800)
        window.show()
        dashboard.start()
        made.append(window)
        return window

    yield make
    for window in made:
        d = window.dashboard
        for item in list(d.open):
            if item.model.owned:
                arun(d.delete_session(item.model.session_id), timeout=90)
        arun(d.stop())


@pytest.fixture
def window(window_for: Callable[..., MainWindow], qtbot: Any,
           local_server: RunningServer) -> MainWindow:
    """A main window connected to the shared bundled server (its health already read)."""
    w = window_for(local_server.url, poll_interval=0.3)
    qtbot.waitUntil(lambda: w.dashboard.server.ok, timeout=20_000)
    return w
