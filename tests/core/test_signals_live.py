"""Against the real bundled server: each flash answer is logged at the candle its data
version ended with. Fed one candle at a time (each answered before the next is sent), the
session holds everything it was sent, so every answer's candle is exact and is the candle
just sent; none is ever about a later candle than the link had sent when it arrived."""

from __future__ import annotations

import asyncio

import pytest

from app.core.dashboard import Dashboard
from app.core.scoring import ScoreSpec, score
from app.feeds import SyntheticFeed
from tests.core.live import small_spec, until
from tests.support.server import RunningServer


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)


def test_answers_are_logged_at_the_candle_their_version_ended_with(
        local_server: RunningServer) -> None:
    start = 1_700_000_000.0

    async def scenario() -> None:
        d = Dashboard(local_server.url, poll_interval=0.5)
        d.start()
        try:
            await until(lambda: d.server.ok, 30, "server ok")
            model = await d.create_session(small_spec(flash=("Is the trend bullish?",)))
            log = model.signals
            for k in range(4):
                ts = start + 60.0 * k
                d.attach_feed(model, SyntheticFeed(seed=7 + k, start=ts, speed=float("inf"),
                                                   count=1), f"candle {k}")
                await until(lambda k=k: len(model.store) == k + 1, 60, f"candle {k} drawn")
                await until(lambda ts=ts: any(s.candle_ts == ts for q in log.query_ids()
                                              for s in log.for_query(q)), 180,
                            f"an answer about candle {k}")
                newest = [s for q in log.query_ids() for s in log.for_query(q)][-1]
                assert newest.candle_ts == ts and newest.exact
                assert model.ledger.candle_for(newest.data_version) == (ts, True)
            (qid,) = log.query_ids()
            sigs = log.for_query(qid)
            assert [s.candle_ts for s in sigs] == sorted(s.candle_ts for s in sigs)
            assert all(s.candle_ts <= model.store.t[-1] for s in sigs)
            # Scored on the candles drawn: only answers with 1 candle after theirs count.
            s = score(sigs, model.store.t, model.store.c, ScoreSpec(horizon=1))
            assert s.signals + s.pending + s.other == s.answers
            assert s.signals <= sum(x.candle_ts < model.store.t[-1] for x in sigs)
        finally:
            await d.stop()

    asyncio.run(scenario())
