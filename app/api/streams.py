"""Streamed HTTP answers: the ``Stream`` wrapper and the SSE-to-model iterators.

A :class:`Stream` is an async iterator that is also an async context manager.
Its HTTP response is opened lazily on the first ``__anext__`` and closed when the
stream ends, fails, is cancelled, is closed with ``aclose()`` / ``async with``,
or is simply abandoned (the underlying async generator is finalised by the event
loop, which closes the response).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from app.api.errors import APIConnectionError, LayerScaleError, ProtocolError
from app.api.frames import snippet, to_event, to_model
from app.api.gen2_models import GenerationChunk2
from app.api.models import (
    ChatCompletionChunk,
    GenerateChunk,
    MessageStreamEvent,
    SessionEvent,
)
from app.api.sse import ServerSentEvent, SSEDecoder
from app.api.transport import NOT_GIVEN, Timeout, Transport

T = TypeVar("T")


class Stream(Generic[T]):
    """``async for item in stream`` / ``async with stream: ...``; ``aclose()`` to stop early."""

    def __init__(self, agen: AsyncGenerator[T, None]) -> None:
        self._agen = agen

    def __aiter__(self) -> Stream[T]:
        return self

    async def __anext__(self) -> T:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop the stream and close its HTTP response (idempotent)."""
        await self._agen.aclose()

    async def __aenter__(self) -> Stream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def iter_sse(
    transport: Transport,
    method: str,
    path: str,
    *,
    json: Any = None,
    timeout: Timeout = NOT_GIVEN,
    headers: dict[str, str] | None = None,
) -> AsyncGenerator[ServerSentEvent, None]:
    """Raw SSE events of one streamed response; raises if the stream is cut mid-event."""
    async with transport.stream(method, path, json=json, timeout=timeout,
                                headers=headers) as response:
        ctype = response.headers.get("content-type", "")
        if "text/event-stream" not in ctype:
            body = await _read_quietly(response)
            raise ProtocolError(
                f"{method} {path}: expected text/event-stream, got {ctype or 'no content type'}"
                f": {snippet(body)!r}"
            )
        decoder = SSEDecoder()
        try:
            async for chunk in response.aiter_bytes():
                for event in decoder.feed(chunk):
                    yield event
        except httpx.TransportError as exc:
            raise APIConnectionError(
                transport.redact(f"{method} {path}: stream broke: {type(exc).__name__}: {exc}")
            ) from None
        decoder.close()
        if decoder.pending:
            raise ProtocolError(f"{method} {path}: stream ended in the middle of an event")


async def _read_quietly(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.TransportError:
        return b""


def _raise_if_error(payload: Any, what: str) -> None:
    """A server may report a failure inside the stream as ``{"error": {...}}``."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict | str):
        err = payload["error"]
        message = err.get("message") if isinstance(err, dict) else err
        raise LayerScaleError(f"{what} failed mid-stream: {message}", body=payload)


async def chat_chunks(
    events: AsyncIterator[ServerSentEvent],
) -> AsyncGenerator[ChatCompletionChunk, None]:
    """``chat.completion.chunk`` frames until ``data: [DONE]``."""
    async for event in events:
        if event.data.strip() == "[DONE]":
            return
        payload = event.json()
        _raise_if_error(payload, "chat completion")
        yield to_model(ChatCompletionChunk, payload, "chat.completion.chunk")
    raise ProtocolError("chat completion stream ended before [DONE]")


async def message_events(
    events: AsyncIterator[ServerSentEvent],
) -> AsyncGenerator[MessageStreamEvent, None]:
    """Anthropic stream events until ``message_stop``."""
    async for event in events:
        payload = event.json()
        if event.event == "error" or (isinstance(payload, dict) and payload.get("type") == "error"):
            _raise_if_error(payload, "message")
            raise LayerScaleError(f"message failed mid-stream: {snippet(event.data)}", body=payload)
        if isinstance(payload, dict) and "type" not in payload and event.event != "message":
            payload = {**payload, "type": event.event}
        item = to_model(MessageStreamEvent, payload, f"{event.event} event")
        if item.type == "ping":
            continue
        yield item
        if item.type == "message_stop":
            return
    raise ProtocolError("message stream ended before message_stop")


async def generate_chunks(
    events: AsyncIterator[ServerSentEvent],
) -> AsyncGenerator[GenerateChunk, None]:
    """Token frames, then the final ``done: true`` frame (yielded too)."""
    async for event in events:
        if event.data.strip() == "[DONE]":
            return
        payload = event.json()
        _raise_if_error(payload, "generate")
        chunk = to_model(GenerateChunk, payload, "generate frame")
        yield chunk
        if chunk.done:
            return
    raise ProtocolError("generate stream ended before its final (done) frame")


async def session_events(
    events: AsyncIterator[ServerSentEvent],
) -> AsyncGenerator[SessionEvent, None]:
    """Typed session events; ends when the server closes the stream."""
    async for event in events:
        name = None if event.event == "message" else event.event
        yield to_event(event.json(), event_name=name)


async def session_events_gen2(
    events: AsyncIterator[ServerSentEvent],
) -> AsyncGenerator[SessionEvent, None]:
    """Generation-2 session events: the type is the ``event:`` line, never the payload.

    The payload carries no ``type`` key; were one there, the ``event:`` line still wins.
    An event without an ``event:`` line is not generation 2: ProtocolError.
    """
    async for event in events:
        if event.event == "message":
            raise ProtocolError(f"session event without an 'event:' line: {snippet(event.data)!r}")
        payload = event.json()
        if not isinstance(payload, dict):
            raise ProtocolError(f"{event.event} event is not a JSON object: "
                                f"{snippet(event.data)!r}")
        fields = {k: v for k, v in payload.items() if k != "type"}
        yield to_event(fields, event_name=event.event)


async def generate_chunks_gen2(
    events: AsyncIterator[ServerSentEvent],
) -> AsyncGenerator[GenerationChunk2, None]:
    """``{"text": piece}`` frames, then ``{"done": true, ...}`` (yielded), then ``[DONE]``."""
    async for event in events:
        if event.data.strip() == "[DONE]":
            return
        payload = event.json()
        _raise_if_error(payload, "generate")
        chunk = to_model(GenerationChunk2, payload, "generate frame")
        yield chunk
        if chunk.done:
            return
    raise ProtocolError("generate stream ended before its final (done) frame")


def make_stream(
    convert: Callable[[AsyncIterator[ServerSentEvent]], AsyncGenerator[T, None]],
    transport: Transport,
    method: str,
    path: str,
    *,
    json: Any = None,
    timeout: Timeout = NOT_GIVEN,
    headers: dict[str, str] | None = None,
) -> Stream[T]:
    """A lazily opened :class:`Stream` of ``convert``-ed SSE events."""

    async def run() -> AsyncGenerator[T, None]:
        raw = iter_sse(transport, method, path, json=json, timeout=timeout, headers=headers)
        typed = convert(raw)
        try:
            async for item in typed:
                yield item
        finally:
            # Close inner generators now, not at GC, so the response is released promptly.
            await typed.aclose()
            await raw.aclose()

    return Stream(run())
