"""OpenAI chat/completions and Anthropic messages, plain and streaming."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.localserver.conftest import Api

HELLO = [{"role": "user", "content": "Say hello."}]
TOOLS = [{"type": "function", "function": {
    "name": "get_price", "description": "Latest price",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}}}}]


def _sse(http: httpx.Client, path: str, body: dict[str, Any]) -> list[tuple[str | None, str]]:
    frames: list[tuple[str | None, str]] = []
    event: str | None = None
    with http.stream("POST", path, json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                frames.append((event, line[6:]))
                event = None
    return frames


def test_chat_completion_shape(http: httpx.Client) -> None:
    body = http.post("/v1/chat/completions", json={"messages": HELLO, "max_tokens": 4,
                                                   "temperature": 0.7}).json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int) and body["model"].startswith("SmolLM2")
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert choice["finish_reason"] in {"stop", "length"}
    usage = body["usage"]
    assert usage["completion_tokens"] <= 4 and usage["prompt_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_chat_completion_is_deterministic_and_streams_the_same_text(http: httpx.Client) -> None:
    plain = http.post("/v1/chat/completions", json={"messages": HELLO, "max_tokens": 5}).json()
    frames = _sse(http, "/v1/chat/completions",
                  {"messages": HELLO, "max_tokens": 5, "stream": True})
    assert frames[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == plain["choices"][0]["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]


def test_chat_completion_forced_tool_call(http: httpx.Client) -> None:
    body = http.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "What is AAPL at?"}], "tools": TOOLS,
        "tool_choice": "required", "max_tokens": 12}).json()
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_price" and call["type"] == "function"
    assert isinstance(json.loads(call["function"]["arguments"]), dict | str)


def test_chat_completion_on_a_session_leaves_it_unchanged(api: Api, http: httpx.Client) -> None:
    sid = api.init(prompt="Context.\n")["session_id"]
    before = api.state(sid)
    body = http.post("/v1/chat/completions", json={"messages": HELLO, "max_tokens": 3,
                                                   "session_id": sid}).json()
    assert body["choices"][0]["message"]["content"]
    assert api.state(sid)["context_text"] == before["context_text"]
    r = http.post("/v1/chat/completions", json={"messages": HELLO, "session_id": "sess_nope"})
    assert r.status_code == 404


def test_completions_shape_and_stream(http: httpx.Client) -> None:
    body = http.post("/v1/completions", json={"prompt": "The capital of France is",
                                              "max_tokens": 3, "stop": ["\n"]}).json()
    assert body["object"] == "text_completion"
    (choice,) = body["choices"]
    assert set(choice) >= {"text", "index", "finish_reason"} and "Paris" in choice["text"]
    assert body["usage"]["prompt_tokens"] == 5
    frames = _sse(http, "/v1/completions", {"prompt": "The capital of France is",
                                            "max_tokens": 3, "stop": ["\n"], "stream": True})
    assert frames[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in frames[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == choice["text"]


def test_anthropic_message_shape(http: httpx.Client) -> None:
    body = http.post("/v1/messages", json={"messages": HELLO, "max_tokens": 4,
                                           "system": "Be brief."}).json()
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["id"].startswith("msg_")
    assert body["content"][0]["type"] == "text" and body["content"][0]["text"]
    assert body["stop_reason"] in {"end_turn", "max_tokens"} and body["stop_sequence"] is None
    assert body["usage"]["output_tokens"] <= 4 and body["usage"]["input_tokens"] > 0


def test_anthropic_stream_event_sequence(http: httpx.Client) -> None:
    plain = http.post("/v1/messages", json={"messages": HELLO, "max_tokens": 4}).json()
    frames = _sse(http, "/v1/messages", {"messages": HELLO, "max_tokens": 4, "stream": True})
    names = [name for name, _ in frames]
    payloads = [json.loads(d) for _, d in frames]
    assert names == [p["type"] for p in payloads]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[2:-3]) == {"content_block_delta"}
    text = "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta")
    assert text == plain["content"][0]["text"]
    delta = payloads[-2]
    assert delta["delta"]["stop_reason"] == plain["stop_reason"]
    assert delta["usage"]["output_tokens"] == plain["usage"]["output_tokens"]


def test_anthropic_tool_use(http: httpx.Client) -> None:
    tools = [{"name": "get_price", "description": "Latest price",
              "input_schema": {"type": "object", "properties": {"symbol": {"type": "string"}}}}]
    body = http.post("/v1/messages", json={
        "messages": [{"role": "user", "content": "AAPL price?"}], "tools": tools,
        "tool_choice": {"type": "tool", "name": "get_price"}, "max_tokens": 12}).json()
    assert body["stop_reason"] == "tool_use"
    block = next(b for b in body["content"] if b["type"] == "tool_use")
    assert block["name"] == "get_price" and isinstance(block["input"], dict)
    assert block["id"].startswith("toolu_")
    frames = _sse(http, "/v1/messages", {
        "messages": [{"role": "user", "content": "AAPL price?"}], "tools": tools,
        "tool_choice": {"type": "tool", "name": "get_price"}, "max_tokens": 12,
        "stream": True})
    payloads = [json.loads(d) for _, d in frames]
    starts = [p for p in payloads if p["type"] == "content_block_start"]
    assert any(s["content_block"]["type"] == "tool_use" for s in starts)
    assert any(p["type"] == "content_block_delta" and p["delta"]["type"] == "input_json_delta"
               for p in payloads)
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"
