"""Running coroutines from Qt slots on the qasync loop, with errors shown, not lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from app.core.problems import message_of

log = logging.getLogger(__name__)

_running: set[asyncio.Task[Any]] = set()


def spawn(
    coro: Coroutine[Any, Any, Any],
    on_error: Callable[[str], None] | None = None,
    on_done: Callable[[Any], None] | None = None,
) -> asyncio.Task[Any]:
    """Schedule `coro`; report its failure through `on_error` (a user-visible message)."""
    task = asyncio.ensure_future(coro)
    _running.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        _running.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None:
            log.warning("background task failed: %s", message_of(exc))
            if on_error is not None:
                on_error(message_of(exc))
        elif on_done is not None:
            on_done(t.result())

    task.add_done_callback(done)
    return task
