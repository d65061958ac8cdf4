"""The default thread count, measured on the machine the server runs on.

llama.cpp's threads spin on barriers: on an idle 2-core machine 2 threads decode about
1.65x faster than 1, but with more threads than free cores (a busy machine) a query was
measured 4x slower on 2 threads than on 1. No rule of thumb gets both right, so at model
load, when no `--threads` is given, a short timed workload shaped like a flash refresh
(a 48-token prompt, then 8 single-token steps) runs for every count from 1 to the usable
CPUs (at most 8); the fewest threads within 5 % of the fastest win. The choice is cached in
the user cache dir, keyed by CPU model, usable CPUs, the engine library and the model, so
the measurement (about a second per count) runs once per machine and engine build.
`--threads N` always overrides it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from pathlib import Path

import platformdirs

from app.paths import APP_NAME

from .engine import Engine

log = logging.getLogger("layerscale.localserver.threads")

MAX_THREADS = 8
TOLERANCE = 1.05  # fewer threads win unless more are measurably (> 5 %) faster
PROMPT_TOKENS = 48
STEPS = 8
ROUNDS = 2  # best of: a burst of other load must not decide the choice


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_key(model: Path) -> str:
    """What the measurement depends on: the CPU, the cores this process may use, the engine
    build (llama-cpp-python's version and shared library) and the model file."""
    import llama_cpp

    lib = Path(llama_cpp.__file__).parent / "lib"
    libs = sorted((p.name, p.stat().st_size) for p in lib.glob("*")) if lib.is_dir() else []
    parts = [cpu_model(), str(usable_cpus()), llama_cpp.__version__, repr(libs), model.name,
             str(model.stat().st_size)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def cache_path() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "engine-threads.json"


def _read_cache(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def timed_workload(engine: Engine, seq: int, threads: int) -> float:
    """Seconds for one prompt-then-steps run on `seq` with `threads` (best of ROUNDS)."""
    engine.set_threads(threads)
    tokens = engine.tokenize(" ".join(str(100 + i % 37) for i in range(PROMPT_TOKENS)))
    tokens = tokens[:PROMPT_TOKENS]
    best = float("inf")
    for _ in range(ROUNDS):
        engine.seq_clear(seq)
        started = time.perf_counter()
        engine.decode(seq, tokens, 0)
        for step in range(STEPS):
            engine.decode(seq, [tokens[step]], len(tokens) + step)
        best = min(best, time.perf_counter() - started)
    engine.seq_clear(seq)
    return best


def measure(engine: Engine, seq: int, max_threads: int) -> dict[int, float]:
    return {n: timed_workload(engine, seq, n) for n in range(1, max_threads + 1)}


def pick(timings: dict[int, float]) -> int:
    fastest = min(timings.values())
    return min(n for n, t in timings.items() if t <= fastest * TOLERANCE)


def choose(engine: Engine, seq: int, model: Path, *, cache: Path | None = None) -> int:
    """worker: the thread count for this machine, from the cache or measured now (on the
    free sequence `seq`, left empty afterwards); sets it on the engine."""
    path = cache or cache_path()
    key = cache_key(model)
    cached = _read_cache(path).get(key)
    if isinstance(cached, dict) and isinstance(cached.get("threads"), int):
        threads = int(cached["threads"])  # type: ignore[call-overload]
        engine.set_threads(threads)
        log.info("threads: %d (measured earlier on this machine; --threads overrides)",
                 threads)
        return threads
    timings = measure(engine, seq, max(1, min(usable_cpus(), MAX_THREADS)))
    threads = pick(timings)
    engine.set_threads(threads)
    shown = ", ".join(f"{n}: {t * 1000:.0f} ms" for n, t in timings.items())
    log.info("threads: %d, measured (%s; --threads overrides)", threads, shown)
    data = _read_cache(path)
    data[key] = {"threads": threads, "cpu": cpu_model(), "measured_at": int(time.time()),
                 "seconds": {str(n): round(t, 4) for n, t in timings.items()}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
    except OSError as exc:  # a read-only home: measure again next time
        log.warning("could not cache the thread count in %s: %s", path, exc)
    return threads
