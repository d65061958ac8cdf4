"""Every HTTP method of the client against the real bundled server on loopback."""

from __future__ import annotations

import json

import pytest

from app.api import LayerScale
from app.api.errors import (
    AuthenticationError,
    BadRequestError,
    LayerScaleError,
    NotFoundError,
    UnprocessableEntityError,
)
from app.api.models import FlashQuery, OhlcvStats
from tests.api.live import CANDLES, candle, session
from tests.conftest import TEST_KEY
from tests.support.server import RunningServer

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "Say hello."}]


async def test_health_and_models(local_server: RunningServer) -> None:
    async with LayerScale(local_server.url) as client:
        health = await client.health()
        models = await client.models()
    assert health.status == "ok"
    assert models.object == "list" and models.data and models.data[0].object == "model"
    assert models.data[0].id


async def test_chat_complete_message(local_server: RunningServer) -> None:
    async with LayerScale(local_server.url) as client:
        chat = await client.chat(messages=USER, max_tokens=4, temperature=0)
        text = await client.complete(prompt="The sky is", max_tokens=3)
        msg = await client.message(messages=USER, max_tokens=4, system="Be brief.")
    assert chat.object == "chat.completion"
    assert chat.choices[0].message.role == "assistant" and chat.choices[0].message.content
    assert chat.usage is not None and chat.usage.completion_tokens == 4
    assert text.object == "text_completion" and text.choices[0].text
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.usage is not None and msg.usage.output_tokens == 4


async def test_chat_and_message_streams(local_server: RunningServer) -> None:
    async with LayerScale(local_server.url) as client:
        chunks = [c async for c in client.chat_stream(messages=USER, max_tokens=4)]
        events = [e async for e in client.message_stream(messages=USER, max_tokens=4)]
        full = await client.chat(messages=USER, max_tokens=4, temperature=0)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert streamed == full.choices[0].message.content  # greedy: same text both ways
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and "message_delta" in kinds
    deltas = "".join(
        e.delta.text or ""
        for e in events
        if e.type == "content_block_delta" and e.delta is not None
    )
    assert deltas


async def test_session_lifecycle(local_server: RunningServer) -> None:
    async with LayerScale(local_server.url) as client:
        async with session(
            client,
            prompt="You are a market analyst.",
            mark_prefix=True,
            flash=[{"query": "Is the trend bullish?"}],
        ) as info:
            sid = info.session_id
            assert info.type == "ohlcv" and info.context == 2048
            assert info.prefix_end is not None and info.prefix_end > 0
            listing = await client.sessions.list()
            assert sid in [s.session_id for s in listing.sessions]
            assert listing.count == len(listing.sessions)
            state = await client.sessions.get(sid)
            assert state.session_id == sid and state.prefix_end == info.prefix_end
            assert "market analyst" in state.context_text
            appended = await client.sessions.append(sid, " Note: prices in USD.")
            assert appended.n_tokens_added > 0
            assert appended.total_tokens == state.n_tokens + appended.n_tokens_added
            marked = await client.sessions.mark_prefix(sid)
            assert marked.prefix_end == appended.total_tokens
        deleted_state_error = None
        try:
            await client.sessions.get(sid)
        except NotFoundError as exc:
            deleted_state_error = exc
    assert deleted_state_error is not None and deleted_state_error.status == 404
    body = deleted_state_error.body
    assert isinstance(body, dict) and isinstance(body["error"]["message"], str)


async def test_push_wait_status_stats(local_server: RunningServer) -> None:
    async with (
        LayerScale(local_server.url) as client,
        session(client, prompt="Candles follow.") as info,
    ):
        sid = info.session_id
        pushed = await client.sessions.push(sid, CANDLES, wait=True)
        status = await client.sessions.stream_status(sid)
        stats = await client.sessions.stats(sid)
        state = await client.sessions.get(sid)
    assert pushed.pushed == 5 and pushed.dropped == 0 and pushed.total_enqueued == 5
    assert status.streaming.queue_size == 0
    assert status.statistics.items_processed >= pushed.total_enqueued
    assert status.data.data_count == 5
    assert isinstance(stats, OhlcvStats) and stats.count == 5
    assert stats.max_high == pytest.approx(152.10) and stats.first_open == pytest.approx(150.20)
    assert stats.last_close == pytest.approx(152.00)
    assert stats.change == pytest.approx(152.00 - 150.20)
    assert state.data_count == 5 and "150.2" in state.context_text


async def test_query_prompt_messages_tools(local_server: RunningServer) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file",
                "parameters": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                },
            },
        }
    ]
    async with (
        LayerScale(local_server.url) as client,
        session(client, prompt="You answer in one word.") as info,
    ):
        sid = info.session_id
        await client.sessions.push(sid, CANDLES[:2], wait=True)
        before = await client.sessions.get(sid)
        answer = await client.sessions.query(
            sid, prompt="Up or down?", max_tokens=8, fast_answer=True
        )
        chat = await client.sessions.query(
            sid,
            messages=[
                {"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": "Read src/App.tsx"},
            ],
            tools=tools,
            max_tokens=24,
        )
        after = await client.sessions.get(sid)
    assert isinstance(answer.text, str) and 1 <= answer.n_tokens <= 8
    assert answer.finish_reason in {"stop", "length"}
    if answer.speculative:
        assert answer.logit_gap is not None
    assert chat.finish_reason in {"stop", "length", "tool_calls"}
    if chat.tool_calls:
        json.loads(chat.tool_calls[0].function.arguments)
    # the question and answer do not stay in the session's data
    assert after.pos_next == before.pos_next and after.data_count == before.data_count


async def test_flash_register_list_unflash(local_server: RunningServer) -> None:
    async with (
        LayerScale(local_server.url) as client,
        session(client, prompt="Analyst.") as info,
    ):
        sid = info.session_id
        first = await client.sessions.flash(sid, "Is the trend bullish?")
        second = await client.sessions.flash(sid, "Is volume increasing?", 16)
        await client.sessions.push(sid, CANDLES, wait=True)
        listing = await client.sessions.list_flash(sid)
        removed = await client.sessions.unflash(sid, first.id)
        after = await client.sessions.list_flash(sid)
        with pytest.raises(NotFoundError):
            await client.sessions.unflash(sid, first.id)
    assert first.max_tokens == 32 and second.max_tokens == 16
    assert second.total_flash_queries == 2
    assert {q.id for q in listing.flash_queries} == {first.id, second.id}
    assert all(isinstance(q, FlashQuery) for q in listing.flash_queries)
    assert listing.current_data_version >= 1
    assert removed.success and removed.remaining == 1
    assert [q.id for q in after.flash_queries] == [second.id]


async def test_bad_requests_map_to_error_classes(local_server: RunningServer) -> None:
    async with LayerScale(local_server.url) as client:
        with pytest.raises(NotFoundError):
            await client.sessions.stream_status("no-such-session")
        with pytest.raises((BadRequestError, UnprocessableEntityError)):
            await client.sessions.create(type="not-a-type")
        async with session(client) as info:
            bad = [candle(0), {"o": 1, "h": 2, "l": 0}]  # index 1 lacks c and v
            with pytest.raises((BadRequestError, UnprocessableEntityError)) as exc:
                await client.sessions.push(info.session_id, bad)
            status = await client.sessions.stream_status(info.session_id)
    assert "1" in exc.value.message  # names the bad index
    assert status.statistics.total_enqueued == 0  # all-or-nothing


async def test_keyed_server_requires_key(keyed_server: RunningServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("LAYERSCALE_LICENSE_KEY", raising=False)
    async with LayerScale(keyed_server.url) as anonymous:
        assert (await anonymous.health()).status == "ok"
        with pytest.raises(AuthenticationError) as missing:
            await anonymous.models()
    async with LayerScale(keyed_server.url, api_key="LS-wrong-key-000") as wrong:
        with pytest.raises(AuthenticationError) as bad:
            await wrong.sessions.list()
    monkeypatch.setenv("LAYERSCALE_LICENSE_KEY", TEST_KEY)
    async with LayerScale(keyed_server.url) as keyed:  # key from the environment
        models = await keyed.models()
        assert TEST_KEY not in repr(keyed)
    assert models.data
    assert missing.value.status == 401 and bad.value.status == 401
    assert "LS-wrong-key-000" not in str(bad.value) + repr(bad.value)
    assert isinstance(bad.value, LayerScaleError)
