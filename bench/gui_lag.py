"""GUI loop lag while candles pour into the store and chart at 100k candles/s.

    .venv/bin/python -m bench.gui_lag [--rate 100000] [--seconds 10] [--fps 60]

Runs the app's loop shape: Qt + qasync.  An asyncio task (like a feed)
appends the due candles every 4 ms to a CandleStore (numpy batches, or with
--objects one `Candle` object per candle as the feeds yield them), 100k
candles/s by default, so ~1M candles after 10 s; a
display-rate QTimer calls chart.refresh() and Qt repaints the visible chart
(offscreen).  A 5 ms heartbeat QTimer records how late it fires; the table
shows p50/p99/max of that lag.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6.QtCore  # noqa: F401  isort: skip  (pyqtgraph and qasync must bind to PySide6)
import numpy as np
import qasync
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from app.feeds import random_walk
from app.streams.candles import Candle, CandleStore
from app.ui.chart import CandleChart

HEARTBEAT_MS = 5


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def run(rate: float, seconds: float, fps: float, objects: bool) -> dict[str, float]:
    total = int(rate * seconds) + 10_000
    cols = np.column_stack(random_walk(total, seed=21, interval=1.0))
    store = CandleStore()
    chart = CandleChart(store)
    chart.resize(1200, 700)
    chart.show()

    lags: list[float] = []
    frames = [0, 0.0]  # refreshes that changed something, time spent in them
    beat = QTimer()
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.setInterval(HEARTBEAT_MS)
    last = [time.perf_counter()]

    def on_beat() -> None:
        now = time.perf_counter()
        lags.append(max(0.0, (now - last[0]) * 1e3 - HEARTBEAT_MS))
        last[0] = now

    beat.timeout.connect(on_beat)

    display = QTimer()
    display.setTimerType(Qt.TimerType.PreciseTimer)
    display.setInterval(round(1000 / fps))

    def on_display() -> None:
        t0 = time.perf_counter()
        if chart.refresh():
            frames[0] += 1
            frames[1] += time.perf_counter() - t0

    display.timeout.connect(on_display)

    async def ingest() -> int:
        start = time.perf_counter()
        done = 0
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return done
            due = min(total, int(elapsed * rate)) - done
            if due > 0:
                if objects:
                    # The feed path: one Candle object per candle, as SyntheticFeed yields.
                    store.extend([Candle(*row) for row in cols[done : done + due].tolist()])
                else:
                    # Bulk path: numpy columns straight into the store.
                    store.extend_arrays(*cols[done : done + due].T)
                done += due
            await asyncio.sleep(0.004)

    # Baseline: the same heartbeat with nothing else running, to show what the
    # machine itself adds (the benchmark hosts are shared).
    last[0] = time.perf_counter()
    beat.start()
    await asyncio.sleep(2.0)
    beat.stop()
    idle = list(lags)
    lags.clear()
    last[0] = time.perf_counter()
    beat.start()
    display.start()
    t0 = time.perf_counter()
    ingested = await ingest()
    wall = time.perf_counter() - t0
    beat.stop()
    display.stop()
    chart.close()
    return {
        "seconds": wall,
        "ingested": ingested,
        "rate": ingested / wall,
        "frames": frames[0],
        "refresh_ms": frames[1] / max(1, frames[0]) * 1e3,
        "beats": len(lags),
        "p50": percentile(lags, 50),
        "p99": percentile(lags, 99),
        "max": max(lags) if lags else float("nan"),
        "mean": statistics.fmean(lags) if lags else float("nan"),
        "bytes_per_candle": store.nbytes / max(1, len(store)),
        "idle_p50": percentile(idle, 50),
        "idle_p99": percentile(idle, 99),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=60.0)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after start-up, as an app can do to keep full collections short",
    )
    parser.add_argument(
        "--objects",
        action="store_true",
        help="ingest Candle objects (feed path), not numpy batches",
    )
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    if args.gc_freeze:
        # Everything alive after start-up (Qt, pyqtgraph, modules) leaves the
        # collector's view; without this, a full collection walks all of it
        # (measured up to 100 ms each while ingesting Candle objects).
        gc.collect()
        gc.freeze()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        r = loop.run_until_complete(run(args.rate, args.seconds, args.fps, args.objects))
    print(f"\nGUI loop lag: heartbeat QTimer every {HEARTBEAT_MS} ms, lag = how late it fired.")
    how = "Candle objects via store.extend" if args.objects else "numpy batches via extend_arrays"
    how += ", gc frozen after start-up" if args.gc_freeze else ""
    print(
        f"Ingest target {args.rate:,.0f} candles/s ({how}) into CandleStore + CandleChart, "
        f"chart refreshed at {args.fps:.0f} Hz (Qt + qasync, offscreen).\n"
    )
    print("| metric | value |")
    print("|---|---|")
    print(f"| run time | {r['seconds']:.1f} s |")
    print(f"| candles ingested | {r['ingested']:,.0f} ({r['rate']:,.0f} /s) |")
    print(
        f"| chart frames (refresh that changed something) | {r['frames']:,.0f}"
        f" ({r['frames'] / r['seconds']:.0f}/s), {r['refresh_ms']:.2f} ms each |"
    )
    print(f"| heartbeats | {r['beats']:,.0f} |")
    print(f"| lag p50 | {r['p50']:.2f} ms |")
    print(f"| lag p99 | {r['p99']:.2f} ms |")
    print(f"| lag max | {r['max']:.2f} ms |")
    print(f"| store bytes per candle at the end | {r['bytes_per_candle']:.1f} |")
    print(f"| baseline lag, idle loop, p50 / p99 | {r['idle_p50']:.2f} / {r['idle_p99']:.2f} ms |")
    verdict = "met" if r["p99"] < 20 else "NOT met"
    print(f"\nTarget p99 < 20 ms: {verdict}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
