"""Does the bundled engine keep up? Before (full rendering, sequential scheduling, the old
thread rule) against after (compact rendering, batched scheduling, measured threads).

    .venv/bin/python -m bench.engine_throughput [--seconds 20] [--rounds 5] [--quick]

One run, same machine, each server started as a subprocess of its own (one at a time):
1. tokens per entry for every stream type, full vs compact (the model's tokenizer, over
   200 synthetic entries of each), and how often the model's flash answers (first word,
   greedy) to each type's two questions agree between the two renderings of the same data;
2. sustained ingest: one OHLCV session (window of 32 candles) with its two flash
   questions, pushes kept ahead of the engine for `--seconds`: entries/s taken off the
   queue and decoded, flash questions re-answered after every drained batch;
3. push -> flash_ready p50/p99 with 1, 4, 8 sessions of two flash questions each, closed
   loop (each session pushes its next candle once both answers to the last one arrived,
   so the feed never outruns the engine), batched against sequential scheduling on the
   same rendering and threads;
4. single flash-query latency (question + 8 tokens, as bench.server_latency) at 256, 1k,
   2k, 4k tokens of context, against today's figures (README, 1 thread) and the before
   server in this run.
The machine may be shared: figures are wall-clock and honest, not best-case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from app.bundled_model import bundled_model_path
from app.localserver.__main__ import default_threads
from app.streams import registry
from app.streams.rendering import render_lines
from bench.server_latency import SIZES, Stateful
from tests.support.processes import free_port, start_until_ready, stop

TODAY_MS = {"256": 260, "1k": 324, "2k": 392, "4k": 488}  # README, 1 thread, quiet machine
OHLCV = registry.get("ohlcv")
QUESTIONS = OHLCV.demo_questions()
ANSWER_TOKENS = 8
WINDOW = 32


class Server:
    def __init__(self, label: str, logs: Path, *args: str) -> None:
        self.label = label
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = start_until_ready(
            [sys.executable, "-m", "app.localserver", "--port", str(port), *args],
            ready_url=f"{self.url}/v1/health", log_path=logs / f"{label}.log", timeout=300)
        self.log = logs / f"{label}.log"

    def threads(self) -> str:
        for line in self.log.read_text(errors="replace").splitlines():
            if "threads:" in line:
                return line.split("threads:", 1)[1].split(",")[0].split("(")[0].strip()
        return "?"

    def close(self) -> None:
        stop(self.process)


def candles(n: int, start: int, seed: int = 0) -> list[dict[str, Any]]:
    gen = OHLCV.generator(seed=seed, start=1_733_000_000, interval=60.0, **OHLCV.demo_params)
    rows = gen.take(start + n)[start:]
    return [OHLCV.to_wire(c) | {"sym": "AAPL"} for c in rows]


# -- 1. tokens per entry and agreement ---------------------------------------------------------

def tokens_and_agreement(model: Path, threads: int, windows: int, n_entries: int
                         ) -> tuple[list[tuple[str, float, float]], list[tuple[str, int, int]]]:
    """In this process: the real tokenizer, and the server's engine answering each type's
    questions after the same entries rendered both ways."""
    from app.localserver.engine import Engine

    engine = Engine(model, n_ctx_per_seq=2048, n_seq=1, threads=threads, gpu_layers=0)
    sizes = []
    agree = []
    try:
        for stream in registry.all_types():
            entries = [stream.to_wire(e) for e in stream.generator(
                seed=3, start=1_733_000_000, interval=stream.interval,
                **stream.demo_params).take(200)]
            full = sum(len(engine.tokenize(x)) for x in render_lines(stream.name, entries,
                                                                        mode="full"))
            compact = sum(len(engine.tokenize(x)) for x in render_lines(stream.name, entries))
            sizes.append((stream.name, full / len(entries), compact / len(entries)))
            same = total = 0
            for w in range(windows):
                data = entries[w * 37:w * 37 + n_entries]
                answers = {}
                for mode in ("full", "compact"):
                    text = stream.demo_prompt() + "".join(
                        render_lines(stream.name, data, mode=mode))  # type: ignore[arg-type]
                    prefix = engine.tokenize(text, add_special=engine.add_bos,
                                             parse_special=True)
                    engine.seq_clear(0)
                    engine.decode(0, prefix, 0, want_logits=False)
                    for q in stream.demo_questions():
                        qt = engine.tokenize(q)
                        engine.decode(0, qt, len(prefix))
                        gen = engine.generate(0, len(prefix) + len(qt), engine.last_logits(), 3)
                        engine.seq_rm(0, len(prefix), -1)
                        answers[mode, q] = (gen.text.strip().split() or [""])[0].strip(".,")
                for q in stream.demo_questions():
                    total += 1
                    same += answers["full", q].lower() == answers["compact", q].lower()
            agree.append((stream.name, same, total))
    finally:
        engine.close()
    return sizes, agree


def step_cost(model: Path, threads: int, widths: tuple[int, ...] = (1, 8, 16)
              ) -> tuple[dict[int, float], dict[int, float]]:
    """What sharing a decode call can save on this CPU (in this process): ms per answer
    token when `width` answers take a generation step together, and ms per question token
    when `width` flash questions (the bench's first, after 24 tokens of data) are decoded
    in one call rather than alone."""
    from app.localserver.engine import DecodePart, Engine

    engine = Engine(model, n_ctx_per_seq=256, n_seq=max(widths), threads=threads,
                    gpu_layers=0)
    try:
        tokens = engine.tokenize(" ".join(str(100 + i) for i in range(24)))
        question = engine.tokenize(QUESTIONS[0])
        n = len(tokens)
        engine.decode_many([DecodePart(s, tokens, 0, False) for s in range(max(widths))])

        def best_of_3(run: Callable[[int], None], width: int, count: int) -> float:
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                run(width)
                best = min(best, (time.perf_counter() - started) / count)
                for s in range(width):
                    engine.seq_rm(s, n, -1)
            return best * 1000

        def steps(width: int) -> None:  # 8 generation steps of one token per answer
            for k in range(8):
                engine.decode_many([DecodePart(s, [tokens[k]], n + k) for s in range(width)])

        def questions(width: int) -> None:
            engine.decode_many([DecodePart(s, question, n) for s in range(width)])

        return ({w: best_of_3(steps, w, 8 * w) for w in widths},
                {w: best_of_3(questions, w, len(question) * w) for w in widths})
    finally:
        engine.close()


# -- 2. sustained ingest ----------------------------------------------------------------------

def sustained(server: Server, seconds: float) -> tuple[float, int, float]:
    """(entries/s, entries, flash answers/s) while pushes stay ahead of the engine.

    The rate is taken between the first and the last time the processed count moved in
    the run, so the time to the first completed batch does not count against it."""
    http = httpx.Client(base_url=server.url, timeout=600)
    sid = http.post("/v1/sessions/init", json={
        "type": "ohlcv", "prompt": OHLCV.demo_prompt(), "window_size": WINDOW,
        "flash": [{"query": q, "max_tokens": ANSWER_TOKENS} for q in QUESTIONS]}
    ).json()["session_id"]
    st = Stateful(server.url)
    st.push_wait(sid, candles(WINDOW, 0))  # the window full: steady state from here
    answers = _AnswerCounter(server.url, sid)
    answers.start()
    fed = WINDOW
    moves: list[tuple[float, int]] = []  # (time, items processed) when it changed
    last = -1
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or len(moves) < 3:
        status = st.status(sid)
        done = status["statistics"]["items_processed"]
        if done != last:
            moves.append((time.perf_counter(), done))
            last = done
        if status["streaming"]["queue_size"] < 10:  # keep the engine busy, never idle
            http.post(f"/v1/sessions/{sid}/stream/push", json={"data": candles(10, fed)})
            fed += 10
        time.sleep(0.05)  # feeder's polling interval, not a synchronisation
    (t0, n0), (t1, n1) = moves[1], moves[-1]  # moves[0]: the count at the start
    n_answers = answers.stop()
    http.delete(f"/v1/sessions/{sid}")
    return (n1 - n0) / (t1 - t0), n1 - n0, n_answers / (time.perf_counter() - started)


class _AnswerCounter:
    """flash_ready events of one session, counted from its SSE stream on a thread."""

    def __init__(self, url: str, sid: str) -> None:
        self.url, self.sid, self.count = url, sid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=None) as http, http.stream(
                "GET", f"/v1/sessions/{self.sid}/events") as response:
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: flash_ready"):
                    self.count += 1

    def stop(self) -> int:
        self._stop.set()
        return self.count


# -- 3. push -> flash_ready, several sessions ---------------------------------------------------

async def closed_loop(url: str, n_sessions: int, rounds: int) -> tuple[list[float], float]:
    """Latencies (s) from a push to each of its flash_ready events, and answers/s."""
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        sids = []
        for _ in range(n_sessions):
            r = await http.post("/v1/sessions/init", json={
                "type": "ohlcv", "prompt": OHLCV.demo_prompt(),
                "flash": [{"query": q, "max_tokens": ANSWER_TOKENS} for q in QUESTIONS]})
            sids.append(r.json()["session_id"])
        latencies: list[float] = []
        n_answers = 0

        async def one(index: int, sid: str) -> None:
            nonlocal n_answers
            async with http.stream("GET", f"/v1/sessions/{sid}/events") as response:
                lines = response.aiter_lines()
                feed = candles(rounds + 8, 0, seed=index)
                # Eight candles first (untimed): every session has data to ask about.
                await http.post(f"/v1/sessions/{sid}/stream/push", json={"data": feed[:8]})
                await _answers(lines, 8)
                await barrier.wait()
                span.append(time.perf_counter())
                for k in range(rounds):
                    pushed = time.perf_counter()
                    await http.post(f"/v1/sessions/{sid}/stream/push",
                                    json={"data": [feed[8 + k]]})
                    for at in await _answers(lines, 9 + k):
                        latencies.append(at - pushed)
                        n_answers += 1
                span.append(time.perf_counter())

        # Timed from when every session is warm, so all compete from the first round.
        barrier = asyncio.Barrier(n_sessions)
        span: list[float] = []
        await asyncio.gather(*(one(i, sid) for i, sid in enumerate(sids)))
        elapsed = max(span) - min(span)
        for sid in sids:
            await http.delete(f"/v1/sessions/{sid}")
    return latencies, n_answers / elapsed


async def _answers(lines: Any, data_count: int) -> list[float]:
    """Wait until the session holds `data_count` entries and both questions were answered
    on that data; their arrival times."""
    got: dict[int, float] = {}
    event = None
    version: int | None = None
    async for line in lines:
        if line.startswith("event: "):
            event = line[7:]
            continue
        if not line.startswith("data: "):
            continue
        body = json.loads(line[6:])
        if event == "data_updated" and body["data_count"] >= data_count:
            version = body["data_version"]
        elif event == "flash_ready" and version is not None and body["data_version"] >= version:
            got[body["id"]] = time.perf_counter()
            if len(got) == len(QUESTIONS):
                return list(got.values())
    raise RuntimeError("event stream ended")


# -- 4. single query latency -------------------------------------------------------------------

def latency(server: Server, repeats: int) -> dict[str, tuple[int, float]]:
    st = Stateful(server.url)
    built = [(label, *st.build(target)[:2]) for label, target in SIZES]
    for _, sid, _ in built:
        st.query(sid)  # warm-up
    runs: dict[str, list[float]] = {label: [] for label, _ in SIZES}
    for _ in range(repeats):
        for label, sid, _ in built:
            runs[label].append(st.query(sid)[0])
    for _, sid, _ in built:
        st.http.delete(f"/v1/sessions/{sid}")
    return {label: (n, min(runs[label])) for label, _, n in built}


def closed_loops(rounds: int, logs: Path, threads: str
                 ) -> dict[tuple[str, int], tuple[list[float], float]]:
    """Part 3: both servers up (an idle one costs nothing), batched and sequential run
    back to back at each session count, so load from elsewhere on a shared machine hits
    both alike."""
    extra = ["--threads", threads] if threads.isdigit() else []
    servers = {schedule: Server(f"loop-{schedule}", logs, "--ctx-size", "1024",
                                "--pool-size", "8", "--schedule", schedule, *extra)
               for schedule in ("batched", "sequential")}
    loops: dict[tuple[str, int], tuple[list[float], float]] = {}
    try:
        for n in (1, 4, 8):
            for schedule, server in servers.items():
                loops[schedule, n] = asyncio.run(closed_loop(server.url, n, rounds))
                print(f"{schedule} x{n}: {loops[schedule, n][1]:.2f} answers/s", flush=True)
    finally:
        for server in servers.values():
            server.close()
    return loops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="sustained ingest time")
    parser.add_argument("--rounds", type=int, default=5, help="closed-loop pushes per session")
    parser.add_argument("--repeats", type=int, default=3, help="latency queries per size")
    parser.add_argument("--quick", action="store_true", help="skip the latency part")
    parser.add_argument("--loops-only", action="store_true",
                        help="only part 3 (push -> flash_ready, batched vs sequential)")
    args = parser.parse_args(argv)
    model = bundled_model_path()
    if model is None:
        print("bundled model not installed", file=sys.stderr)
        return 2
    logs = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    old_threads = default_threads()
    t0 = time.perf_counter()
    print(f"model {model.name}; logs in {logs}", flush=True)
    if args.loops_only:
        _print_loops(closed_loops(args.rounds, logs, "auto"))
        return 0

    sizes, agree = tokens_and_agreement(model, old_threads, windows=2, n_entries=8)
    print("tokens and agreement measured", flush=True)
    steps, question_cost = step_cost(model, old_threads)

    results: dict[str, Any] = {}
    for label, extra in (("before", ["--render", "full", "--schedule", "sequential",
                                     "--threads", str(old_threads)]),
                         ("after", [])):
        server = Server(label, logs, "--ctx-size", "4096", "--pool-size", "4", *extra)
        try:
            results[label, "threads"] = server.threads() if label == "after" else str(
                old_threads)
            results[label, "sustained"] = sustained(server, args.seconds)
            print(f"{label}: sustained {results[label, 'sustained'][0]:.2f} entries/s",
                  flush=True)
            if not args.quick:
                results[label, "latency"] = latency(server, args.repeats)
        finally:
            server.close()

    after_threads = results["after", "threads"]
    loops = closed_loops(args.rounds, logs, after_threads)

    print()
    print(f"total {time.perf_counter() - t0:.0f} s; before: full rendering, sequential, "
          f"{old_threads} thread(s); after: compact, batched, {after_threads} thread(s) "
          "(measured)")
    print("\n| stream | tokens/entry full | compact | fewer | flash answers agree |")
    print("|---|---|---|---|---|")
    for (name, full, compact), (_, same, total) in zip(sizes, agree, strict=True):
        print(f"| {name} | {full:.1f} | {compact:.1f} | {(1 - compact / full) * 100:.0f} % | "
              f"{same}/{total} |")
    b, a = results["before", "sustained"], results["after", "sustained"]
    print("\n| sustained ingest, 1 OHLCV session, 2 flash queries | entries/s | "
          "flash answers/s |")
    print("|---|---|---|")
    print(f"| before | {b[0]:.2f} | {b[2]:.2f} |")
    print(f"| after | {a[0]:.2f} | {a[2]:.2f} |")
    ratio = a[0] / b[0] if b[0] else 0.0
    print(f"| after / before | **{ratio:.2f}x** (target >= 2.5x) "
          f"{'PASS' if ratio >= 2.5 else 'MISS'} | |")
    _print_loops(loops)
    print(f"\nms per answer token when answers share a decode step ({old_threads} thread(s)): "
          + ", ".join(f"{w} together {ms:.1f}" for w, ms in steps.items()))
    print("ms per question token when flash questions share a decode call: "
          + ", ".join(f"{w} together {ms:.1f}" for w, ms in question_cost.items()))
    if not args.quick:
        print("\n| context | tokens (after) | after (ms) | before, this run (ms) | "
              "today, README (ms) | after / today |")
        print("|---|---|---|---|---|---|")
        for label, _ in SIZES:
            n, after_s = results["after", "latency"][label]
            _, before_s = results["before", "latency"][label]
            print(f"| {label} | {n} | {after_s * 1000:.0f} | {before_s * 1000:.0f} | "
                  f"{TODAY_MS[label]} | {after_s * 1000 / TODAY_MS[label]:.2f}x |")
    return 0


def _print_loops(loops: dict[tuple[str, int], tuple[list[float], float]]) -> None:
    print("\n| sessions | batched p50 / p99 (ms) | sequential p50 / p99 (ms) | "
          "batched answers/s | sequential answers/s |")
    print("|---|---|---|---|---|")
    for n in (1, 4, 8):
        bl, bt = loops["batched", n]
        sl, st = loops["sequential", n]
        print(f"| {n} | {_pct(bl, 50):.0f} / {_pct(bl, 99):.0f} | {_pct(sl, 50):.0f} / "
              f"{_pct(sl, 99):.0f} | {bt:.2f} | {st:.2f} |")
    bl, bt = loops["batched", 8]
    sl, st = loops["sequential", 8]
    print(f"at 8 sessions: answers/s {bt / st:.2f}x sequential (target >= 2x) "
          f"{'PASS' if bt >= 2 * st else 'MISS'}; p99 {_pct(bl, 99):.0f} vs "
          f"{_pct(sl, 99):.0f} ms {'PASS' if _pct(bl, 99) <= _pct(sl, 99) else 'MISS'}")


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k] * 1000 if p != 50 else statistics.median(ordered) * 1000


if __name__ == "__main__":
    sys.exit(main())
