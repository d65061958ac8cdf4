"""Client throughput against the bundled server: WS push acks/s and SSE events/s parsed.

    .venv/bin/python -m bench.client_throughput            # starts a private bundled server
    .venv/bin/python -m bench.client_throughput --url http://127.0.0.1:8080 [--key LS-...]

Rows:
- WS push: candles per second acknowledged (push_ack), one fresh session per row (the
  server needs 8 free session slots), for
  several batch sizes, either waiting for each ack (sequential) or keeping every push
  in flight (pipelined). Dropped candles (ring buffer full) are reported, not counted.
- SSE (live): a generate stream from the server, events/s as the client receives and
  parses them (bounded by the model's token rate, not by the client).
- SSE (parser): the same captured bytes replayed from memory through the client's SSE
  decoder + pydantic models: the client's own parsing capacity.
- SSE events(): latency from a one-candle push to the subscriber's data_updated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.api import LayerScale, LayerScaleError
from app.api.frames import to_model
from app.api.models import DataUpdatedEvent, GenerateChunk, PushAckEvent
from app.api.sse import SSEDecoder
from tests.support.processes import free_port, start_until_ready, stop


@dataclass
class Row:
    metric: str
    value: float
    unit: str
    note: str = ""


@asynccontextmanager
async def bundled_server(timeout: float = 120.0) -> AsyncIterator[str]:
    """Start `python -m app.localserver` on a free loopback port; stop it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "app.localserver", "--host", "127.0.0.1", "--port", str(port),
            "--ctx-size", "4096", "--pool-size", "8"]
    log = Path(tempfile.mkdtemp(prefix="bench-client-")) / "server.log"
    proc = await asyncio.to_thread(start_until_ready, args, ready_url=f"{url}/v1/health",
                                   log_path=log, timeout=timeout)
    try:
        yield url
    finally:
        await asyncio.to_thread(stop, proc)


def candles(n: int, start: int = 0) -> list[dict[str, float]]:
    out = []
    for i in range(start, start + n):
        o = 100 + (i % 50) * 0.1
        out.append(
            {
                "o": o,
                "h": o + 0.4,
                "l": o - 0.4,
                "c": o + 0.1,
                "v": 1000.0 + i,
                "timestamp": 1_700_000_000.0 + 60 * i,
            }
        )
    return out


async def ws_push(
    client: LayerScale, session_id: str, total: int, batch: int, pipelined: bool, offset: int
) -> Row:
    """One row: push ``total`` candles in batches over a fresh socket, count acks."""
    async with client.sessions.stream(session_id) as ws:
        await ws.recv()  # connected
        acked = dropped = 0
        batches = [candles(batch, offset + i) for i in range(0, total, batch)]
        start = time.perf_counter()
        if pipelined:

            async def sender() -> None:
                for b in batches:
                    await ws.push(b)

            send_task = asyncio.create_task(sender())
            acks = 0
            while acks < len(batches):
                event = await ws.recv()
                if isinstance(event, PushAckEvent):
                    acks += 1
                    acked += event.pushed
                    dropped += event.dropped
            await send_task
        else:
            for b in batches:
                await ws.push(b)
                while True:
                    event = await ws.recv()
                    if isinstance(event, PushAckEvent):
                        acked += event.pushed
                        dropped += event.dropped
                        break
        elapsed = time.perf_counter() - start
    mode = "pipelined" if pipelined else "sequential"
    return Row(
        f"WS push, batch {batch}, {mode}",
        acked / elapsed,
        "candles/s acked",
        f"{acked} acked, {dropped} dropped in {elapsed:.2f} s",
    )


async def sse_live_and_parser(client: LayerScale, url: str, tokens: int) -> list[Row]:
    info = await client.sessions.create(type="ohlcv", prompt="Tell long stories.", context=4096)
    try:
        start = time.perf_counter()
        count = 0
        async for _ in client.sessions.query_stream(
            info.session_id, prompt="Once upon a time", max_tokens=tokens
        ):
            count += 1
        live = time.perf_counter() - start
        # Capture the raw bytes of an identical stream, chunked as the network gave them.
        chunks: list[bytes] = []
        async with (
            httpx.AsyncClient(base_url=url, timeout=None) as http,
            http.stream(
                "POST",
                f"/v1/sessions/{info.session_id}/generate",
                json={"prompt": "Once upon a time", "max_tokens": tokens, "stream": True},
            ) as response,
        ):
            async for piece in response.aiter_raw():
                chunks.append(piece)
    finally:
        await client.sessions.delete(info.session_id)
    parsed = 0
    rounds = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        decoder = SSEDecoder()
        for piece in chunks:
            for event in decoder.feed(piece):
                to_model(GenerateChunk, event.json(), "bench")
                parsed += 1
        rounds += 1
    replay = time.perf_counter() - t0
    return [
        Row(
            "SSE generate stream (live)",
            count / live,
            "events/s",
            f"{count} events in {live:.2f} s (model-bound)",
        ),
        Row(
            "SSE parse + validate (replay)",
            parsed / replay,
            "events/s",
            f"{rounds} replays of {parsed // max(rounds, 1)} captured events, "
            f"{1e6 * replay / max(parsed, 1):.1f} us/event",
        ),
    ]


async def sse_update_latency(client: LayerScale, session_id: str, pushes: int) -> Row:
    """Push one candle at a time; time until the SSE subscriber sees its data_updated."""
    latencies: list[float] = []
    async with client.sessions.events(session_id) as events:
        await events.__anext__()  # connected
        for i in range(pushes):
            start = time.perf_counter()
            await client.sessions.push(session_id, candles(1, i))
            async with asyncio.timeout(120):
                async for event in events:
                    if isinstance(event, DataUpdatedEvent):
                        break
            latencies.append(time.perf_counter() - start)
    latencies.sort()
    median = latencies[len(latencies) // 2]
    return Row(
        "SSE events(): push -> data_updated",
        1000 * median,
        "ms (median)",
        f"{pushes} single-candle pushes, max {1000 * latencies[-1]:.0f} ms (server decode-bound)",
    )


def print_table(rows: list[Row]) -> None:
    headers = ("metric", "value", "unit", "notes")
    cells = [
        (r.metric, f"{r.value:,.0f}" if r.value >= 100 else f"{r.value:,.1f}", r.unit, r.note)
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print(
            "  ".join([c[0].ljust(widths[0]), c[1].rjust(widths[1]), c[2].ljust(widths[2]), c[3]])
        )


async def run(args: argparse.Namespace) -> list[Row]:
    async def measure(url: str) -> list[Row]:
        rows: list[Row] = []
        async with LayerScale(url, api_key=args.key) as client:
            # Cheap rows first: the WS rows leave a decode backlog that loads the CPU.
            info = await client.sessions.create(type="ohlcv", prompt="Bench.", context=4096)
            sessions = [info.session_id]
            rows.append(await sse_update_latency(client, info.session_id, args.latency_pushes))
            rows += await sse_live_and_parser(client, url, args.tokens)
            # One fresh session (own ring buffer) per WS row, all created up front: once
            # candles are queued the engine is busy decoding and an init would wait for it.
            plan = [(batch, pipelined) for batch in args.batches for pipelined in (False, True)]
            ws_sessions = [
                await client.sessions.create(type="ohlcv", prompt="Bench.", context=4096)
                for _ in plan
            ]
            sessions += [s.session_id for s in ws_sessions]
            for n, ((batch, pipelined), ws_session) in enumerate(
                zip(plan, ws_sessions, strict=True)
            ):
                rows.append(
                    await ws_push(
                        client,
                        ws_session.session_id,
                        args.candles,
                        batch,
                        pipelined,
                        n * args.candles,
                    )
                )
            # The server finishes its current decode batch before a delete completes;
            # do not wait for that here (the deletes still happen server-side).
            for sid in sessions:
                with contextlib.suppress(LayerScaleError):
                    await client.sessions.delete(sid, timeout=2)
        return rows

    if args.url:
        return await measure(args.url)
    async with bundled_server() as url:
        return await measure(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="use this server instead of starting a bundled one")
    parser.add_argument("--key", default=os.environ.get("LAYERSCALE_LICENSE_KEY"))
    parser.add_argument(
        "--candles",
        type=int,
        default=3000,
        help="candles per WS row (each row has its own session and 4096-entry ring)",
    )
    parser.add_argument(
        "--batches", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 100]
    )
    parser.add_argument("--tokens", type=int, default=48, help="tokens in the SSE generate row")
    parser.add_argument(
        "--latency-pushes",
        type=int,
        default=5,
        help="single-candle pushes in the events() latency row",
    )
    args = parser.parse_args(argv)
    rows = asyncio.run(run(args))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
