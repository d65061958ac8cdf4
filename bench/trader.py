"""The trader's chart at 1M candles: append+redraw and timeframe switch, ours vs finplot.

    .venv/bin/python -m bench.trader [--sizes 100000,1000000] [--reps 40] [--no-finplot]

Both charts show the same 1m candles with volume, two overlays (SMA 20, EMA 50) and
one confidence pane (a flash answer every 10 candles, p held as a step), in the
same window size (1200x800, offscreen). One frame = QWidget.render of the whole chart
widget into a QImage (a full paint), after:

* append+redraw: one new candle (and every 10th candle a new answer):
  ours: store.append + chart.refresh + TraderChart.refresh (bars, overlays and pane
  follow incrementally); finplot: its documented live update, update_data() of every
  plot with frames one row longer, overlay columns precomputed (not timed: finplot has
  no incremental overlays, so this favours it);
* timeframe switch: ours: TraderChart.set_timeframe (bars aggregated from memory, the
  overlays and the pane rebuilt for them) then a frame; "first" builds everything,
  "again" shows a timeframe already built (kept and caught up); finplot: pandas
  resample + rolling/ewm overlays + update_data of every plot, then a frame.

CPU time (thread_time) medians are the headline (the machine is shared); wall time in
brackets. "chart" is the candle chart alone (as bench.chart_redraw), "all" with the
two overlays and the pane. Targets at 1M: append+redraw <= 3 ms, timeframe switch <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6.QtCore  # noqa: F401  isort: skip  (pyqtgraph must bind to PySide6)
import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

from app.core.session import SessionModel
from app.feeds import random_walk
from app.streams.candles import Candle
from app.ui.chart import CandleChart
from app.ui.trader import TraderChart

WIDTH, HEIGHT = 1200, 800
EVERY = 10  # candles per flash answer
SWITCHES = (("1m", "5m"), ("5m", "15m"), ("15m", "1h"), ("1h", "1d"), ("1d", "1m"))


@dataclass
class Timing:
    cpu_ms: float
    wall_ms: float

    def __str__(self) -> str:
        return f"{self.cpu_ms:7.2f} ({self.wall_ms:6.2f})"


def measure(frame: Callable[[], None], reps: int, warmup: int = 30) -> Timing:
    # Timed from a steady state (caches, glyphs, the interpreter's specialisation).
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


def once(step: Callable[[], None]) -> Timing:
    c0, w0 = time.thread_time(), time.perf_counter()
    step()
    return Timing((time.thread_time() - c0) * 1e3, (time.perf_counter() - w0) * 1e3)


def settle(app: QApplication) -> None:
    for _ in range(5):
        app.processEvents()


def answers(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candle index, is yes, gap) of an answer every EVERY candles."""
    rng = np.random.default_rng(seed)
    idx = np.arange(0, n, EVERY)
    return idx, rng.random(len(idx)) < 0.5, rng.uniform(0.1, 4.0, len(idx))


# ----------------------------------------------------------------------------- ours
def bench_ours(app: QApplication, cols: tuple[np.ndarray, ...], n: int, reps: int) -> dict:
    model = SessionModel("bench")
    # A live store grows by 1.25x now and then; sized up front, no frame pays for a copy.
    model.store.reserve(len(cols[0]))
    model.store.extend_arrays(*(c[:n] for c in cols))
    model.board.set_queries([(1, "Is the trend bullish?", 8)])
    t = cols[0]
    idx, yes, gap = answers(len(t))
    k0 = int(np.searchsorted(idx, n))
    for k in range(k0):
        model.signals.add(1, "Yes" if yes[k] else "No", float(gap[k]), k + 1,
                          float(t[idx[k]]), True, 0.0)
    chart = CandleChart(model.store)
    chart.resize(WIDTH, HEIGHT)
    chart.show()
    settle(app)
    image = QImage(chart.size(), QImage.Format.Format_ARGB32_Premultiplied)
    nxt = [n, 0]

    def plain() -> None:  # the candle chart alone, for reference (bench.chart_redraw)
        i = nxt[0]
        nxt[0] += 1
        model.store.append(Candle(*(float(c[i]) for c in cols)))
        chart.refresh()
        chart.render(image)

    out: dict = {"plain": measure(plain, reps)}
    tc = TraderChart(chart, model)
    tc.show_overlay("SMA 20")
    tc.show_overlay("EMA 50")
    tc.refresh()
    settle(app)
    nxt[1] = k0  # the answers about the plain phase's candles come one per frame now

    def append() -> None:
        i = nxt[0]
        nxt[0] += 1
        model.store.append(Candle(*(float(c[i]) for c in cols)))
        k = nxt[1]
        if k < len(idx) and idx[k] <= i:
            model.signals.add(1, "Yes" if yes[k] else "No", float(gap[k]), k + 1,
                              float(t[idx[k]]), True, 0.0)
            nxt[1] += 1
        chart.refresh()
        tc.refresh()
        chart.render(image)

    out["append"] = measure(append, reps)
    assert chart.following, "the chart must follow the appends"
    pane = next(iter(tc.panes.values()))
    assert len(pane.x) == nxt[1], "the pane must hold every answer"

    def switch(to: str) -> None:
        tc.set_timeframe(to)
        chart.render(image)

    first: dict[str, Timing] = {}
    again: dict[str, Timing] = {}
    for _a, b in SWITCHES:
        first[b] = once(lambda b=b: switch(b))
        assert len(chart.store) <= len(model.store)
    for _a, b in SWITCHES:  # every timeframe was built once: shown again from what is kept
        again[b] = once(lambda b=b: switch(b))
    out["first"], out["again"] = first, again
    chart.close()
    chart.deleteLater()
    settle(app)
    return out


# -------------------------------------------------------------------------- finplot
def _frames(cols: tuple[np.ndarray, ...]) -> object:
    import pandas as pd

    t, o, h, lo, c, v = cols
    idx, _, gap = answers(len(t))
    p = np.full(len(t), np.nan)
    p[idx] = np.exp(gap) / (1 + np.exp(gap))
    df = pd.DataFrame({"time": pd.to_datetime(t, unit="s"), "open": o, "close": c,
                       "high": h, "low": lo, "volume": v, "p": p})
    return _with_overlays(df)


def _with_overlays(df: object) -> object:
    df["sma"] = df["close"].rolling(20).mean()
    df["ema"] = df["close"].ewm(span=50, adjust=False).mean()
    df["p"] = df["p"].ffill()
    return df


def _resample(df: object, rule: str) -> object:
    bars = df.set_index("time").resample(rule).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
         "p": "last"}).dropna(subset=["open"]).reset_index()
    return _with_overlays(bars)


def bench_finplot(app: QApplication, cols: tuple[np.ndarray, ...], n: int, reps: int) -> dict:
    import finplot as fplt

    df = _frames(cols)
    ax, axp, axv = fplt.create_plot("finplot", rows=3, init_zoom_periods=120, maximize=False)
    part = df.iloc[:n]
    price = fplt.candlestick_ochl(part[["time", "open", "close", "high", "low"]], ax=ax)
    sma = fplt.plot(part[["time", "sma"]], ax=ax, legend="SMA 20")
    ema = fplt.plot(part[["time", "ema"]], ax=ax, legend="EMA 50")
    conf = fplt.plot(part[["time", "p"]], ax=axp, legend="p")
    volume = fplt.volume_ocv(part[["time", "open", "close", "volume"]], ax=axv)
    win = fplt.windows[0]
    win.resize(WIDTH, HEIGHT)
    fplt.show(qt_exec=False)
    settle(app)
    image = QImage(win.size(), QImage.Format.Format_ARGB32_Premultiplied)
    nxt = [n]

    def update(frame: object) -> None:
        price.update_data(frame[["time", "open", "close", "high", "low"]])
        sma.update_data(frame[["time", "sma"]])
        ema.update_data(frame[["time", "ema"]])
        conf.update_data(frame[["time", "p"]])
        volume.update_data(frame[["time", "open", "close", "volume"]])
        QWidget.render(win, image)  # FinWindow is a QGraphicsView: QWidget.render, as ours

    def append() -> None:
        nxt[0] += 1
        update(df.iloc[: nxt[0]])

    slow = n >= 1_000_000
    out: dict = {"append": measure(append, max(5, reps // 8) if slow else reps, warmup=1)}
    shown = df.iloc[: nxt[0]]
    rules = {"1m": None, "5m": "5min", "15m": "15min", "1h": "1h", "1d": "1D"}
    first: dict[str, Timing] = {}
    for _a, b in SWITCHES:
        rule = rules[b]
        first[b] = once(lambda rule=rule: update(shown if rule is None
                                                 else _resample(shown, rule)))
    out["first"] = first
    fplt.close()
    settle(app)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--reps", type=int, default=40)
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
    print(f"\nTrader chart, ms: CPU (wall). {WIDTH}x{HEIGHT} offscreen, candles + volume + "
          "SMA 20 + EMA 50 + one confidence pane; frame = QWidget.render of the widget.\n")
    head = (f"| {'candles':>9} | {'step':<22} | {'ours':>16} | {'ours, shown before':>18} "
            f"| {'finplot':>16} | {'x':>7} |")
    print(head)
    print("|" + "|".join("-" * len(part) for part in head.split("|")[1:-1]) + "|")
    for n, ours, fin in rows:
        f = str(fin["append"]) if fin else "-"
        x = f"{fin['append'].cpu_ms / ours['append'].cpu_ms:6.1f}x" if fin else "-"
        print(f"| {n:>9,} | {'append+redraw, chart':<22} | {ours['plain']!s:>16} | {'':>18} "
              f"| {'':>16} | {'':>7} |")
        print(f"| {n:>9,} | {'append+redraw, all':<22} | {ours['append']!s:>16} | {'':>18} "
              f"| {f:>16} | {x:>7} |")
        for a, b in SWITCHES:
            o1, o2 = ours["first"][b], ours["again"][b]
            f = str(fin["first"][b]) if fin else "-"
            x = f"{fin['first'][b].cpu_ms / o1.cpu_ms:6.1f}x" if fin else "-"
            print(f"| {n:>9,} | {'switch ' + a + ' -> ' + b:<22} | {o1!s:>16} | {o2!s:>18} "
                  f"| {f:>16} | {x:>7} |")
    print("\nTargets at 1M: append+redraw <= 3 ms, timeframe switch <= 50 ms. finplot's "
          "switch is pandas resample + overlays + update_data (it keeps nothing).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
