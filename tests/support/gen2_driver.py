"""Drives the official generation-2 client (`layerscale==0.8.0`) against a server.

Run with the interpreter of its own venv (.venv-peers/gen2), never ours:
    python gen2_driver.py URL SCENARIO
Prints one JSON object of observations on stdout. Every response goes through the
client's pydantic models (a wrong field fails here with a ValidationError, exit code 1);
its SSE and WebSocket iterators skip what does not validate, so the observations list the
events that did.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys
import time
from typing import Any

import layerscale
from layerscale import AsyncLayerScale, LayerScale

USER = [{"role": "user", "content": "Say hello."}]
QUESTION = "\nQuestion: Is the temperature rising? Answer yes or no.\nAnswer:"
URL = ""  # the server's base URL, from the command line
LINES = ["t=10:00 temp=20.1C", "t=10:01 temp=21.4C", "t=10:02 temp=23.0C"]
TOOLS = [{"type": "function", "function": {
    "name": "get_price", "description": "Latest price of a symbol",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}}}}]


def _until(predicate: Any, what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # polling interval while waiting on a deadline
    raise TimeoutError(what)


def http(client: LayerScale) -> dict[str, Any]:
    health = client.health.check()
    metrics = client.metrics.get()
    models = client.models.list()
    model = client.models.retrieve(models.data[0].id.upper())
    try:
        client.models.retrieve("no-such-model")
        missing = None
    except layerscale.NotFoundError as exc:
        missing = exc.status_code
    chat = client.chat.create(messages=USER, max_tokens=4)
    chunks = list(client.chat.stream(messages=USER, max_tokens=4,
                                     stream_options={"include_usage": True}))
    tool = client.chat.create(messages=[{"role": "user", "content": "AAPL price?"}],
                              tools=TOOLS, max_tokens=16, tool_choice={
                                  "type": "function", "function": {"name": "get_price"}})
    tool_chunks = list(client.chat.stream(
        messages=[{"role": "user", "content": "AAPL price?"}], tools=TOOLS, max_tokens=16,
        tool_choice="required"))
    message = client.messages.create(messages=USER, max_tokens=4, system="Be brief.")
    events = list(client.messages.stream(messages=USER, max_tokens=4))
    counted = client.messages.count_tokens(messages=USER, system="Be brief.")
    return {
        "health": [health.ok, health.status, health.body.status if health.body else None,
                   health.body.uptime_ms is not None if health.body else False],
        "metrics_has_requests": "layerscale_requests_total" in metrics,
        "models": [len(models.data), models.first_id == models.data[0].id,
                   model.id == models.data[0].id, model.max_model_len],
        "missing_model": missing,
        "chat": [chat.choices[0].message.content, chat.usage.completion_tokens,
                 chat.usage.prompt_tokens_details.cached_tokens >= 0],
        "chat_stream": "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
        "chat_stream_usage": [c.usage.total_tokens for c in chunks if c.usage],
        "tool_call": [tool.choices[0].finish_reason,
                      tool.choices[0].message.tool_calls[0].function.name
                      if tool.choices[0].message.tool_calls else None],
        "tool_stream": [len(c.choices[0].delta.tool_calls or []) for c in tool_chunks
                        if c.choices and c.choices[0].delta.tool_calls],
        "message": [b.type for b in message.content], "message_stop": message.stop_reason,
        "message_usage": [message.usage.input_tokens + message.usage.cache_read_input_tokens,
                          message.usage.output_tokens],
        "message_events": [e.type for e in events],
        "count_tokens": counted.input_tokens,
        "message_prompt": message.usage.input_tokens + message.usage.cache_read_input_tokens,
    }


def session(client: LayerScale) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sid = "driver-session"
    s = client.sessions.create(id=sid, window=512)
    out["created"] = [s.id, s.window, s.tokens, s.busy, s.pre_decode]
    try:
        client.sessions.create(id=sid)
        out["duplicate"] = None
    except layerscale.ConflictError as exc:
        out["duplicate"] = exc.status_code
    out["listed"] = sid in [x.id for x in client.sessions.list().data]
    fq = client.sessions.flash(sid, QUESTION, max_tokens=3)
    out["flash_registered"] = [fq.fresh, fq.value, fq.tokens > 0]
    ack = client.sessions.push(sid, LINES, wait=True)
    after = client.sessions.get(sid)
    out["push"] = [ack.pushed, ack.dropped, after.pending, after.data_version > ack.data_version,
                   after.kv_tokens + 1 >= after.data_end]
    listed = _until(lambda: (lambda f: f if all(q.fresh for q in f.data) else None)(
        client.sessions.list_flash(sid)), "flash answer")
    answered = listed.data[0]
    out["flash_answer"] = [answered.fresh, isinstance(answered.value, str),
                           answered.data_version == listed.data_version,
                           isinstance(answered.confidence, float)]
    gen = client.sessions.generate(sid, prompt="\nSummary in one word:", max_tokens=4)
    out["generate"] = [gen.session_id == sid, gen.finish_reason, gen.usage.completion_tokens,
                       gen.usage.prompt_tokens_details.cached_tokens]
    fast = client.sessions.generate(sid, prompt="\nIs it warm? Answer yes or no.\nAnswer:",
                                    max_tokens=3, fast_answer=["yes", "no"], gap_threshold=0.0)
    out["fast_answer"] = [fast.speculative, fast.logit_gap is not None]
    cached = client.sessions.generate(sid, prompt=QUESTION, max_tokens=3)
    out["flash_hit"] = [cached.flash, cached.flash_id == fq.id, cached.text == answered.value,
                        cached.usage.total_tokens]
    chunks = list(client.sessions.generate_stream(sid, prompt="\nNext:", max_tokens=4))
    out["generate_stream"] = [type(c).__name__ for c in chunks[-1:]] + [len(chunks) - 1]
    turn = [{"role": "user", "content": "In one word, is it warm?"}]
    warmed = client.sessions.warm(sid, messages=turn)
    chat = client.chat.create(messages=turn, max_tokens=4, session_id=sid)
    out["warm"] = [warmed.finish_reason, warmed.session_id == sid, warmed.prompt_tokens,
                   chat.usage.prompt_tokens_details.cached_tokens]
    again = client.chat.create(messages=[*turn, chat.choices[0].message.model_dump(
        exclude_none=True), {"role": "user", "content": "Why?"}], max_tokens=4, session_id=sid)
    out["second_turn_cached"] = again.usage.prompt_tokens_details.cached_tokens
    message = client.messages.create(messages=turn, max_tokens=4, session_id=sid)
    streamed = list(client.chat.stream(messages=turn, max_tokens=3, session_id=sid))
    out["turns"] = [client.sessions.get(sid).turns, message.stop_reason,
                    streamed[-1].choices[0].finish_reason if streamed[-1].choices else None]
    removed = client.sessions.unflash(sid, fq.id)
    out["unflash"] = [removed.deleted, removed.remaining]
    # Busy: a DELETE while a stream runs on the session is a 409, never retried.
    stream = client.sessions.generate_stream(sid, prompt="\nCount to fifty:", max_tokens=48)
    chunks_left = iter(stream)  # kept: dropping the iterator would close the response
    first = next(chunks_left)
    try:
        client.sessions.delete(sid)
        out["busy_delete"] = None
    except layerscale.ConflictError as exc:
        out["busy_delete"] = exc.status_code
    stream.close()
    _until(lambda: not client.sessions.get(sid).busy, "session idle")
    deleted = client.sessions.delete(sid)
    out["first_chunk"] = type(first).__name__
    try:
        client.sessions.get(sid)
        out["deleted"] = [deleted.deleted, False]
    except layerscale.NotFoundError:
        out["deleted"] = [deleted.deleted, True]
    return out


def events(client: LayerScale) -> dict[str, Any]:
    s = client.sessions.create(id="driver-events")
    seen: list[str] = []
    try:
        client.sessions.flash(s.id, QUESTION, max_tokens=2)
        client.sessions.push(s.id, LINES[:2], wait=True)
        _until(lambda: all(q.fresh for q in client.sessions.list_flash(s.id).data),
               "first answer")
        with client.sessions.events(s.id) as stream:
            for event in stream:
                seen.append(event.type)
                if event.type == "connected":
                    connected = [event.session_id, event.flash_queries]
                elif event.type == "flash_ready" and "data_updated" not in seen:
                    client.sessions.push(s.id, LINES[2:])  # the replay came: now a live one
                elif event.type == "flash_ready":
                    break
    finally:
        client.sessions.delete(s.id)
    return {"events": seen, "connected": connected}


def ws(client: LayerScale) -> dict[str, Any]:
    s = client.sessions.create(id="driver-ws")
    seen: list[str] = []
    error_code: Any = None
    try:
        client.sessions.flash(s.id, QUESTION, max_tokens=2)
        with client.sessions.ws(s.id) as sock:
            for event in sock:
                seen.append(event.type)
                if event.type == "connected":
                    sock.ping()
                elif event.type == "pong":
                    sock.push([""])  # refused: an error frame with an integer code
                elif event.type == "error":
                    error_code = event.data.code
                    sock.push(LINES)
                elif event.type == "flash_ready":
                    break
    finally:
        client.sessions.delete(s.id)
    try:
        client.sessions.ws("driver-ws").close()
        refused = None
    except layerscale.NotFoundError as exc:
        refused = exc.status_code
    return {"events": seen, "error_code": error_code, "refused_unknown": refused}


def auth(client: LayerScale) -> dict[str, Any]:
    """With the key (from LAYERSCALE_LICENSE_KEY) everything answers; without it only health."""
    s = client.sessions.create()
    ack = client.sessions.push(s.id, LINES[:1], wait=True)
    with client.sessions.ws(s.id) as sock:
        first = next(iter(sock)).type
    keyed = [client.health.check().ok, "layerscale_" in client.metrics.get(), ack.pushed, first]
    anonymous = LayerScale(URL, api_key="", max_retries=0)
    refused: dict[str, Any] = {"health": anonymous.health.check().ok}
    for name, call in (("list", lambda: anonymous.sessions.list()),
                       ("metrics", lambda: anonymous.metrics.get()),
                       ("chat", lambda: anonymous.chat.create(messages=USER, max_tokens=2)),
                       ("messages", lambda: anonymous.messages.create(messages=USER,
                                                                      max_tokens=2)),
                       ("ws", lambda: anonymous.sessions.ws(s.id).close())):
        try:
            call()
            refused[name] = None
        except layerscale.AuthenticationError as exc:
            refused[name] = exc.status_code
    client.sessions.delete(s.id)
    return {"keyed": keyed, "anonymous": refused}


async def _async_flow(url: str) -> dict[str, Any]:
    async with AsyncLayerScale(url, timeout=120) as client:
        health = await client.health.check()
        s = await client.sessions.create(id="driver-async")
        try:
            await client.sessions.flash(s.id, QUESTION, max_tokens=2)
            ack = await client.sessions.push(s.id, LINES[:2], wait=True)
            chunks = [c async for c in await client.sessions.generate_stream(
                s.id, prompt="\nNext:", max_tokens=3)]
            chat = await client.chat.create(messages=USER, max_tokens=3, session_id=s.id)
            counted = await client.messages.count_tokens(messages=USER)
            socket_events: list[str] = []
            async with client.sessions.ws(s.id) as sock:
                async for event in sock:
                    socket_events.append(event.type)
                    if event.type == "connected":
                        await sock.push(LINES[2])
                    elif event.type == "flash_ready":
                        break
            stream = await client.sessions.events(s.id)
            first = [e.type async for e in _first(stream, 2)]
            await stream.close()
        finally:
            await client.sessions.delete(s.id)
    return {"health": health.ok, "ack": ack.pushed, "stream_done": type(chunks[-1]).__name__,
            "turn_tokens": chat.usage.total_tokens, "count_tokens": counted.input_tokens,
            "ws": socket_events, "events": first}


async def _first(stream: Any, n: int) -> Any:
    async for event in stream:
        yield event
        n -= 1
        if n == 0:
            return


def async_client(client: LayerScale) -> dict[str, Any]:
    """The async client over the same routes (its own connection pool and socket code)."""
    return asyncio.run(_async_flow(URL))


SCENARIOS = {"http": http, "session": session, "events": events, "ws": ws, "auth": auth,
             "async": async_client}

if __name__ == "__main__":
    URL, scenario = sys.argv[1], sys.argv[2]
    with LayerScale(URL, timeout=120) as client:
        result = SCENARIOS[scenario](client)
    result["client_version"] = importlib.metadata.version("layerscale")
    print(json.dumps(result))
