"""The query console against the real bundled server: tokens stream in one by one and the
view shows the server's final answer and flags; chat messages with tools; cancelling a
running query stops it on the server; the history keeps every query of the session."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from app.ui.main_window import MainWindow
from tests.core.live import small_spec


def open_console(w: MainWindow, arun: Any) -> tuple[Any, Any]:
    view = arun(w.create_session(small_spec(flash=())))
    dock = w.cockpit.docks["Query console"]
    dock.show()
    dock.raise_()
    return view, w.cockpit.console


def test_tokens_stream_in_and_the_answer_carries_its_flags(
        window: MainWindow, qtbot: Any, arun: Any) -> None:
    w = window
    view, panel = open_console(w, arun)
    qtbot.waitUntil(lambda: panel.cockpit is not None
                    and panel.cockpit.model is view.model, timeout=5_000)
    panel.prompt.setPlainText("Count from 1 to 20: 1, 2, 3,")
    panel.max_tokens.setValue(12)
    record = panel.send()
    assert record is not None and record.status == "running"
    updates: list[int] = []
    qtbot.waitUntil(lambda: updates.append(record.version) or record.status != "running",
                    timeout=90_000)
    assert record.status == "done", record.error
    assert record.status == "done" and record.tokens == 12  # max_tokens reached
    # Streamed: one update per token frame plus the final one, not a single blob.
    assert record.version >= record.tokens + 1 and record.tokens >= 1
    assert record.first_token is not None and record.first_token <= record.duration
    assert record.finish_reason in ("length", "stop")
    assert record.flags.get("confidence") is not None
    qtbot.waitUntil(lambda: panel.answer.toPlainText() == record.text, timeout=5_000)
    flags = panel.flags.text()
    assert f"finish: {record.finish_reason}" in flags and f"{record.tokens} tokens" in flags
    assert "confidence" in flags

    # Fast answer: the server says whether it answered speculatively, and with what gap.
    panel.prompt.setPlainText("Is the sea wet? Answer yes or no.")
    panel.fast.setChecked(True)
    fast = panel.send()
    assert fast is not None
    qtbot.waitUntil(lambda: fast.status != "running", timeout=90_000)
    assert fast.status == "done", fast.error
    assert "speculative" in fast.flags and "logit_gap" in fast.flags
    qtbot.waitUntil(lambda: "logit gap" in panel.flags.text(), timeout=5_000)
    assert ("not speculative" in panel.flags.text()) is (not fast.flags["speculative"])

    # Chat messages with a tool the model may call: the answer comes back with its reason.
    panel.mode.setCurrentIndex(1)
    panel.prompt.setPlainText('[{"role": "user", "content": "What is the price of BTC?"}]')
    panel.tools.setPlainText('[{"type": "function", "function": {"name": "get_price", '
                             '"description": "price of a symbol", "parameters": '
                             '{"type": "object", "properties": {"symbol": {"type": "string"}}}}}]')
    panel.fast.setChecked(False)
    chat = panel.send()
    assert chat is not None and chat.tools and chat.messages
    qtbot.waitUntil(lambda: chat.status != "running", timeout=90_000)
    assert chat.status == "done", chat.error
    assert chat.finish_reason in ("length", "stop", "tool_calls")
    if chat.tool_calls:
        assert "tool calls: get_price" in panel.flags.text() or chat.finish_reason

    # Bad input is refused with its reason, nothing is sent.
    panel.prompt.setPlainText("[{")
    assert panel.send() is None and "not JSON" in panel.problem.text()
    qtbot.waitUntil(lambda: panel.history.count() == 3, timeout=5_000)


def test_cancel_stops_a_running_query(window: MainWindow, qtbot: Any, arun: Any) -> None:
    w = window
    view, panel = open_console(w, arun)
    sid = view.model.session_id
    c = w.dashboard.client
    qtbot.waitUntil(lambda: panel.cockpit is not None
                    and panel.cockpit.model is view.model, timeout=5_000)
    panel.prompt.setPlainText("Count from 1 to 1000: 1, 2, 3,")
    panel.max_tokens.setValue(2000)
    record = panel.send()
    assert record is not None
    qtbot.waitUntil(lambda: record.tokens >= 3, timeout=60_000)
    assert panel.cancel_btn.isEnabled()
    panel.cancel_btn.click()
    qtbot.waitUntil(lambda: record.status == "cancelled", timeout=10_000)
    stopped_at = record.tokens
    assert stopped_at < 2000
    # The server saw the client go and stopped generating: the session is free again.
    async def freed() -> None:
        deadline = time.monotonic() + 30
        while (await c.sessions.get(sid)).in_use:
            assert time.monotonic() < deadline, "the server kept generating after cancel"
            await asyncio.sleep(0.1)  # polling the server's state, with a deadline

    arun(freed(), timeout=40)
    assert record.tokens == stopped_at
    qtbot.waitUntil(lambda: panel.send_btn.isEnabled() and "[cancelled]" in
                    panel.history.item(0).text(), timeout=5_000)
