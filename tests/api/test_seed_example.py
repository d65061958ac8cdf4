"""The seed README's "Complete example", in Python, against the real bundled server."""

from __future__ import annotations

import os

import pytest

from app.api import LayerScale
from app.api.errors import NotFoundError
from tests.api.live import CANDLES
from tests.conftest import TEST_KEY
from tests.support.server import RunningServer

pytestmark = pytest.mark.anyio


async def complete_example(base_url: str) -> str:
    """Line for line the seed's example: create + mark prefix, push + wait, query, delete."""
    async with LayerScale(base_url, api_key=os.environ.get("LAYERSCALE_LICENSE_KEY")) as client:
        # 1. Create a session with a system prompt and freeze it in the cache
        #    so it is not reprocessed on every incoming data update.
        session = await client.sessions.create(
            type="ohlcv",
            prompt=(
                "You are a real-time market analyst. You receive live OHLCV candles and "
                "answer questions about market direction in a single word when possible."
            ),
            context=4096,
            mark_prefix=True,
        )

        # 2. Push a few OHLCV candles and wait for them to be decoded into the cache.
        candles = CANDLES  # the seed's five AAPL candles
        await client.sessions.push(session.session_id, candles, wait=True)

        # 3. Query the model about the data we just ingested.
        answer = await client.sessions.query(
            session.session_id,
            prompt="Is the market trending up or down?",
            max_tokens=8,
            fast_answer=True,
        )
        print("Answer:", answer.text.strip())

        # What the example relies on, checked before cleaning up:
        state = await client.sessions.get(session.session_id)
        assert session.prefix_end is not None and state.prefix_end == session.prefix_end
        assert state.data_count == 5
        assert 1 <= answer.n_tokens <= 8

        await client.sessions.delete(session.session_id)
        with pytest.raises(NotFoundError):
            await client.sessions.get(session.session_id)
        return answer.text


async def test_complete_example_keyed(
    keyed_server: RunningServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Key from LAYERSCALE_LICENSE_KEY, as in the seed (process.env.LAYERSCALE_LICENSE_KEY)."""
    monkeypatch.setenv("LAYERSCALE_LICENSE_KEY", TEST_KEY)
    text = await complete_example(keyed_server.url)
    out = capsys.readouterr().out
    assert out.startswith("Answer:") and text.strip() in out
    assert TEST_KEY not in out
