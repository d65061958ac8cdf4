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

Rules that keep the measurement honest:
- One at a time: the cache is read, measured and written under a cross-process lock
  (`filelock` on `engine-threads.lock` beside the cache), so servers started together
  never time their threads against each other; the later ones wait and read the first
  one's result.
- Quiet first: the CPU time other work takes is sampled (/proc/stat, 0.3 s) before the
  measurement. A choice measured while other work kept at least half a core busy is used,
  but cached as provisional: the next server started on a quiet machine measures again,
  and a choice measured quiet is kept.
- Free cores now: the cached choice is capped at the cores idle when the server starts
  (at least 1), since on a busy machine fewer threads are faster.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import filelock
import platformdirs

from app.paths import APP_NAME

from .engine import Engine

log = logging.getLogger("layerscale.localserver.threads")

MAX_THREADS = 8
TOLERANCE = 1.05  # fewer threads win unless more are measurably (> 5 %) faster
PROMPT_TOKENS = 48
STEPS = 8
ROUNDS = 2  # best of: a burst of other load must not decide the choice
BUSY_CORES = 0.5  # other work keeping at least this much CPU busy: the machine is busy
SAMPLE_SECONDS = 0.3
LOCK_TIMEOUT = 120.0  # seconds to wait for another server's measurement, then go on


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


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """Cores' worth of CPU time the machine spent busy over `seconds` (all processes, this
    one nearly idle meanwhile), from /proc/stat; None where there is none."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    share = 1 - (idle1 - idle0) / (total1 - total0)
    return max(0.0, share * (os.cpu_count() or 1))


def free_cores(busy: float | None) -> int:
    """Usable cores not taken by the other work sampled (rounded, at least 1)."""
    cpus = usable_cpus()
    if busy is None:
        return cpus
    return max(1, min(cpus, int(cpus - busy + 0.5)))


@contextlib.contextmanager
def measurement_lock(path: Path, timeout: float | None = None) -> Iterator[bool]:
    """Hold the cross-process lock beside the cache `path` (True), or go on without it
    (False) when the lock file cannot be made or another process held it for `timeout`
    seconds."""
    lock = path.with_name(path.stem + ".lock")
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        held = filelock.FileLock(lock, timeout=timeout)
        held.acquire()
    except filelock.Timeout:
        log.warning("another server held %s for %.0f s: measuring anyway", lock, timeout)
        yield False
        return
    except OSError as exc:
        log.warning("no lock for the thread measurement (%s): measuring anyway", exc)
        yield False
        return
    try:
        yield True
    finally:
        held.release()


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
    free sequence `seq`, left empty afterwards), capped at the cores free now; sets it on
    the engine. See the module docstring for the rules."""
    path = cache or cache_path()
    key = cache_key(model)
    with measurement_lock(path):
        busy = busy_cores()
        quiet = busy is None or busy < BUSY_CORES
        cached = _read_cache(path).get(key)
        if (isinstance(cached, dict) and isinstance(cached.get("threads"), int)
                and (cached.get("quiet") is True or not quiet)):
            chosen = int(cached["threads"])  # type: ignore[call-overload]
            how = "measured earlier on this machine"
        else:
            timings = measure(engine, seq, max(1, min(usable_cpus(), MAX_THREADS)))
            chosen = pick(timings)
            shown = ", ".join(f"{n}: {t * 1000:.0f} ms" for n, t in timings.items())
            how = f"measured now ({shown})" + ("" if quiet else "; provisional: the "
                                                "machine was busy")
            _write(path, key, chosen, timings, quiet, busy)
    threads = min(chosen, free_cores(busy))
    engine.set_threads(threads)
    capped = (f"; {chosen} measured, capped at the {threads} core(s) free now"
              if threads < chosen else "")
    log.info("threads: %d (%s%s; --threads overrides)", threads, how, capped)
    return threads


def _write(path: Path, key: str, threads: int, timings: dict[int, float], quiet: bool,
           busy: float | None) -> None:
    data = _read_cache(path)
    data[key] = {"threads": threads, "cpu": cpu_model(), "measured_at": int(time.time()),
                 "quiet": quiet, "busy_cores": None if busy is None else round(busy, 2),
                 "seconds": {str(n): round(t, 4) for n, t in timings.items()}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
    except OSError as exc:  # a read-only home: measure again next time
        log.warning("could not cache the thread count in %s: %s", path, exc)
