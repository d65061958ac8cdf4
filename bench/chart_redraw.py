"""Chart redraw and append+redraw time at 10k/100k/1M candles, CandleChart vs finplot.

    .venv/bin/python -m bench.chart_redraw [--sizes 10000,100000,1000000] [--reps 60]

Both charts get the same synthetic candles, the same window size (1200x700,
offscreen) and are measured the same way: one frame = render the library's
whole chart widget into a QImage with QWidget.render (a real, full paint:
every item draws, nothing is skipped), after
  * redraw:        nothing changed (our refresh() is called and is a no-op);
  * append+redraw: one new candle -> our store.append + chart.refresh(),
                   finplot's documented live update, plot.update_data(df)
                   with the DataFrame one row longer (rows pre-built, so
                   pandas construction is not timed).
Two views: the newest 120 candles (both libraries' follow view) and the whole
history (level of detail matters here).  Times are medians over `--reps`
frames; CPU time (thread_time) is the headline because the machine is shared,
wall time is shown next to it.  Also prints memory per stored candle.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6.QtCore  # noqa: F401  isort: skip  (pyqtgraph must bind to PySide6)
import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

from app.feeds import random_walk
from app.streams.candles import Candle, CandleStore
from app.ui.chart import CandleChart

WIDTH, HEIGHT = 1200, 700
FOLLOW_CANDLES = 120


@dataclass
class Timing:
    cpu_ms: float
    wall_ms: float

    def __str__(self) -> str:
        return f"{self.cpu_ms:7.2f} ({self.wall_ms:6.2f})"


def measure(frame: Callable[[], None], reps: int, warmup: int = 3) -> Timing:
    for _ in range(warmup):
        frame()
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(reps):
        c0, w0 = time.thread_time(), time.perf_counter()
        frame()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return Timing(statistics.median(cpu) * 1e3, statistics.median(wall) * 1e3)


def settle(app: QApplication) -> None:
    for _ in range(5):
        app.processEvents()


# ----------------------------------------------------------------------------- ours
def bench_ours(app: QApplication, cols: tuple[np.ndarray, ...], n: int, reps: int) -> dict:
    store = CandleStore()
    store.extend_arrays(*(c[:n] for c in cols))
    chart = CandleChart(store)
    chart.resize(WIDTH, HEIGHT)
    chart.show()
    settle(app)
    image = QImage(chart.size(), QImage.Format.Format_ARGB32_Premultiplied)
    nxt = [n]

    def redraw() -> None:
        chart.refresh()
        chart.render(image)

    def append() -> None:
        i = nxt[0]
        nxt[0] += 1
        store.append(Candle(*(float(c[i]) for c in cols)))
        chart.refresh()
        chart.render(image)

    flip = [1]

    def pan() -> None:
        # One drag step: the view moves by one candle (alternating direction).
        flip[0] = -flip[0]
        x0, x1 = chart.x_range()
        chart.set_x_range(x0 + flip[0], x1 + flip[0])
        chart.render(image)

    out = {"follow": (measure(redraw, reps), measure(append, reps))}
    assert chart.following, "the follow view must have followed the appends"
    out["pan"] = measure(pan, reps)
    last = len(store)
    chart.set_follow(False)
    chart.set_x_range(-0.5, last + 2)
    settle(app)
    out["all"] = (measure(redraw, reps), measure(append, reps))
    out["level"] = chart.visible_bar_level()
    chart.close()
    chart.deleteLater()
    settle(app)
    return out


# -------------------------------------------------------------------------- finplot
def bench_finplot(app: QApplication, cols: tuple[np.ndarray, ...], n: int, reps: int) -> dict:
    import finplot as fplt
    import pandas as pd

    t, o, h, lo, c, v = cols
    df = pd.DataFrame(
        {
            "time": pd.to_datetime(t, unit="s"),
            "open": o,
            "close": c,
            "high": h,
            "low": lo,
            "volume": v,
        }
    )
    ax, axv = fplt.create_plot("finplot", rows=2, init_zoom_periods=FOLLOW_CANDLES, maximize=False)
    price = fplt.candlestick_ochl(df.iloc[:n][["time", "open", "close", "high", "low"]], ax=ax)
    volume = fplt.volume_ocv(df.iloc[:n][["time", "open", "close", "volume"]], ax=axv)
    win = fplt.windows[0]
    win.resize(WIDTH, HEIGHT)
    fplt.show(qt_exec=False)
    settle(app)
    image = QImage(win.size(), QImage.Format.Format_ARGB32_Premultiplied)
    nxt = [n]

    # FinWindow is a QGraphicsView, whose render() means something else:
    # call QWidget.render, exactly as for our chart.
    def redraw() -> None:
        QWidget.render(win, image)

    def append() -> None:
        nxt[0] += 1
        part = df.iloc[: nxt[0]]
        price.update_data(part[["time", "open", "close", "high", "low"]])
        volume.update_data(part[["time", "open", "close", "volume"]])
        QWidget.render(win, image)

    flip = [1]

    def pan() -> None:
        # finplot's own drag path ends in update_y_zoom(x0, x1) on the view box.
        flip[0] = -flip[0]
        tr = ax.vb.targetRect()
        ax.vb.update_y_zoom(tr.left() + flip[0], tr.right() + flip[0])
        QWidget.render(win, image)

    slow = n >= 1_000_000
    out = {"follow": (measure(redraw, reps), measure(append, max(5, reps // 6) if slow else reps))}
    out["pan"] = measure(pan, reps)
    ax.vb.update_y_zoom(-0.5, nxt[0] + 2)
    settle(app)
    out["all_range"] = (ax.vb.targetRect().left(), ax.vb.targetRect().right())
    out["all"] = (
        measure(redraw, max(5, reps // 6) if slow else reps),
        measure(append, 5 if slow else reps),
    )
    fplt.close()
    settle(app)
    return out


# --------------------------------------------------------------------------- memory
def memory_per_candle(n: int) -> tuple[float, float, float]:
    """(allocated bytes/candle, traced bytes/candle, chart LOD cache bytes/candle)."""
    cols = random_walk(n, seed=5)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    store = CandleStore()
    # Grown the way a live session grows it: in small batches, no reserve().
    step = 997
    for s in range(0, n, step):
        store.extend_arrays(*(col[s : s + step] for col in cols))
    traced = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    from app.ui.chart.lod import CandleLod

    lod = CandleLod(store)
    lod.sync()
    lod.bins(20, 0, n)  # builds every level up to 2**20 candles per bin
    return store.nbytes / n, traced / n, lod.nbytes / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--no-finplot", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    rows = []
    for n in sizes:
        cols = random_walk(n + 4 * args.reps + 50, seed=11)
        ours = bench_ours(app, cols, n, args.reps)
        fin = None if args.no_finplot else bench_finplot(app, cols, n, args.reps)
        rows.append((n, ours, fin))
        print(f"  measured {n:,} candles", file=sys.stderr)

    print(f"\nChart frame time, ms: CPU median (wall median). Window {WIDTH}x{HEIGHT}, offscreen,")
    print("frame = QWidget.render of the whole chart widget into a QImage.\n")
    head = (
        f"| {'candles':>9} | {'view':<10} | {'ours redraw':>16} | {'ours append+redraw':>18} "
        f"| {'finplot redraw':>16} | {'finplot append+redraw':>21} | {'x redraw':>8} "
        f"| {'x append':>8} |"
    )
    print(head)
    print("|" + "|".join("-" * (len(part)) for part in head.split("|")[1:-1]) + "|")
    for n, ours, fin in rows:
        for view, label in (("follow", f"newest {FOLLOW_CANDLES}"), ("all", "all")):
            o_r, o_a = ours[view]
            if fin is not None:
                f_r, f_a = fin[view]
                fr, fa = str(f_r), str(f_a)
                xr, xa = f"{f_r.cpu_ms / o_r.cpu_ms:7.1f}x", f"{f_a.cpu_ms / o_a.cpu_ms:7.1f}x"
            else:
                fr = fa = xr = xa = "-"
            print(
                f"| {n:>9,} | {label:<10} | {o_r!s:>16} | {o_a!s:>18} | {fr:>16} | {fa:>21} "
                f"| {xr:>8} | {xa:>8} |"
            )
    print("\nPan (view moved by one candle per frame, like a mouse drag), newest-120 view:\n")
    print(f"| {'candles':>9} | {'ours pan':>16} | {'finplot pan':>16} | {'x pan':>7} |")
    print("|-----------|------------------|------------------|---------|")
    for n, ours, fin in rows:
        fp = str(fin["pan"]) if fin else "-"
        xp = f"{fin['pan'].cpu_ms / ours['pan'].cpu_ms:6.1f}x" if fin else "-"
        print(f"| {n:>9,} | {ours['pan']!s:>16} | {fp:>16} | {xp:>7} |")
    lvl = {n: ours["level"] for n, ours, _ in rows}
    print(
        "\nLevel of detail in the 'all' view (each bar merges 2**level candles): "
        + ", ".join(f"{n:,}: {lv}" for n, lv in lvl.items())
    )
    if any(fin for _, _, fin in rows):
        print(
            "finplot 'all' view x ranges: "
            + ", ".join(
                f"{n:,}: {fin['all_range'][0]:.0f}..{fin['all_range'][1]:.0f}"
                for n, _, fin in rows
                if fin
            )
        )
    print("Targets at 1M: redraw <= 2 ms, append+redraw <= 3 ms, >= 10x faster than finplot.\n")

    n_mem = max(sizes)
    alloc, traced, lod = memory_per_candle(n_mem)
    print(f"| memory per stored candle ({n_mem:,} candles) | bytes |")
    print("|---|---|")
    print(f"| CandleStore arrays (allocated, incl. growth slack) | {alloc:.1f} |")
    print(f"| traced by tracemalloc while filling | {traced:.1f} |")
    print(f"| chart's level-of-detail cache (all levels) | {lod:.1f} |")
    print(f"| total with a chart open (store + cache) | {alloc + lod:.1f} |")
    print("Target: <= 64 bytes per stored candle.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
