"""Drives the official generation-1 client (`layerscale==0.2.1`) against a server.

Run with the interpreter of its own venv (.venv-peers/gen1), never ours:
    python gen1_driver.py URL SCENARIO
Prints one JSON object of observations on stdout. Every response goes through the
official client's pydantic models, so a field of the wrong type fails right here with a
ValidationError (exit code 1); its SSE and WebSocket iterators silently skip events
that do not validate, so the observations list the events that did.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import time
from typing import Any

import layerscale
from layerscale import LayerScale

CANDLES = [
    {"o": 150.20, "h": 150.80, "l": 150.10, "c": 150.70, "v": 1_200_000,
     "timestamp": 1_733_000_000, "sym": "AAPL"},
    {"o": 150.70, "h": 151.10, "l": 150.60, "c": 150.95, "v": 900_000,
     "timestamp": 1_733_000_060, "sym": "AAPL"},
    {"o": 150.95, "h": 151.40, "l": 150.90, "c": 151.30, "v": 1_500_000,
     "timestamp": 1_733_000_120, "sym": "AAPL"},
    {"o": 151.30, "h": 151.80, "l": 151.20, "c": 151.75, "v": 1_100_000,
     "timestamp": 1_733_000_180, "sym": "AAPL"},
    {"o": 151.75, "h": 152.00, "l": 151.50, "c": 151.60, "v": 1_300_000,
     "timestamp": 1_733_000_240, "sym": "AAPL"},
]
ENTRIES: dict[str, list[dict[str, Any]]] = {
    "ohlcv": CANDLES,
    "iot": [{"sid": "t1", "val": 21.5, "lo": 18, "hi": 25, "timestamp": 1_733_000_000},
            {"sid": "t1", "val": 26.0, "lo": 18, "hi": 25}],
    "spatial": [{"x": 0, "y": 0, "z": 0, "spd": 1.5, "hdg": 90, "timestamp": 1_733_000_000},
                {"x": 3, "y": 4, "z": 0, "spd": 2.0, "hdg": 120, "timestamp": 1_733_000_002}],
    "event": [{"src": "fw", "sev": 4, "cat": "net", "cnt": 3},
              {"src": "ids", "sev": 2, "cat": "auth", "cnt": 1}],
    "vitals": [{"hr": 110, "bp_s": 120, "bp_d": 80, "spo2": 97, "temp": 37.0},
               {"hr": 72, "bp_s": 118, "bp_d": 76, "spo2": 88, "temp": 38.4}],
}
QUESTION = "\nQuestion: Is the last close above the first open? Answer yes or no.\nAnswer:"
USER = [{"role": "user", "content": "Say hello."}]


def http(client: LayerScale) -> dict[str, Any]:
    health = client.health.check()
    models = client.models.list()
    chat = client.chat.create(messages=USER, max_tokens=4)
    chunks = list(client.chat.stream(messages=USER, max_tokens=4))
    completion = client.completions.create(prompt="The capital of France is", max_tokens=3)
    message = client.messages.create(messages=USER, max_tokens=4, system="Be brief.")
    events = list(client.messages.stream(messages=USER, max_tokens=4))
    return {
        "health_ok": health.ok, "model": models.data[0].id,
        "chat": chat.choices[0].message.content,
        "chat_stream": "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
        "completion": completion.choices[0].text,
        "message": message.content[0].text if message.content else None,
        "message_events": [e.type for e in events],
    }


def session(client: LayerScale) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # The seed's complete example: create + mark prefix, push + wait, query, delete.
    s = client.sessions.create(
        type="ohlcv",
        prompt="You are a real-time market analyst. You receive live OHLCV candles and answer "
               "questions about market direction in a single word when possible.",
        context=4096, mark_prefix=True, flash=[{"query": QUESTION, "max_tokens": 4}])
    sid = s.session_id
    out["created"] = {"window_size": s.window_size, "flash_queries": s.flash_queries}
    unanswered = client.sessions.list_flash(sid)  # before any data: no answer yet
    out["unanswered"] = [q.has_answer for q in unanswered.flash_queries]
    ack = client.sessions.push(sid, CANDLES, wait=True)
    out["ack_pushed"] = ack.pushed
    status = client.sessions.stream_status(sid)
    out["status"] = {"error": status.streaming.error,
                     "items_processed": status.statistics.items_processed,
                     "data_count": status.data.data_count}
    answer = client.sessions.query(sid, prompt="Is the market trending up or down?",
                                   max_tokens=8, fast_answer=True)
    out["answer"] = {"n_tokens": answer.n_tokens, "speculative": answer.speculative}
    streamed = list(client.sessions.query_stream(sid, prompt=" Up or down?", max_tokens=4))
    out["stream_done"] = type(streamed[-1]).__name__
    out["stream_tokens"] = sum(1 for c in streamed if not c.done)
    state = client.sessions.get(sid)
    listing = client.sessions.list()
    out["state"] = {"data_count": state.data_count, "prefix_end": state.prefix_end,
                    "created_at_type": type(state.created_at).__name__,
                    "in_list": any(x.session_id == sid for x in listing.sessions)}
    appended = client.sessions.append(sid, "\nNote: markets open.")
    out["appended"] = appended.n_tokens_added
    registered = client.sessions.flash(sid, "\nIs volume rising?\nAnswer:", max_tokens=4)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        flashes = client.sessions.list_flash(sid)
        if all(q.has_answer for q in flashes.flash_queries):
            break
        time.sleep(0.05)
    out["flash"] = {"count": flashes.count,
                    "answered": [q.has_answer for q in flashes.flash_queries],
                    "evaluated_at_type": type(flashes.flash_queries[0].evaluated_at).__name__}
    removed = client.sessions.unflash(sid, registered.id)
    out["unflash_remaining"] = removed.remaining
    client.sessions.delete(sid)
    try:
        client.sessions.get(sid)
        out["deleted"] = False
    except layerscale.NotFoundError:
        out["deleted"] = True
    return out


def stats(client: LayerScale) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, entries in ENTRIES.items():
        s = client.sessions.create(type=kind, context=1024, window_size=8)
        try:
            empty = client.sessions.stats(s.session_id)  # numbers, never null, when empty
            client.sessions.push(s.session_id, entries, wait=True)
            filled = client.sessions.stats(s.session_id)
            out[kind] = {"empty": [type(empty).__name__, empty.count],
                         "filled": [type(filled).__name__, filled.count]}
        finally:
            client.sessions.delete(s.session_id)
    return out


def events(client: LayerScale) -> dict[str, Any]:
    s = client.sessions.create(type="ohlcv", prompt="Prices:\n", context=1024,
                               flash=[{"query": QUESTION, "max_tokens": 2}])
    seen: list[str] = []
    try:
        with client.sessions.events(s.session_id) as stream:
            for event in stream:
                seen.append(event.type)
                if event.type == "connected":
                    client.sessions.push(s.session_id, CANDLES[:2])
                if event.type == "flash_ready":
                    break
    finally:
        client.sessions.delete(s.session_id)
    return {"events": seen}


def ws(client: LayerScale) -> dict[str, Any]:
    s = client.sessions.create(type="ohlcv", prompt="Prices:\n", context=1024,
                               flash=[{"query": QUESTION, "max_tokens": 2}])
    seen: list[str] = []
    error_code: Any = None
    try:
        with client.sessions.stream(s.session_id) as sock:
            for event in sock:
                seen.append(event.type)
                if event.type == "connected":
                    sock.ping()
                    sock.push([{"o": 1}])  # refused: an error frame with an integer code
                elif event.type == "error":
                    error_code = event.data.code
                    sock.push(CANDLES[:2])
                elif event.type == "flash_ready":
                    break
    finally:
        client.sessions.delete(s.session_id)
    return {"events": seen, "error_code": error_code}


TOOLS = [{"type": "function", "function": {
    "name": "get_price", "description": "Latest price of a symbol",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}}}}]


def tools(client: LayerScale) -> dict[str, Any]:
    ask = [{"role": "user", "content": "What is AAPL at?"}]
    chat = client.chat.create(messages=ask, tools=TOOLS, max_tokens=12,
                              tool_choice={"type": "function", "function": {"name": "get_price"}})
    message = client.messages.create(
        messages=ask, max_tokens=12, tool_choice={"type": "tool", "name": "get_price"},
        tools=[{"name": "get_price", "input_schema": {"type": "object"}}])
    s = client.sessions.create(type="ohlcv", prompt="Prices:\n", context=2048)
    try:
        client.sessions.push(s.session_id, CANDLES[:2], wait=True)
        answer = client.sessions.query(s.session_id, messages=ask, tools=TOOLS, max_tokens=12)
        chunks = list(client.sessions.query_stream(s.session_id, messages=ask, tools=TOOLS,
                                                   max_tokens=12))
    finally:
        client.sessions.delete(s.session_id)
    return {
        "chat_tool": chat.choices[0].message.tool_calls[0].function["name"]
        if chat.choices[0].message.tool_calls else None,
        "message_blocks": [b.type for b in message.content],
        "query_finish": answer.finish_reason,
        "query_tool_calls": len(answer.tool_calls or []),
        "stream_done": type(chunks[-1]).__name__,
    }


SCENARIOS = {"http": http, "session": session, "stats": stats, "events": events, "ws": ws,
             "tools": tools}

if __name__ == "__main__":
    url, scenario = sys.argv[1], sys.argv[2]
    with LayerScale(url, timeout=120) as client:
        result = SCENARIOS[scenario](client)
    # The distribution's version: the 0.2.1 wheel's own __version__ still says 0.2.0.
    result["client_version"] = importlib.metadata.version("layerscale")
    print(json.dumps(result))
