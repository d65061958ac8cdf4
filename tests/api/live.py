"""Helpers for tests against the real bundled server (fixtures in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from app.api import LayerScale
from app.api.errors import NotFoundError
from app.api.models import SessionInfo

CANDLES: list[dict[str, Any]] = [
    {
        "o": 150.20,
        "h": 150.80,
        "l": 150.10,
        "c": 150.70,
        "v": 1_200_000,
        "timestamp": 1_733_000_000,
        "sym": "AAPL",
    },
    {
        "o": 150.70,
        "h": 151.10,
        "l": 150.60,
        "c": 150.95,
        "v": 900_000,
        "timestamp": 1_733_000_060,
        "sym": "AAPL",
    },
    {
        "o": 150.95,
        "h": 151.40,
        "l": 150.90,
        "c": 151.30,
        "v": 1_500_000,
        "timestamp": 1_733_000_120,
        "sym": "AAPL",
    },
    {
        "o": 151.30,
        "h": 151.80,
        "l": 151.20,
        "c": 151.75,
        "v": 1_100_000,
        "timestamp": 1_733_000_180,
        "sym": "AAPL",
    },
    {
        "o": 151.75,
        "h": 152.10,
        "l": 151.60,
        "c": 152.00,
        "v": 1_300_000,
        "timestamp": 1_733_000_240,
        "sym": "AAPL",
    },
]


def candle(i: int, base: float = 100.0) -> dict[str, Any]:
    o = base + i * 0.1
    return {
        "o": o,
        "h": o + 0.5,
        "l": o - 0.5,
        "c": o + 0.2,
        "v": 1000 + i,
        "timestamp": 1_700_000_000 + 60 * i,
    }


@contextlib.asynccontextmanager
async def session(client: LayerScale, **kw: Any) -> AsyncIterator[SessionInfo]:
    """A session that is deleted afterwards (the shared server has a small pool)."""
    kw.setdefault("type", "ohlcv")
    kw.setdefault("context", 2048)
    info = await client.sessions.create(**kw)
    try:
        yield info
    finally:
        with contextlib.suppress(NotFoundError):
            await asyncio.shield(client.sessions.delete(info.session_id))


async def until(predicate: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> None:
    """Await an async/sync predicate becoming truthy, failing after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def any_session(client: LayerScale, generation: int) -> AsyncIterator[str]:
    """A session on a server of either API generation (deleted afterwards); yields its id.

    Generation 1 sessions are typed (ohlcv); generation 2 sessions hold raw text."""
    if generation == 1:
        sid = (await client.sessions.create(type="ohlcv", context=2048)).session_id
    else:
        sid = (await client.v2.sessions.create(window=1024)).id
    try:
        yield sid
    finally:
        with contextlib.suppress(NotFoundError):
            await asyncio.shield((await client.surface()).delete_session(sid))


async def push_candles(client: LayerScale, generation: int, sid: str,
                       candles: list[dict[str, Any]]) -> None:
    """Push candles and wait until the session has read them: typed entries on gen 1,
    the registry's rendered lines on gen 2 (what the dashboard sends)."""
    if generation == 1:
        await client.sessions.push(sid, candles, wait=True)
    else:
        from app.streams import registry

        ohlcv = registry.get("ohlcv")
        await client.v2.sessions.push(sid, [ohlcv.render(c) for c in candles], wait=True)
