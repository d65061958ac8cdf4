"""Keyring calls from an event loop, on a thread of their own.

A Secret Service call is a D-Bus round trip and may wait for an unlock prompt:
on the GUI thread it would freeze the window. The loop's default executor is
not used because under qasync it is made of QThreads, which Qt aborts on when
they are still alive at exit; a plain Python thread has no such problem.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from app.secrets.store import resolve_key

P = ParamSpec("P")
T = TypeVar("T")

# One thread: keyring backends are not all thread-safe, and calls are rare.
_KEYRING_THREAD = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                        thread_name_prefix="keyring")


async def keyring_call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `fn(*args, **kwargs)` (which talks to the keyring) off the running loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_KEYRING_THREAD, functools.partial(fn, *args, **kwargs))


async def resolve_key_async(server_url: str) -> str | None:
    """resolve_key() without blocking the running loop."""
    return await keyring_call(resolve_key, server_url)
