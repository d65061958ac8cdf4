"""Room in the display tick for work that can wait a tick.

What events change (data versions, acked queues, flash answers) is drawn on the tick
that reads it. The rest is driven by pollers and clocks: a graph redrawn with a new
sample, the session state's labels, the sessions list re-sorted after a listing, the
overview's once-a-second cells. Each costs one to five milliseconds of refresh and
repaint, they come due together every second, and a tick that did several of them at
once made every event it showed late (bench.cockpit's event-to-pixel p99). So such
work asks `frame.claim()` first: one piece per tick, and none once the tick's own work
has used half of it, unless a piece has been put off for PATIENCE ticks in a row (a
saturated window still moves). Outside a tick (tests, a grab, a panel on its own) every
claim is granted: the work is done at once.
"""

from __future__ import annotations

import time

ROOM_S = 0.004  # half of the 8 ms tick
PATIENCE = 6  # ticks: what waits is at most ~50 ms late


class Frame:
    def __init__(self) -> None:
        self._start: float | None = None
        self._spent = False
        self._denied = False
        self._waited = 0  # ticks in a row that put work off

    def begin(self) -> None:
        self._start = time.perf_counter()
        self._spent = self._denied = False

    def end(self) -> None:
        self._waited = self._waited + 1 if self._denied else 0
        self._start = None

    def claim(self) -> bool:
        """True if the caller may do its deferrable work now (then it must)."""
        if self._start is None:
            return True
        late = time.perf_counter() - self._start > ROOM_S
        if self._spent or (late and self._waited < PATIENCE):
            self._denied = True
            return False
        self._spent = True
        return True


frame = Frame()  # the main window's display tick (one per process)
