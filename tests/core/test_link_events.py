"""How one session's runner turns stream events into core state: flash answers and the
flip markers the chart draws, data versions, and acknowledgements that draw exactly the
candles the server took (typed events from app.api.models, no socket: the live paths are in
test_dashboard_live.py and tests/ui/test_restart_ui.py)."""

from __future__ import annotations

import asyncio

from app.api.models import DataUpdatedEvent, FlashReadyEvent, PushAckEvent
from app.core.link import FLIP_COLOUR, SessionRunner
from app.core.session import Marker, Mode, SessionModel
from app.streams.candles import Candle


def candle(t: float) -> Candle:
    return Candle(t, 1.0, 2.0, 0.5, 1.5, 10.0)


def make_runner() -> tuple[SessionRunner, SessionModel]:
    model = SessionModel("sess_test", mode=Mode.OWNED)
    return SessionRunner(client=None, model=model), model


def test_flash_answers_versions_and_a_flip_marker_at_the_newest_candle() -> None:
    runner, model = make_runner()
    model.store.extend([candle(60.0), candle(120.0)])
    runner._handle(DataUpdatedEvent(data_version=2, data_count=2))
    assert model.data_version == 2 and model.data_count == 2
    runner._handle(FlashReadyEvent(id=1, query="Up?", value=" Yes", data_version=2,
                                   confidence=2.5, evaluated_at=1.0))
    q = model.board.queries[1]
    assert q.latest is not None and q.latest.confidence == 2.5 and q.is_fresh(2)
    assert model.markers == []  # a first answer is not a change
    runner._handle(FlashReadyEvent(id=1, query="Up?", value=" No", data_version=3,
                                   confidence=0.4, evaluated_at=2.0))
    assert model.markers == [Marker(120.0, "Up?: Yes → No", FLIP_COLOUR)]  # names the query
    assert [f.after for f in model.board.flips_since(0)] == [" No"]
    # The same answer replayed after a reconnect is neither a new answer nor a flip.
    runner._handle(FlashReadyEvent(id=1, query="Up?", value=" No", data_version=3,
                                   confidence=0.4, evaluated_at=2.0))
    assert len(q.history) == 1 and len(model.markers) == 1


def test_ack_draws_what_the_server_took_and_requeues_the_dropped_in_order() -> None:
    async def scenario() -> None:
        runner, model = make_runner()
        batch = [candle(60.0 * i) for i in range(1, 5)]
        runner._inflight = batch
        model.outbox.put_nowait(candle(300.0))
        runner._handle(PushAckEvent(pushed=3, dropped=1, queue_size=7))
        assert list(model.store.t) == [60.0, 120.0, 180.0]
        assert model.acked == 3 and model.server_queue == 7 and runner._inflight is None
        assert [c.timestamp for c in model.outbox.take(10)] == [240.0, 300.0]
        # An ack nobody is waiting for (its batch was settled otherwise) draws nothing.
        runner._handle(PushAckEvent(pushed=5, dropped=0))
        assert len(model.store) == 3

    asyncio.run(scenario())  # the outbox's events want a loop
