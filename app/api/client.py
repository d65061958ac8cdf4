"""``LayerScale``: the async client, server-level endpoints, and ``client.sessions``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from app.api.backoff import Backoff
from app.api.errors import ServiceUnavailableError
from app.api.frames import to_model
from app.api.gen2 import Gen2, session_header
from app.api.generation import Capabilities, Detection, Generation, detect
from app.api.models import (
    ChatCompletion,
    ChatCompletionChunk,
    Health,
    Message,
    MessageStreamEvent,
    ModelList,
    TextCompletion,
)
from app.api.sessions import Sessions, _body
from app.api.streams import Stream, chat_chunks, make_stream, message_events
from app.api.surface import Surface
from app.api.transport import GEN1_RETRIES, GEN2_RETRIES, NOT_GIVEN, Timeout, Transport
from app.api.ws import SocketOptions

ENV_KEY = "LAYERSCALE_LICENSE_KEY"
DEFAULT_TIMEOUT = 600.0


def _messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(m) for m in messages]


class LayerScale:
    """Async client for a LayerScale server (or the bundled local one).

    ``async with LayerScale("http://127.0.0.1:8080", api_key="LS-...") as client:``

    Args:
        base_url: server origin (and optional base path); ``https`` gives ``wss`` sockets.
        api_key: licence key; falls back to ``$LAYERSCALE_LICENSE_KEY``. Sent only as an
            ``Authorization`` header to ``base_url`` (redirects are never followed).
        timeout: default per-call timeout in seconds for non-streaming calls
            (10 minutes; 0 or None disables). Each call also takes ``timeout=``.
        max_retries: retries for idempotent calls (GET, DELETE) on connection errors,
            408/409/429/5xx, with exponential backoff + jitter and ``Retry-After``.
        connect_timeout: bound on establishing a TCP/TLS connection.
        ping_interval / ping_timeout: WebSocket keepalive; a peer that misses a pong for
            ``ping_timeout`` seconds is treated as dead.
        http_client: bring your own ``httpx.AsyncClient`` (its base_url must be ``base_url``;
            it is not closed by this client).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        connect_timeout: float = 10.0,
        backoff: Backoff | None = None,
        max_retry_after: float = 60.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(ENV_KEY) or None
        self.base_url = base_url.rstrip("/")
        self._transport = Transport(
            self.base_url,
            api_key=key,
            timeout=timeout,
            max_retries=max_retries,
            connect_timeout=connect_timeout,
            backoff=backoff or Backoff(),
            max_retry_after=max_retry_after,
            http_client=http_client,
        )
        self._has_key = bool(key)
        self.socket_options = SocketOptions(
            open_timeout=connect_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        self.sessions = Sessions(self._transport, socket_options=lambda: self.socket_options)
        # Generation 2's own routes; ``await self.generation()`` says which one applies.
        self.v2 = Gen2(self._transport, socket_options=lambda: self.socket_options)
        self.sessions.gen2 = lambda: (self.v2.sessions if self._detection is not None
                                      and self._detection.generation is Generation.V2 else None)
        self._detection: Detection | None = None
        self._detect_lock = asyncio.Lock()
        self.detections = 0  # how many times the probes ran (once per connection)
        self._transport.on_connection_lost = self.forget_generation

    # -- generation ------------------------------------------------------------------

    async def detect(self, *, refresh: bool = False, timeout: float | None = 10.0) -> Detection:
        """Which API generation the server speaks, found with GETs only (never a POST).

        Cached for this connection: asked again after ``forget_generation()``, which the
        transport calls whenever a request cannot reach the server (so a reconnect, or a
        different server on the same address, is probed afresh). Retries then follow that
        generation's rules.
        """
        async with self._detect_lock:
            if self._detection is None or refresh:
                found = await detect(self._transport, timeout=timeout)
                self.detections += 1
                self._transport.retry_policy = (
                    GEN2_RETRIES if found.generation is Generation.V2 else GEN1_RETRIES)
                self._detection = found
            return self._detection

    async def generation(self, *, refresh: bool = False) -> Generation:
        return (await self.detect(refresh=refresh)).generation

    def forget_generation(self) -> None:
        """Drop the cached generation: the next ``detect()`` probes again."""
        self._detection = None

    @property
    def detection(self) -> Detection | None:
        """The cached detection, or None before the first (or after a lost connection)."""
        return self._detection

    @property
    def capabilities(self) -> Capabilities | None:
        """What the server offers, once its generation is known (else None)."""
        return self._detection.capabilities if self._detection is not None else None

    async def surface(self) -> Surface:
        """The operations both generations have, answered by the server's (detects first)."""
        found = await self.detect()
        return Surface(found, self.sessions, self.v2, self.health, self.models)

    async def _session_turn(
        self, session_id: str | None
    ) -> tuple[str | None, dict[str, str] | None]:
        """(body field, header) for a chat/messages turn in a session, by generation:
        generation 2 refuses ``session_id`` in the body and takes the header."""
        if session_id is None:
            return None, None
        if await self.generation() is Generation.V2:
            return None, session_header(session_id)
        return session_id, None

    def __repr__(self) -> str:
        key = "set" if self._has_key else "none"
        return f"LayerScale(base_url={self.base_url!r}, api_key=<{key}>)"

    @property
    def timeout(self) -> float | None:
        """The default per-call timeout (None = disabled)."""
        return self._transport.timeout

    async def __aenter__(self) -> LayerScale:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        await self._transport.aclose()

    # -- server level ----------------------------------------------------------------

    async def health(self, *, timeout: Timeout = NOT_GIVEN, max_retries: int = 0) -> Health:
        """``GET /v1/health``. A loading server answers 503 -> ServiceUnavailableError.

        Not retried by default (a probe should report the state now).
        """
        try:
            data = await self._transport.request(
                "GET", "/v1/health", timeout=timeout, max_retries=max_retries
            )
        except ServiceUnavailableError as exc:
            exc.name_health_status()
            raise
        return to_model(Health, data, "health answer")

    async def models(self, *, timeout: Timeout = NOT_GIVEN) -> ModelList:
        """``GET /v1/models``."""
        data = await self._transport.request("GET", "/v1/models", timeout=timeout)
        return to_model(ModelList, data, "model list")

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        session_id: str | None = None,
        timeout: Timeout = NOT_GIVEN,
        **extra: Any,
    ) -> ChatCompletion:
        """OpenAI-compatible chat completion (``POST /v1/chat/completions``)."""
        body_sid, headers = await self._session_turn(session_id)
        body = self._chat_body(
            messages,
            model,
            max_tokens,
            temperature,
            top_p,
            stop,
            tools,
            tool_choice,
            body_sid,
            extra,
            stream=False,
        )
        data = await self._transport.request(
            "POST", "/v1/chat/completions", json=body, timeout=timeout, headers=headers
        )
        return to_model(ChatCompletion, data, "chat completion")

    def chat_stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        session_id: str | None = None,
        timeout: Timeout = NOT_GIVEN,
        **extra: Any,
    ) -> Stream[ChatCompletionChunk]:
        """Chat completion as a stream of ``chat.completion.chunk`` (ends at ``[DONE]``)."""
        def body(sid: str | None) -> dict[str, Any]:
            return self._chat_body(messages, model, max_tokens, temperature, top_p, stop,
                                   tools, tool_choice, sid, extra, stream=True)

        if session_id is None:
            return make_stream(chat_chunks, self._transport, "POST", "/v1/chat/completions",
                               json=body(None), timeout=timeout)
        return self._turn_stream(chat_chunks, "/v1/chat/completions", body, session_id, timeout)

    def _turn_stream(
        self,
        convert: Any,
        path: str,
        body: Any,
        session_id: str,
        timeout: Timeout,
    ) -> Stream[Any]:
        """A streamed session turn: the generation (body field or header) is settled when
        the stream opens, since that may need the detection probes."""

        async def run() -> Any:
            sid, headers = await self._session_turn(session_id)
            inner = make_stream(convert, self._transport, "POST", path, json=body(sid),
                                timeout=timeout, headers=headers)
            try:
                async for item in inner:
                    yield item
            finally:
                await inner.aclose()

        return Stream(run())

    @staticmethod
    def _chat_body(
        messages: Sequence[Mapping[str, Any]],
        model: str | None,
        max_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        stop: str | Sequence[str] | None,
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: Any,
        session_id: str | None,
        extra: dict[str, Any],
        *,
        stream: bool,
    ) -> dict[str, Any]:
        return _body(
            messages=_messages(messages),
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop=stop if isinstance(stop, str) or stop is None else list(stop),
            tools=[dict(t) for t in tools] if tools is not None else None,
            tool_choice=tool_choice,
            session_id=session_id,
            **extra,
        ) | {"stream": stream}

    async def complete(
        self,
        prompt: str,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        timeout: Timeout = NOT_GIVEN,
        **extra: Any,
    ) -> TextCompletion:
        """Legacy text completion (``POST /v1/completions``)."""
        body = _body(
            prompt=prompt,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            stop=stop if isinstance(stop, str) or stop is None else list(stop),
            **extra,
        )
        data = await self._transport.request("POST", "/v1/completions", json=body, timeout=timeout)
        return to_model(TextCompletion, data, "text completion")

    async def message(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int,
        system: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop_sequences: Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        session_id: str | None = None,
        model: str | None = None,
        timeout: Timeout = NOT_GIVEN,
        **extra: Any,
    ) -> Message:
        """Anthropic-compatible messages (``POST /v1/messages``)."""
        body_sid, headers = await self._session_turn(session_id)
        body = self._message_body(
            messages,
            max_tokens,
            system,
            temperature,
            top_p,
            stop_sequences,
            tools,
            tool_choice,
            body_sid,
            model,
            extra,
            stream=False,
        )
        data = await self._transport.request(
            "POST", "/v1/messages", json=body, timeout=timeout, headers=headers
        )
        return to_model(Message, data, "message")

    def message_stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int,
        system: str | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop_sequences: Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        session_id: str | None = None,
        model: str | None = None,
        timeout: Timeout = NOT_GIVEN,
        **extra: Any,
    ) -> Stream[MessageStreamEvent]:
        """Anthropic-style stream: message_start ... content_block_delta ... message_stop."""
        def body(sid: str | None) -> dict[str, Any]:
            return self._message_body(messages, max_tokens, system, temperature, top_p,
                                      stop_sequences, tools, tool_choice, sid, model, extra,
                                      stream=True)

        if session_id is None:
            return make_stream(message_events, self._transport, "POST", "/v1/messages",
                               json=body(None), timeout=timeout)
        return self._turn_stream(message_events, "/v1/messages", body, session_id, timeout)

    @staticmethod
    def _message_body(
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int,
        system: str | None,
        temperature: float | None,
        top_p: float | None,
        stop_sequences: Sequence[str] | None,
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: Any,
        session_id: str | None,
        model: str | None,
        extra: dict[str, Any],
        *,
        stream: bool,
    ) -> dict[str, Any]:
        return _body(
            messages=_messages(messages),
            max_tokens=max_tokens,
            system=system,
            temperature=temperature,
            top_p=top_p,
            stop_sequences=list(stop_sequences) if stop_sequences is not None else None,
            tools=[dict(t) for t in tools] if tools is not None else None,
            tool_choice=tool_choice,
            session_id=session_id,
            model=model,
            **extra,
        ) | {"stream": stream}
