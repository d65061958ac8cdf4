"""What speaking two API generations costs: detection, and the push path per generation.

    .venv/bin/python -m bench.generations [--reps 20] [--batch 64]

Starts one bundled server of each generation (`--api 1`, `--api 2`) on loopback and
measures, for each:
- detection: probes sent and wall time of `LayerScale.detect()` on a fresh client
  (median over `--reps`; GETs only), and the cached answer's cost afterwards;
- push -> ack over the WebSocket: one batch of `--batch` candles, typed entries on
  generation 1, the registry's rendered text lines on generation 2 (the dashboard's
  path), median milliseconds until its push_ack;
- rendering: microseconds per candle to turn entries into text lines (gen 2 only).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from app.api import LayerScale
from app.api.models import ConnectedEvent, PushAckEvent
from app.core.gen2_compat import render_lines
from app.streams import registry
from tests.support.processes import free_port, start_until_ready, stop


@asynccontextmanager
async def server(generation: int) -> AsyncIterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "app.localserver", "--host", "127.0.0.1", "--port", str(port),
            "--ctx-size", "4096", "--pool-size", "4", "--api", str(generation)]
    log = Path(tempfile.mkdtemp(prefix="bench-gen-")) / "server.log"
    proc = await asyncio.to_thread(start_until_ready, args, ready_url=f"{url}/v1/health",
                                   log_path=log, timeout=180.0)
    try:
        yield url
    finally:
        await asyncio.to_thread(stop, proc)


async def detection(url: str, reps: int) -> tuple[int, float, float]:
    """(probes, median ms of a first detection, median µs of a cached one)."""
    first: list[float] = []
    cached: list[float] = []
    probes = 0
    for _ in range(reps):
        sent: list[str] = []

        async def hook(request: httpx.Request, sent: list[str] = sent) -> None:
            sent.append(request.method)

        http = httpx.AsyncClient(base_url=url, event_hooks={"request": [hook]})
        async with LayerScale(url, api_key=None, http_client=http) as client:
            t0 = time.perf_counter()
            await client.detect()
            first.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            await client.detect()
            cached.append((time.perf_counter() - t0) * 1e6)
        await http.aclose()
        assert set(sent) == {"GET"}, sent
        probes = len(sent)
    return probes, statistics.median(first), statistics.median(cached)


async def push_ack(url: str, generation: int, batch: int, reps: int) -> float:
    """Median ms from sending one batch on the session socket to its push_ack."""
    ohlcv = registry.get("ohlcv")
    entries = ohlcv.generator(seed=1, start=1_700_000_000.0, interval=60.0).take(batch * reps)
    wire = [ohlcv.to_wire(e) for e in entries]
    times: list[float] = []
    async with LayerScale(url, api_key=None) as client:
        await client.detect()
        if generation == 1:
            sid = (await client.sessions.create(type="ohlcv", context=4096,
                                                window_size=batch)).session_id
            socket = client.sessions.stream(sid)
        else:
            sid = (await client.v2.sessions.create(window=2048)).id
            socket = client.v2.sessions.stream(sid)
        try:
            async with socket as ws:
                assert isinstance(await ws.recv(), ConnectedEvent)
                for i in range(reps):
                    chunk = wire[i * batch:(i + 1) * batch]
                    t0 = time.perf_counter()
                    await ws.push(chunk if generation == 1 else render_lines(ohlcv, chunk))
                    while not isinstance(await ws.recv(), PushAckEvent):
                        pass
                    times.append((time.perf_counter() - t0) * 1e3)
        finally:
            await (await client.surface()).delete_session(sid)
    return statistics.median(times)


def render_cost(n: int = 20_000) -> float:
    ohlcv = registry.get("ohlcv")
    wire = [ohlcv.to_wire(e) for e in
            ohlcv.generator(seed=2, start=1_700_000_000.0, interval=60.0).take(n)]
    t0 = time.perf_counter()
    render_lines(ohlcv, wire)
    return (time.perf_counter() - t0) / n * 1e6


async def run(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for generation in (1, 2):
        async with server(generation) as url:
            probes, first_ms, cached_us = await detection(url, args.reps)
            ack_ms = await push_ack(url, generation, args.batch, max(3, args.reps // 4))
        rows.append((f"gen {generation}: detection", f"{first_ms:.1f} ms",
                     f"{probes} GET probe(s), 0 POST; cached {cached_us:.0f} µs"))
        rows.append((f"gen {generation}: push -> ack", f"{ack_ms:.1f} ms",
                     f"{args.batch} candles, " + ("typed entries" if generation == 1
                                                 else "rendered text lines")))
    rows.append(("gen 2: render entries to lines", f"{render_cost():.1f} µs/candle",
                 "registry render, the bundled server's text"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)
    rows = asyncio.run(run(args))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>16}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
