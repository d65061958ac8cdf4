"""Generation on a session: plain, streaming, fast_answer, clear_after, messages + tools."""

from __future__ import annotations

import json

import httpx

from tests.localserver.conftest import Api, assert_error, candles

TOOLS = [{"type": "function", "function": {
    "name": "get_price", "description": "Latest price of a symbol",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}},
                   "required": ["symbol"]}}}]


def test_generate_shape_and_rollback(api: Api) -> None:
    sid = api.init(prompt="Data:\n")["session_id"]
    api.push_wait(sid, candles(2))
    n = api.state(sid)["n_tokens"]
    out = api.generate(sid, prompt="\nThe last close was", max_tokens=4)
    assert isinstance(out["text"], str) and 1 <= out["n_tokens"] <= 4
    assert out["total_tokens"] == n and out["pos_max"] == n - 1
    assert out["finish_reason"] in {"stop", "length"}
    assert out["data_version"] == 1 and out["confidence"] >= 0
    assert "flash" not in out and "speculative" not in out


def test_generate_with_no_prompt_continues_the_context(api: Api) -> None:
    sid = api.init(prompt="One, two, three,")["session_id"]
    out = api.generate(sid, max_tokens=3)
    assert out["n_tokens"] >= 1
    assert api.state(sid)["context_text"] == "One, two, three,"


def test_clear_after_false_keeps_question_and_answer(api: Api) -> None:
    sid = api.init(prompt="Notes:")["session_id"]
    n = api.state(sid)["n_tokens"]
    out = api.generate(sid, prompt=" first", max_tokens=3, clear_after=False)
    state = api.state(sid)
    assert state["n_tokens"] > n
    assert state["context_text"].startswith("Notes: first")
    assert state["context_text"].endswith(out["text"])


def test_fast_answer_reports_gap_and_speculative(api: Api) -> None:
    sid = api.init(prompt="The capital of France is Paris. The capital of France is")["session_id"]
    out = api.generate(sid, max_tokens=8, fast_answer=True)
    assert isinstance(out["logit_gap"], float) and out["logit_gap"] >= 0
    assert out["speculative"] is (out["logit_gap"] >= 3.0)
    full = api.generate(sid, max_tokens=8)
    assert full["text"].startswith(out["text"])
    if out["speculative"]:
        assert out["n_tokens"] <= full["n_tokens"]


def test_streaming_generate_frames(api: Api, http: httpx.Client) -> None:
    sid = api.init(prompt="Count: 1 2 3")["session_id"]
    n = api.state(sid)["n_tokens"]
    frames = []
    with http.stream("POST", f"/v1/sessions/{sid}/generate",
                     json={"prompt": " 4", "max_tokens": 4, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                frames.append(json.loads(line[6:]))
    *tokens, final = frames
    assert tokens and all(f["done"] is False and isinstance(f["token"], str) for f in tokens)
    positions = [f["pos"] for f in tokens]
    assert positions == sorted(set(positions)) and positions[0] >= n
    assert final["done"] is True and 1 <= len(tokens) <= final["n_tokens"] <= 4
    assert final["text"] == "".join(f["token"] for f in tokens)
    assert final["finish_reason"] in {"stop", "length"}
    assert api.state(sid)["n_tokens"] == n


def test_messages_with_forced_tool_return_openai_tool_calls(api: Api) -> None:
    sid = api.init(prompt="")["session_id"]
    out = api.generate(sid, messages=[{"role": "user", "content": "Price of AAPL?"}],
                       tools=TOOLS, tool_choice={"type": "function",
                                                 "function": {"name": "get_price"}},
                       max_tokens=12)
    assert out["finish_reason"] == "tool_calls"
    (call,) = out["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_price"
    assert isinstance(call["function"]["arguments"], str)
    json.loads(call["function"]["arguments"])  # a JSON string, as OpenAI sends it


def test_messages_reuse_session_tokens(api: Api) -> None:
    """A rendering that starts with the session's own tokens decodes only the rest."""
    sid = api.init(prompt="<|im_start|>system\nYou are terse.<|im_end|>\n")["session_id"]
    out = api.generate(sid, messages=[{"role": "system", "content": "You are terse."},
                                      {"role": "user", "content": "Hi"}], max_tokens=4)
    assert out["n_tokens"] >= 1 and out["finish_reason"] in {"stop", "length"}
    assert "tool_calls" not in out


def test_generate_bad_input(api: Api, http: httpx.Client) -> None:
    sid = api.init()["session_id"]
    url = f"/v1/sessions/{sid}/generate"
    assert_error(http.post(url, json={"prompt": "a", "messages": []}), 400)
    assert_error(http.post(url, json={"prompt": "a", "max_tokens": 0}), 422, param="max_tokens")
    assert_error(http.post(url, json={"messages": [{"role": "robot", "content": "x"}]}), 422,
                 param="messages[0].role")
    assert_error(http.post(url, json={"max_tokens": 2}), 400)  # empty session, no prompt
    long_prompt = "word " * 5000
    err = assert_error(http.post(url, json={"prompt": long_prompt, "max_tokens": 2}), 400)
    assert err["code"] == "context_length_exceeded"
    assert api.generate(sid, prompt="Still fine", max_tokens=1)["n_tokens"] == 1
