"""``client.v2``: what only a generation-2 server offers, and its own session routes.

    async with LayerScale(url, api_key="LSK-...") as client:
        s = await client.v2.sessions.create(id="desk-1", window=2048)
        await client.v2.sessions.push(s.id, ["line one", "line two"], wait=True)
        print(await client.v2.metrics())

Retries follow generation 2 once the client knows it speaks it (GET only, never 409);
the session id of a chat/messages turn travels in ``x-layerscale-session-id``
(``LayerScale.chat(session_id=...)`` does that by itself on a generation-2 server).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from app.api.backoff import Backoff
from app.api.errors import (
    APITimeoutError,
    ConflictError,
    ServiceUnavailableError,
)
from app.api.frames import to_model
from app.api.gen2_models import (
    FlashDeleted,
    FlashList2,
    FlashQuery2,
    Generation2,
    GenerationChunk2,
    Health2,
    ModelList2,
    PushAck2,
    Session2,
    SessionDeleted,
    SessionList2,
    TokenCount,
    WarmResult,
)
from app.api.gen2_ws import Gen2SessionSocket
from app.api.metrics import Metrics
from app.api.models import SessionEvent
from app.api.reconnect import LinkState, ReconnectingSessionStream
from app.api.sessions import _body, _sid
from app.api.streams import Stream, generate_chunks_gen2, make_stream, session_events_gen2
from app.api.transport import NOT_GIVEN, Timeout, Transport, path_segment
from app.api.ws import SocketOptions, ws_url

SESSION_HEADER: Final = "x-layerscale-session-id"
PUSH_WAIT: Final = 30.0
PUSH_POLL: Final = 0.1  # the official client's cadence for push(wait=True)


def session_header(session_id: str | None) -> dict[str, str] | None:
    return None if session_id is None else {SESSION_HEADER: session_id}


class Gen2Sessions:
    """Everything under ``/v1/sessions`` on a generation-2 server."""

    def __init__(self, transport: Transport, *,
                 socket_options: Callable[[], SocketOptions]) -> None:
        self._t = transport
        self._socket_options = socket_options

    async def create(self, *, id: str | None = None, pre_decode: bool | None = None,
                     window: int | None = None, timeout: Timeout = NOT_GIVEN) -> Session2:
        """``POST /v1/sessions``; 409 ConflictError for a taken id, 403 at the tier's cap."""
        data = await self._t.request(
            "POST", "/v1/sessions", json=_body(id=id, pre_decode=pre_decode, window=window),
            timeout=timeout)
        return to_model(Session2, data, "session")

    async def list(self, *, timeout: Timeout = NOT_GIVEN) -> SessionList2:
        data = await self._t.request("GET", "/v1/sessions", timeout=timeout)
        return to_model(SessionList2, data, "session list")

    async def get(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> Session2:
        """``GET /v1/sessions/{id}``: 200 live, NotFoundError once gone."""
        data = await self._t.request("GET", f"/v1/sessions/{_sid(session_id)}", timeout=timeout)
        return to_model(Session2, data, "session")

    async def delete(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> SessionDeleted:
        """``DELETE /v1/sessions/{id}``; sent once. While a request runs on the session the
        server answers 409: ConflictError saying so (the caller may try again later)."""
        try:
            data = await self._t.request(
                "DELETE", f"/v1/sessions/{_sid(session_id)}", timeout=timeout)
        except ConflictError as exc:
            exc.message = (f"session {session_id} is busy (a request is running on it); "
                           f"delete it again when that ends. Server: {exc.message}")
            exc.args = (exc.message,)
            raise
        return to_model(SessionDeleted, data, "delete answer")

    async def push(self, session_id: str, data: str | Sequence[str], *, wait: bool = False,
                   wait_timeout: float = PUSH_WAIT, timeout: Timeout = NOT_GIVEN) -> PushAck2:
        """``POST .../push`` raw text (never retried). ``wait=True`` then polls the session
        until ``pending == 0``, ``data_version > ack.data_version`` and
        ``kv_tokens + 1 >= data_end``; APITimeoutError after ``wait_timeout`` seconds."""
        payload: str | list[str] = data if isinstance(data, str) else list(data)
        if not payload:
            raise ValueError("a push needs text")
        answer = await self._t.request("POST", f"/v1/sessions/{_sid(session_id)}/push",
                                       json={"data": payload}, timeout=timeout)
        ack = to_model(PushAck2, answer, "push answer")
        if wait:
            await self.wait_ingested(session_id, ack.data_version, timeout=wait_timeout)
        return ack

    async def wait_ingested(self, session_id: str, after_version: int, *,
                            timeout: float = PUSH_WAIT) -> Session2:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            s = await self.get(session_id, timeout=max(deadline - loop.time(), 0.001))
            if s.pending == 0 and s.data_version > after_version and s.kv_tokens + 1 >= s.data_end:
                return s
            if loop.time() + PUSH_POLL > deadline:
                raise APITimeoutError(
                    f"pushed text not ingested within {timeout:g} s (pending {s.pending}, "
                    f"data_version {s.data_version})")
            await asyncio.sleep(PUSH_POLL)  # the protocol's polling cadence, not a sync

    async def warm(self, session_id: str, messages: Sequence[Mapping[str, Any]], *,
                   tools: Sequence[Mapping[str, Any]] | None = None,
                   timeout: Timeout = NOT_GIVEN, **extra: Any) -> WarmResult:
        """``POST .../warm``: prefill the next turn's prompt; answers when done."""
        body = _body(messages=[dict(m) for m in messages],
                     tools=[dict(t) for t in tools] if tools is not None else None, **extra)
        data = await self._t.request("POST", f"/v1/sessions/{_sid(session_id)}/warm",
                                     json=body, timeout=timeout)
        return to_model(WarmResult, data, "warm answer")

    @staticmethod
    def _generate_body(prompt: str, max_tokens: int | None, stop: str | Sequence[str] | None,
                       fast_answer: Sequence[str] | None, stream: bool,
                       extra: dict[str, Any]) -> dict[str, Any]:
        if not prompt:
            raise ValueError("generate needs a non-empty prompt")
        return _body(prompt=prompt, max_tokens=max_tokens,
                     stop=stop if isinstance(stop, str) or stop is None else list(stop),
                     fast_answer=list(fast_answer) if fast_answer is not None else None,
                     **extra) | {"stream": stream}

    async def generate(self, session_id: str, prompt: str, *, max_tokens: int | None = None,
                       stop: str | Sequence[str] | None = None,
                       fast_answer: Sequence[str] | None = None,
                       timeout: Timeout = NOT_GIVEN, **extra: Any) -> Generation2:
        """``POST .../generate`` (prompt only, ephemeral); never retried."""
        body = self._generate_body(prompt, max_tokens, stop, fast_answer, False, extra)
        data = await self._t.request("POST", f"/v1/sessions/{_sid(session_id)}/generate",
                                     json=body, timeout=timeout)
        return to_model(Generation2, data, "generation")

    def generate_stream(self, session_id: str, prompt: str, *, max_tokens: int | None = None,
                        stop: str | Sequence[str] | None = None,
                        fast_answer: Sequence[str] | None = None,
                        timeout: Timeout = NOT_GIVEN, **extra: Any) -> Stream[GenerationChunk2]:
        body = self._generate_body(prompt, max_tokens, stop, fast_answer, True, extra)
        return make_stream(generate_chunks_gen2, self._t, "POST",
                           f"/v1/sessions/{_sid(session_id)}/generate", json=body,
                           timeout=timeout)

    async def flash(self, session_id: str, query: str, max_tokens: int | None = None, *,
                    timeout: Timeout = NOT_GIVEN) -> FlashQuery2:
        """Register a standing question (≤ 20 per session; an exact duplicate is a 409)."""
        data = await self._t.request("POST", f"/v1/sessions/{_sid(session_id)}/flash",
                                     json=_body(query=query, max_tokens=max_tokens),
                                     timeout=timeout)
        return to_model(FlashQuery2, data, "flash query")

    async def list_flash(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> FlashList2:
        data = await self._t.request("GET", f"/v1/sessions/{_sid(session_id)}/flash",
                                     timeout=timeout)
        return to_model(FlashList2, data, "flash list")

    async def unflash(self, session_id: str, query_id: int, *,
                      timeout: Timeout = NOT_GIVEN) -> FlashDeleted:
        data = await self._t.request(
            "DELETE",
            f"/v1/sessions/{_sid(session_id)}/flash/{path_segment(query_id, 'query_id')}",
            timeout=timeout)
        return to_model(FlashDeleted, data, "flash delete answer")

    def events(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> Stream[SessionEvent]:
        """SSE: ``connected``, replayed and new ``flash_ready``, ``data_updated`` (the type
        from the ``event:`` line); ends when the session goes or the server stops."""
        return make_stream(session_events_gen2, self._t, "GET",
                           f"/v1/sessions/{_sid(session_id)}/events", timeout=timeout)

    def stream(self, session_id: str, *,
               options: SocketOptions | None = None) -> Gen2SessionSocket:
        """The session WebSocket (``async with``), no reconnect."""
        return Gen2SessionSocket(
            ws_url(self._t.base_url, f"/v1/sessions/{_sid(session_id)}/ws"),
            self._t.auth_headers(), options=options or self._socket_options(),
            redact=self._t.redact)

    def reconnecting_stream(self, session_id: str, *,
                            on_state: Callable[[LinkState], Any] | None = None,
                            backoff: Backoff | None = None, max_attempts: int | None = None,
                            options: SocketOptions | None = None) -> ReconnectingSessionStream:
        return ReconnectingSessionStream(
            lambda: self.stream(session_id, options=options), on_state=on_state,
            backoff=backoff, max_attempts=max_attempts)


class Gen2:
    """``client.v2``: server-level routes only generation 2 has, plus ``sessions``."""

    def __init__(self, transport: Transport, *,
                 socket_options: Callable[[], SocketOptions]) -> None:
        self._t = transport
        self.sessions = Gen2Sessions(transport, socket_options=socket_options)

    async def health(self, *, timeout: Timeout = NOT_GIVEN, max_retries: int = 0) -> Health2:
        """``GET /health`` (open under ``--api-key``); 503 ServiceUnavailableError while not
        ready, its counters on ``exc.body``. Not retried by default."""
        try:
            data = await self._t.request("GET", "/health", timeout=timeout,
                                         max_retries=max_retries)
        except ServiceUnavailableError as exc:
            exc.name_health_status()
            raise
        return to_model(Health2, data, "health answer")

    async def metrics(self, *, timeout: Timeout = NOT_GIVEN) -> Metrics:
        """``GET /metrics`` parsed by prometheus_client (needs the key under --api-key)."""
        response = await self._t.request_raw("GET", "/metrics", timeout=timeout)
        return Metrics.parse(response.text)

    async def models(self, *, timeout: Timeout = NOT_GIVEN) -> ModelList2:
        data = await self._t.request("GET", "/v1/models", timeout=timeout)
        return to_model(ModelList2, data, "model list")

    async def count_tokens(self, messages: Sequence[Mapping[str, Any]], *,
                           system: str | None = None,
                           tools: Sequence[Mapping[str, Any]] | None = None,
                           timeout: Timeout = NOT_GIVEN, **extra: Any) -> TokenCount:
        """``POST /v1/messages/count_tokens`` (tokenizer only, never waits on generation)."""
        body = _body(messages=[dict(m) for m in messages], system=system,
                     tools=[dict(t) for t in tools] if tools is not None else None,
                     **extra)
        data = await self._t.request("POST", "/v1/messages/count_tokens", json=body,
                                     timeout=timeout)
        return to_model(TokenCount, data, "token count")


__all__ = ["SESSION_HEADER", "Gen2", "Gen2Sessions", "session_header"]
