"""IoT and vitals plots at 1M points: redraw and append+redraw, ours vs pyqtgraph's own
PlotDataItem (auto downsampling, method "peak", and clip-to-view on) in the same run.

    .venv/bin/python -m bench.stream_plots [--points 1000000] [--reps 40]

Each side gets the same data and window (1200x700, offscreen), measured the same way as
bench.chart_redraw: one frame = render the whole plot widget into a QImage, after
  * redraw:        nothing changed (our refresh() is a no-op);
  * append+redraw: one new entry -> ours: store.append + refresh(); pyqtgraph: setData()
                   with every series one point longer (arrays pre-built, so only the
                   update is timed), its documented way to extend a line.
Two views: the newest 240 entries (following) and everything. Ours also draws the iot
bands and breach marks and the vitals threshold bands and episodes; pyqtgraph only the
lines. Medians of CPU time (thread_time), wall time in brackets.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6.QtCore  # noqa: F401  isort: skip  (pyqtgraph must bind to PySide6)
import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from app.streams.iot import Iot, IotEntry
from app.streams.vitals import Vitals, VitalsEntry
from app.ui.plots.iot import IotPlot
from app.ui.plots.vitals import VitalsPlot
from bench.chart_redraw import HEIGHT, WIDTH, Timing, measure, settle

FOLLOW = 240
START = 1_700_000_000.0


def iot_columns(n: int) -> dict[str, np.ndarray]:
    """Three sensors reporting in turn, each a random walk; one drifts out of its band."""
    rng = np.random.default_rng(5)
    k = np.arange(n)
    code = (k % 3).astype(np.float64)
    walk = np.cumsum(rng.normal(0, 0.3, n)).reshape(-1)
    rest = np.array([70.0, 3.0, 21.0])[k % 3]
    val = rest + np.where(k % 3 == 0, 0.2 * walk, 0.01 * walk)
    lo = np.array([60.0, 2.0, 18.0])[k % 3]
    hi = np.array([80.0, 4.0, 24.0])[k % 3]
    return {"timestamp": START + k // 3, "sid": code, "val": val, "lo": lo, "hi": hi}


def vitals_columns(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(6)
    hr = 80 + 25 * np.sin(np.arange(n) / 5000) + rng.normal(0, 2, n)
    return {"timestamp": START + np.arange(n, dtype=np.float64), "hr": hr,
            "bp_s": 120 + 0.4 * (hr - 80) + rng.normal(0, 3, n),
            "bp_d": 78 + 0.2 * (hr - 80) + rng.normal(0, 2, n),
            "spo2": 96 - 4 * np.maximum(0, np.sin(np.arange(n) / 3000)) + rng.normal(0, 0.4, n),
            "temp": 37.2 + 1.2 * np.sin(np.arange(n) / 20000) + rng.normal(0, 0.05, n)}


def entry_at(name: str, cols: dict[str, np.ndarray], i: int) -> object:
    values = {k: float(v[i]) for k, v in cols.items()}
    if name == "iot":
        values["sid"] = ("s0", "s1", "s2")[int(values["sid"])]
        return IotEntry.model_construct(**values)
    return VitalsEntry.model_construct(**values)


def series_of(name: str, cols: dict[str, np.ndarray]) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(row, x, y) of every line pyqtgraph draws, over the whole data (views sliced later)."""
    t = cols["timestamp"]
    if name == "iot":
        return [(0, t[cols["sid"] == k], cols["val"][cols["sid"] == k]) for k in range(3)]
    rows = {"hr": 0, "bp_s": 1, "bp_d": 1, "spo2": 2, "temp": 3}
    return [(row, t, cols[f]) for f, row in rows.items()]


def bench_ours(app: QApplication, name: str, cols: dict[str, np.ndarray], n: int,
               reps: int) -> dict[str, Timing]:
    stream = Iot if name == "iot" else Vitals
    store = stream.new_store()
    if name == "iot":
        for code in range(3):
            store.intern("sid", f"s{code}")
    store.extend_arrays(**{k: v[:n] for k, v in cols.items()})
    plot = (IotPlot if name == "iot" else VitalsPlot)(store)
    plot.resize(WIDTH, HEIGHT)
    plot.show()
    settle(app)
    image = QImage(plot.size(), QImage.Format.Format_ARGB32_Premultiplied)
    nxt = [n]

    def redraw() -> None:
        plot.refresh()
        plot.render(image)

    def append() -> None:
        store.append(entry_at(name, cols, nxt[0]))
        nxt[0] += 1
        plot.refresh()
        plot.render(image)

    t = cols["timestamp"]
    plot.set_x_range(float(t[n - FOLLOW]), float(t[n - 1]) + 1)
    settle(app)
    out = {"redraw follow": measure(redraw, reps), "append follow": measure(append, reps)}
    assert plot.following, "the follow view must have followed the appends"
    plot.set_follow(False)
    plot.set_x_range(float(t[0]), float(t[nxt[0] - 1]) + 1)
    settle(app)
    out["redraw all"] = measure(redraw, reps)
    out["append all"] = measure(append, reps)
    plot.close()
    plot.deleteLater()
    settle(app)
    return out


def bench_pyqtgraph(app: QApplication, name: str, cols: dict[str, np.ndarray], n: int,
                    reps: int) -> dict[str, Timing]:
    # In a plain QWidget as ours is, rendered the same way.
    box = QWidget()
    view = pg.GraphicsLayoutWidget()
    QVBoxLayout(box).addWidget(view)
    box.resize(WIDTH, HEIGHT)
    lines = series_of(name, cols)
    plots = [view.addPlot(row=r, col=0) for r in range(max(r for r, _, _ in lines) + 1)]
    for p in plots[1:]:
        p.setXLink(plots[0])
    items = []
    counts = [int(np.searchsorted(x, cols["timestamp"][n - 1], side="right"))
              for _, x, _ in lines]
    for (row, x, y), k in zip(lines, counts, strict=True):
        item = plots[row].plot(x[:k], y[:k], pen=pg.mkPen("#4c9aff", width=1.4))
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)
        items.append(item)
    for p in plots:
        p.enableAutoRange(x=False, y=True)
        p.setAutoVisible(y=True)
    box.show()
    settle(app)
    image = QImage(box.size(), QImage.Format.Format_ARGB32_Premultiplied)
    nxt = [n]

    def redraw() -> None:
        box.render(image)

    def append() -> None:
        # One more entry: the series it belongs to grows by one point; follow by hand.
        t_new = cols["timestamp"][nxt[0]]
        for j, ((_, x, y), item) in enumerate(zip(lines, items, strict=True)):
            k = int(np.searchsorted(x, t_new, side="right"))
            if k != counts[j]:
                counts[j] = k
                item.setData(x[:k], y[:k])
        if following[0]:
            (x0, x1), _ = plots[0].getViewBox().viewRange()
            last = cols["timestamp"][nxt[0] - 1]
            plots[0].setXRange(x0 + t_new - last, x1 + t_new - last, padding=0)
        nxt[0] += 1
        box.render(image)

    t = cols["timestamp"]
    following = [True]
    plots[0].setXRange(float(t[n - FOLLOW]), float(t[n - 1]) + 1, padding=0)
    settle(app)
    out = {"redraw follow": measure(redraw, reps), "append follow": measure(append, reps)}
    following[0] = False
    plots[0].setXRange(float(t[0]), float(t[nxt[0] - 1]) + 1, padding=0)
    settle(app)
    out["redraw all"] = measure(redraw, reps)
    out["append all"] = measure(append, reps)
    box.close()
    box.deleteLater()
    settle(app)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=40)
    args = ap.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    n = args.points
    print(f"{n:,} points, {WIDTH}x{HEIGHT}, CPU ms median (wall ms), {args.reps} frames each")
    print(f"{'plot':<7} {'frame':<15} {'ours':>17} {'PlotDataItem':>17} {'ratio':>7}")
    for name, make in (("iot", iot_columns), ("vitals", vitals_columns)):
        cols = make(n + 4 * args.reps + 50)
        ours = bench_ours(app, name, cols, n, args.reps)
        theirs = bench_pyqtgraph(app, name, cols, n, args.reps)
        for frame in ours:
            ratio = theirs[frame].cpu_ms / max(ours[frame].cpu_ms, 1e-9)
            print(f"{name:<7} {frame:<15} {ours[frame]!s:>17} {theirs[frame]!s:>17} "
                  f"{ratio:6.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
