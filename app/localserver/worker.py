"""The single model worker: every llama.cpp call runs on this one thread.

Two lanes: requests (init, delete, append, generate, ...) run before background work
(ingest chunks, flash refreshes), each lane in FIFO order. Background jobs are kept
small (see ingest.py), so a request waits at most for one short job, not for a whole
ingest backlog. The asyncio side awaits futures, so HTTP and WebSocket traffic stays
responsive while the model computes.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Job = tuple[Future[Any], Callable[[], Any]]


class ModelWorker:
    def __init__(self) -> None:
        self._requests: deque[_Job] = deque()
        self._background: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="model-worker", daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run fn on the worker ahead of any queued background work."""
        return await asyncio.wrap_future(self._enqueue(self._requests, fn, *args, **kwargs))

    async def background(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run fn on the worker once no request is waiting; keep fn short."""
        return await asyncio.wrap_future(self._enqueue(self._background, fn, *args, **kwargs))

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue fn in the request lane without awaiting it."""
        return self._enqueue(self._requests, fn, *args, **kwargs)

    def _enqueue(self, lane: deque[_Job], fn: Callable[P, T], *args: P.args,
                 **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("model worker is shut down")
            lane.append((future, lambda: fn(*args, **kwargs)))
            self._cond.notify()
        return future

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._requests or self._background or self._closed):
                    self._cond.wait()
                if self._requests:
                    future, job = self._requests.popleft()
                elif self._background:
                    future, job = self._background.popleft()
                else:
                    return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = job()
            except BaseException as exc:  # handed to the awaiting coroutine
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self) -> None:
        """Cancel queued jobs, let the running one finish, stop the thread."""
        with self._cond:
            self._closed = True
            pending = [*self._requests, *self._background]
            self._requests.clear()
            self._background.clear()
            self._cond.notify()
        for future, _ in pending:
            future.cancel()
        self._thread.join()
