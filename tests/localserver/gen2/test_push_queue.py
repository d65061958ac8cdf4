"""The push queue's overflow, in process: the oldest waiting entries go first (gen 1 drops
the newest). No model is needed: push only queues, the ingest processor decodes later."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.localserver.config import ServerConfig
from app.localserver.entries import RAW_TEXT
from app.localserver.events import EventHub
from app.localserver.gen2.sessions import push_lines
from app.localserver.gen2.state import Gen2, evicted, pending_bytes
from app.localserver.sessions import Session
from app.localserver.state import ServerState


@pytest.fixture
def gen2() -> Iterator[Gen2]:
    state = ServerState(ServerConfig(model=Path("unused.gguf")))
    yield Gen2(state)
    state.worker.shutdown()


def test_overflow_drops_the_oldest_waiting_entries(gen2: Gen2) -> None:
    loop = asyncio.new_event_loop()
    try:
        session = Session(id="s", type=RAW_TEXT, seq=0, context=512, window_size=0,
                          hub=EventHub(loop), ring_capacity=4)
        first = push_lines(gen2, session, ["a", "b", "c"])
        assert (first["pushed"], first["dropped"], first["pending"]) == (3, 0, 3)
        second = push_lines(gen2, session, ["d", "e", "f"])
        assert (second["dropped"], second["pending"], second["total_dropped"]) == (2, 4, 2)
        assert [e["text"] for e in session.ring] == ["c", "d", "e", "f"]
        assert second["pending_bytes"] == pending_bytes(session) == 4
        # Dropped before ingest: never counted as evicted from the window.
        assert evicted(session, gen2.extra(session)) == 0
    finally:
        loop.close()
