"""Outbox ordering/backpressure and error classification (pure logic, no server)."""

from __future__ import annotations

import asyncio

import pytest

from app.api.errors import APIConnectionError, AuthenticationError, ServiceUnavailableError
from app.core.outbox import Outbox
from app.core.problems import Problem, diagnose
from app.core.server import ServerState, backoff
from app.streams.candles import Candle


def c(t: float) -> Candle:
    return Candle(t, 1.0, 2.0, 0.5, 1.5, 10.0)


def test_outbox_keeps_order_when_batches_come_back() -> None:
    box = Outbox(10)
    for t in range(5):
        assert box.put_nowait(c(t))
    batch = box.take(3)
    assert [x.timestamp for x in batch] == [0, 1, 2]
    box.push_front(batch[1:])
    assert [x.timestamp for x in box.take(10)] == [1, 2, 3, 4]
    assert len(box) == 0 and box.total_in == 5


def test_full_outbox_holds_the_feed_instead_of_dropping() -> None:
    async def scenario() -> list[float]:
        box = Outbox(2)
        await box.put(c(0))
        await box.put(c(1))
        waiting = asyncio.ensure_future(box.put(c(2)))
        for _ in range(3):  # let it run up to its wait: yields to the loop, not a timed sleep
            await asyncio.sleep(0)
        assert not waiting.done() and box.full
        first = box.take(1)
        await asyncio.wait_for(waiting, 1.0)
        return [x.timestamp for x in first + box.take(5)]

    assert asyncio.run(scenario()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("exc", "problem"),
    [
        (APIConnectionError("connection refused"), Problem.UNREACHABLE),
        (ConnectionRefusedError(111, "refused"), Problem.UNREACHABLE),
        (AuthenticationError("bad key", status=401), Problem.AUTH),
        (AuthenticationError("closed", status=4401), Problem.AUTH),
        (ServiceUnavailableError("loading", status=503), Problem.LOADING),
        (ValueError("weird"), Problem.ERROR),
    ],
)
def test_diagnose(exc: BaseException, problem: Problem) -> None:
    assert diagnose(exc).problem is problem


def test_server_state_banner_and_recovery() -> None:
    state = ServerState("http://x:1")
    banner = state.set_problem(AuthenticationError("invalid key", status=401), retry_in=2.0)
    assert banner.problem is Problem.AUTH and "401" in banner.title
    assert state.retry_in() is not None and 0 < state.retry_in() <= 2.0
    state.set_ok(model="m")
    assert state.ok and state.banner is None and state.model == "m" and state.retry_in() is None


def test_backoff_grows_and_caps() -> None:
    assert backoff(1, base=0.5, cap=8.0) <= 0.6
    assert 6.4 <= backoff(10, base=0.5, cap=8.0) <= 9.6
