"""A session's query console: one streamed generation at a time, and its history (no Qt).

`start()` runs `sessions.query_stream` as an asyncio task; tokens land in the running
`QueryRecord` as they arrive and the view shows them on its next frame. `cancel()`
cancels that task, which closes the stream (the client drops the HTTP response and the
server stops generating when it sees the disconnect).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app.api.errors import LayerScaleError
from app.core.problems import diagnose

HISTORY = 50
FLAG_FIELDS = ("flash", "flash_id", "speculative", "confidence", "logit_gap", "data_version")


class InputError(ValueError):
    """What the user typed cannot be sent (the message says what and where)."""


def parse_messages(text: str) -> list[dict[str, Any]]:
    """Chat messages as a JSON list of {role, content} objects."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"messages are not JSON: {exc.msg} (line {exc.lineno}, "
                         f"column {exc.colno})") from None
    if not isinstance(value, list) or not value:
        raise InputError("messages must be a non-empty JSON list of {role, content} objects")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise InputError(f"messages[{i}] needs a \"role\" (system, user, assistant, tool)")
        if "content" in m and not isinstance(m["content"], str | list | None):
            raise InputError(f"messages[{i}].content must be text")
    return value


def parse_tools(text: str) -> list[dict[str, Any]] | None:
    """Optional tools: a JSON list of OpenAI-style tool objects; empty text means none."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"tools are not JSON: {exc.msg} (line {exc.lineno}, "
                         f"column {exc.colno})") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise InputError("tools must be a JSON list of tool objects")
    return value


@dataclass
class QueryRecord:
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    max_tokens: int | None = None
    fast_answer: bool = False
    text: str = ""  # streamed tokens, then the server's final text
    tokens: int = 0
    status: str = "running"  # running | done | cancelled | error
    error: str | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    first_token: float | None = None  # seconds after start
    duration: float | None = None
    version: int = 0

    @property
    def asked(self) -> str:
        if self.prompt is not None:
            return self.prompt
        last = next((m for m in reversed(self.messages or []) if m.get("role") == "user"), None)
        return str(last.get("content", "")) if last else f"{len(self.messages or [])} messages"


class QueryConsole:
    def __init__(self) -> None:
        self.history: deque[QueryRecord] = deque(maxlen=HISTORY)
        self.running: QueryRecord | None = None
        self._task: asyncio.Task[None] | None = None
        self.version = 0

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, client: Any, session_id: str, *, prompt: str | None = None,
              messages: list[dict[str, Any]] | None = None,
              tools: list[dict[str, Any]] | None = None, max_tokens: int | None = None,
              fast_answer: bool = False) -> QueryRecord:
        if self.busy:
            raise InputError("a query is already running; cancel it first")
        if prompt is None and not messages:
            raise InputError("type a prompt or chat messages")
        record = QueryRecord(prompt=prompt, messages=messages, tools=tools,
                             max_tokens=max_tokens, fast_answer=fast_answer)
        self.history.append(record)
        self.running = record
        self._task = asyncio.ensure_future(self._run(client, session_id, record))
        self.version += 1
        return record

    def cancel(self) -> bool:
        """Stop the running query; True if there was one."""
        if not self.busy:
            return False
        assert self._task is not None
        self._task.cancel()
        return True

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.wait({self._task})

    async def _run(self, client: Any, session_id: str, record: QueryRecord) -> None:
        t0 = time.monotonic()
        try:
            stream = client.sessions.query_stream(
                session_id, prompt=record.prompt, messages=record.messages,
                tools=record.tools, max_tokens=record.max_tokens,
                fast_answer=True if record.fast_answer else None)
            async with stream:
                async for chunk in stream:
                    if not chunk.done:
                        if record.first_token is None:
                            record.first_token = time.monotonic() - t0
                        record.text += chunk.token or ""
                        record.tokens += 1
                    else:
                        self._finish(record, chunk)
                    record.version += 1
                    self.version += 1
            if record.status == "running":
                record.status = "done"
        except asyncio.CancelledError:
            record.status = "cancelled"
            raise
        except LayerScaleError as exc:
            record.status, record.error = "error", diagnose(exc).message
        except OSError as exc:
            record.status, record.error = "error", str(exc) or type(exc).__name__
        finally:
            record.duration = time.monotonic() - t0
            record.version += 1
            if self.running is record:
                self.running = None
            self.version += 1

    @staticmethod
    def _finish(record: QueryRecord, chunk: Any) -> None:
        extra = chunk.model_extra or {}
        if chunk.text is not None:
            record.text = chunk.text
        if chunk.n_tokens is not None:
            record.tokens = chunk.n_tokens
        record.finish_reason = chunk.finish_reason
        record.tool_calls = [c.model_dump() for c in chunk.tool_calls or []]
        record.flags = {k: extra[k] for k in FLAG_FIELDS if k in extra}
        if chunk.finish_reason == "error":
            err = extra.get("error")
            record.status = "error"
            record.error = err.get("message") if isinstance(err, dict) else str(err or "error")
        else:
            record.status = "done"
