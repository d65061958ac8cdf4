"""Run benchmarks by name, each printing its own table.

    python -m bench                      # list them
    python -m bench chart_redraw gui_lag # run these, in order
    python -m bench all                  # run every one (about 15 minutes on 2 cores)
"""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = {
    "server_latency": "flash latency, stateful vs llama_cpp.server; ingest vs prompt eval",
    "engine_throughput": "tokens/entry, sustained ingest, push->flash_ready batched vs "
                         "sequential, before vs after",
    "client_throughput": "WebSocket push candles/s acknowledged; SSE events/s parsed",
    "chart_redraw": "chart redraw and append+redraw at 10k/100k/1M vs finplot; bytes per candle",
    "gui_lag": "GUI loop lag p50/p99 while ingesting 100k candles/s into the chart",
    "cockpit": "cockpit: event-to-pixel and loop lag at 1,000 events/s, RSS over 1 h, start-up",
    "fleet_lag": "GUI loop lag with the fleet view of three servers, one killed and restarted",
    "stream_plots": "iot and vitals plots at 1M points: redraw, append+redraw vs PlotDataItem",
    "trader": "trader chart at 1M (2 overlays + confidence pane): append+redraw, timeframe "
              "switch vs finplot",
    "engine_build": "portable engine build vs a native one: prompt and generation tokens/s",
}


def main(argv: list[str]) -> int:
    names = list(BENCHMARKS) if argv == ["all"] else argv
    if not names:
        for name, what in BENCHMARKS.items():
            print(f"{name:<18} {what}")
        return 0
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"\n== {name}: {BENCHMARKS[name]}", flush=True)
        sys.argv = [f"bench.{name}"]
        try:
            runpy.run_module(f"bench.{name}", run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (0, None):
                return int(exc.code) if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
