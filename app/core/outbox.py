"""Entries waiting to be pushed to a session: bounded, in order, never dropped.

Any stream type's entries: the outbox only keeps them in order. When it is full the
feed waits (`put` blocks) instead of losing data, so a long outage slows the feed down
rather than thinning the plot. Batches that
did not make it (socket down, server ring full) go back to the front in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

DEFAULT_CAPACITY = 50_000


class Outbox:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("outbox capacity must be >= 1")
        self.capacity = capacity
        self._items: deque[Any] = deque()
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self.total_in = 0  # entries the feed handed over

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.capacity

    def _update(self) -> None:
        if self._items:
            self._not_empty.set()
        else:
            self._not_empty.clear()
        if len(self._items) < self.capacity:
            self._not_full.set()
        else:
            self._not_full.clear()

    async def put(self, entry: Any) -> None:
        while self.full:
            await self._not_full.wait()
        self._items.append(entry)
        self.total_in += 1
        self._update()

    def put_nowait(self, entry: Any) -> bool:
        if self.full:
            return False
        self._items.append(entry)
        self.total_in += 1
        self._update()
        return True

    async def wait_not_empty(self) -> None:
        await self._not_empty.wait()

    def take(self, max_items: int) -> list[Any]:
        n = min(max_items, len(self._items))
        batch = [self._items.popleft() for _ in range(n)]
        self._update()
        return batch

    def push_front(self, entries: Iterable[Any]) -> None:
        """Return entries that were not delivered, ahead of everything queued after them.

        May exceed capacity briefly; the feed then waits until it drains.
        """
        self._items.extendleft(reversed(list(entries)))
        self._update()

    def clear(self) -> int:
        n = len(self._items)
        self._items.clear()
        self._update()
        return n
