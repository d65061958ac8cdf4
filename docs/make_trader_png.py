"""Make docs/trader.png: the real app replaying the sample CSV into a session on a
bundled server, with its confidence panes and the signal score table, as a trader
would arrange the window (side and bottom docks closed, zoomed out to the whole replay,
the Signal scores tab open).

    python docs/make_trader_png.py [--server URL] [--speed 4] [--seconds 150]

Without --server the app starts the bundled server itself (as `--replay` does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication, QDockWidget  # noqa: E402

import app.ui.main as main_mod  # noqa: E402


def arrange_then_save(original: Any) -> Any:
    def save(window: Any, path: Path) -> None:
        for dock in window.findChildren(QDockWidget):
            dock.hide()
        for view in window.views:
            tools = getattr(view, "trader", None)
            if tools is not None:
                tools.tabs.setCurrentWidget(tools.scores)
                # Zoomed out to the whole replay, as a trader reviewing the session would.
                n = len(view.chart.store)
                view.chart.set_x_range(-1, n + 2)
                sigs = view.model.signals
                print(f"{len(view.model.store)} candles, {len(sigs)} answers received, "
                      f"{sum(s.exact for q in sigs.query_ids() for s in sigs.for_query(q))} "
                      "with an exact candle", flush=True)
        for _ in range(5):
            QApplication.processEvents()
            window.refresh()
        for view in window.views:
            if getattr(view, "trader", None) is not None:
                view.trader.scores.refresh(force=True)
        QApplication.processEvents()
        original(window, path)

    return save


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--server")
    p.add_argument("--speed", default="4")
    p.add_argument("--seconds", default="150")
    p.add_argument("--out", default=str(ROOT / "docs" / "trader.png"))
    args = p.parse_args()
    main_mod.save_screenshot = arrange_then_save(main_mod.save_screenshot)
    argv = ["--replay", str(ROOT / "resources" / "sample_data" / "synthetic_1m.csv"),
            "--speed", args.speed, "--screenshot", args.out, "--quit-after", args.seconds]
    if args.server:
        argv += ["--server", args.server]
    return main_mod.main(argv)


if __name__ == "__main__":
    sys.exit(main())
