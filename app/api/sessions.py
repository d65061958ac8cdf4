"""``client.sessions``: session lifecycle, ingest, generation, flash queries, events, sockets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from app.api.backoff import Backoff
from app.api.errors import APITimeoutError, LayerScaleError
from app.api.frames import to_model, to_stats
from app.api.models import (
    AppendResult,
    DeleteResult,
    FlashList,
    FlashRegistration,
    GenerateChunk,
    GenerateResult,
    MarkPrefixResult,
    PushResult,
    SessionEvent,
    SessionInfo,
    SessionList,
    SessionState,
    Stats,
    StreamStatus,
    UnflashResult,
)
from app.api.reconnect import LinkState, ReconnectingSessionStream
from app.api.streams import Stream, generate_chunks, make_stream, session_events
from app.api.transport import NOT_GIVEN, Timeout, Transport, path_segment
from app.api.ws import SessionSocket, SocketOptions, entry_to_wire, ws_url

if TYPE_CHECKING:
    from app.api.gen2 import Gen2Sessions

log = logging.getLogger("app.api")

DEFAULT_PUSH_WAIT = 30.0


def _sid(session_id: str) -> str:
    """A session id as one path segment: an id can never change the target path or host."""
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("session_id must be a non-empty string")
    return path_segment(session_id, "session_id")


def _body(**fields: Any) -> dict[str, Any]:
    """Request body without the fields the caller left as None (so server defaults apply)."""
    return {k: v for k, v in fields.items() if v is not None}


class Sessions:
    """Everything under ``/v1/sessions``. Reached as ``client.sessions``."""

    def __init__(
        self,
        transport: Transport,
        *,
        socket_options: Callable[[], SocketOptions],
    ) -> None:
        self._t = transport
        self._socket_options = socket_options
        # Set by the client: generation 2's sessions once the server is known to speak it,
        # so the calls both generations have (query, query_stream) go to the right routes.
        self.gen2: Callable[[], Any] = lambda: None

    # -- lifecycle -------------------------------------------------------------------

    async def create(
        self,
        type: str,
        *,
        prompt: str | None = None,
        context: int | None = None,
        window_size: int | None = None,
        flash: Sequence[Mapping[str, Any]] | None = None,
        mark_prefix: bool = False,
        timeout: Timeout = NOT_GIVEN,
        **extra: Any,
    ) -> SessionInfo:
        """Create a session (``POST /v1/sessions/init``).

        ``mark_prefix=True`` then freezes the system prompt as the cache prefix (a
        client-side step, as in the seed); if that step fails the new session is
        deleted again so nothing leaks, and the error is raised.
        """
        body = _body(
            type=type,
            prompt=prompt,
            context=context,
            window_size=window_size,
            flash=[dict(f) for f in flash] if flash is not None else None,
            **extra,
        )
        data = await self._t.request("POST", "/v1/sessions/init", json=body, timeout=timeout)
        info = to_model(SessionInfo, data, "session init answer")
        if mark_prefix:
            try:
                marked = await self.mark_prefix(info.session_id, timeout=timeout)
            except BaseException:
                await self._delete_quietly(info.session_id)
                raise
            info.prefix_end = marked.prefix_end
        return info

    async def _delete_quietly(self, session_id: str) -> None:
        try:
            await asyncio.shield(self.delete(session_id, timeout=10.0))
        except (LayerScaleError, asyncio.CancelledError):
            log.warning("could not delete half-created session %s", session_id)

    async def list(self, *, timeout: Timeout = NOT_GIVEN) -> SessionList:
        """``GET /v1/sessions``."""
        data = await self._t.request("GET", "/v1/sessions", timeout=timeout)
        return to_model(SessionList, data, "session list")

    async def get(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> SessionState:
        """``GET /v1/sessions/{id}/state``."""
        data = await self._t.request(
            "GET", f"/v1/sessions/{_sid(session_id)}/state", timeout=timeout
        )
        return to_model(SessionState, data, "session state")

    async def delete(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> DeleteResult:
        """``DELETE /v1/sessions/{id}`` (frees the context; retried like any idempotent call)."""
        data = await self._t.request("DELETE", f"/v1/sessions/{_sid(session_id)}", timeout=timeout)
        return to_model(DeleteResult, data if isinstance(data, dict) else {}, "delete answer")

    async def append(
        self, session_id: str, text: str, *, timeout: Timeout = NOT_GIVEN
    ) -> AppendResult:
        """Tokenize and append raw text (``POST .../append``)."""
        data = await self._t.request(
            "POST", f"/v1/sessions/{_sid(session_id)}/append", json={"text": text}, timeout=timeout
        )
        return to_model(AppendResult, data, "append answer")

    async def mark_prefix(
        self, session_id: str, *, timeout: Timeout = NOT_GIVEN
    ) -> MarkPrefixResult:
        """Freeze the current position as the reusable prefix (``POST .../mark_prefix``)."""
        data = await self._t.request(
            "POST", f"/v1/sessions/{_sid(session_id)}/mark_prefix", json={}, timeout=timeout
        )
        return to_model(MarkPrefixResult, data, "mark_prefix answer")

    # -- generation ------------------------------------------------------------------

    def _generate_body(
        self,
        prompt: str | None,
        messages: Sequence[Mapping[str, Any]] | None,
        tools: Sequence[Mapping[str, Any]] | None,
        max_tokens: int | None,
        fast_answer: bool | None,
        clear_after: bool | None,
        stop: str | Sequence[str] | None,
        stream: bool,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        return _body(
            prompt=prompt,
            messages=[dict(m) for m in messages] if messages is not None else None,
            tools=[dict(t) for t in tools] if tools is not None else None,
            max_tokens=max_tokens,
            fast_answer=fast_answer,
            clear_after=clear_after,
            stop=stop if isinstance(stop, str) or stop is None else list(stop),
            **extra,
        ) | {"stream": stream}

    async def query(
        self,
        session_id: str,
        *,
        prompt: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        max_tokens: int | None = None,
        fast_answer: bool | None = None,
        clear_after: bool | None = None,
        stop: str | Sequence[str] | None = None,
        timeout: Timeout = NOT_GIVEN,
        **extra: Any,
    ) -> GenerateResult:
        """Generate against the session's context (``POST .../generate``); never retried.

        On a generation-2 server: prompt only (``messages``/``tools`` raise NotOfferedError),
        answered by its generate and returned in this model."""
        if (v2 := self.gen2()) is not None:
            return await gen2_query(v2, session_id, prompt, messages, tools, max_tokens,
                                    stop, timeout, extra)
        body = self._generate_body(
            prompt, messages, tools, max_tokens, fast_answer, clear_after, stop, False, extra
        )
        data = await self._t.request(
            "POST", f"/v1/sessions/{_sid(session_id)}/generate", json=body, timeout=timeout
        )
        return to_model(GenerateResult, data, "generate answer")

    def query_stream(
        self,
        session_id: str,
        *,
        prompt: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        max_tokens: int | None = None,
        fast_answer: bool | None = None,
        clear_after: bool | None = None,
        stop: str | Sequence[str] | None = None,
        timeout: Timeout = NOT_GIVEN,
        **extra: Any,
    ) -> Stream[GenerateChunk]:
        """Stream a generation: token chunks, then the final ``done=True`` chunk.

        ``timeout`` bounds the wait for the response to start, not the whole stream.
        On a generation-2 server its text pieces arrive as ``token`` chunks, as here.
        """
        if (v2 := self.gen2()) is not None:
            return gen2_query_stream(v2, session_id, prompt, messages, tools, max_tokens,
                                     stop, timeout, extra)
        body = self._generate_body(
            prompt, messages, tools, max_tokens, fast_answer, clear_after, stop, True, extra
        )
        return make_stream(
            generate_chunks,
            self._t,
            "POST",
            f"/v1/sessions/{_sid(session_id)}/generate",
            json=body,
            timeout=timeout,
        )

    # -- streaming ingest ------------------------------------------------------------

    async def push(
        self,
        session_id: str,
        data: Iterable[Any],
        *,
        wait: bool = False,
        wait_timeout: float = DEFAULT_PUSH_WAIT,
        poll_interval: float = 0.05,
        timeout: Timeout = NOT_GIVEN,
    ) -> PushResult:
        """Push entries into the session's ring buffer (``POST .../stream/push``, never retried).

        ``data`` items may be protocol dicts, objects with ``to_entry()`` or pydantic
        models. With ``wait=True`` it then polls ``stream/status`` until the queue is
        empty and ``items_processed >= total_enqueued`` of this push's answer;
        APITimeoutError after ``wait_timeout`` seconds.
        """
        entries = [entry_to_wire(e) for e in data]
        answer = await self._t.request(
            "POST",
            f"/v1/sessions/{_sid(session_id)}/stream/push",
            json={"data": entries},
            timeout=timeout,
        )
        result = to_model(PushResult, answer, "push answer")
        if wait:
            await self.wait_processed(
                session_id, result.total_enqueued, timeout=wait_timeout, poll_interval=poll_interval
            )
        return result

    async def wait_processed(
        self,
        session_id: str,
        total_enqueued: int,
        *,
        timeout: float = DEFAULT_PUSH_WAIT,
        poll_interval: float = 0.05,
    ) -> StreamStatus:
        """Poll ``stream/status`` until everything up to ``total_enqueued`` is decoded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        interval = poll_interval
        while True:
            remaining = deadline - loop.time()
            status = await self.stream_status(session_id, timeout=max(remaining, 0.001))
            if status.streaming.error:
                raise LayerScaleError(
                    f"session {session_id} stream processor failed: {status.streaming.error}",
                    body=status.model_dump(),
                )
            if (
                status.streaming.queue_size == 0
                and status.statistics.items_processed >= total_enqueued
            ):
                return status
            if loop.time() + interval > deadline:
                raise APITimeoutError(
                    f"pushed data not processed within {timeout:g} s "
                    f"(queue {status.streaming.queue_size}, processed "
                    f"{status.statistics.items_processed}/{total_enqueued})"
                )
            await asyncio.sleep(interval)  # polling cadence the protocol prescribes, not a sync
            interval = min(interval * 1.5, 0.5)

    async def stream_status(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> StreamStatus:
        """``GET .../stream/status``."""
        data = await self._t.request(
            "GET", f"/v1/sessions/{_sid(session_id)}/stream/status", timeout=timeout
        )
        return to_model(StreamStatus, data, "stream status")

    async def stats(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> Stats:
        """``GET .../stats``; the model subclass matches the session type (e.g. OhlcvStats)."""
        data = await self._t.request(
            "GET", f"/v1/sessions/{_sid(session_id)}/stats", timeout=timeout
        )
        return to_stats(data)

    # -- flash queries ---------------------------------------------------------------

    async def flash(
        self,
        session_id: str,
        query: str,
        max_tokens: int | None = None,
        *,
        timeout: Timeout = NOT_GIVEN,
    ) -> FlashRegistration:
        """Register a flash query (``POST .../flash``)."""
        data = await self._t.request(
            "POST",
            f"/v1/sessions/{_sid(session_id)}/flash",
            json=_body(query=query, max_tokens=max_tokens),
            timeout=timeout,
        )
        return to_model(FlashRegistration, data, "flash answer")

    async def list_flash(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> FlashList:
        """``GET .../flash``: the queries and their cached answers."""
        data = await self._t.request(
            "GET", f"/v1/sessions/{_sid(session_id)}/flash", timeout=timeout
        )
        return to_model(FlashList, data, "flash list")

    async def unflash(
        self, session_id: str, query_id: int, *, timeout: Timeout = NOT_GIVEN
    ) -> UnflashResult:
        """``DELETE .../flash/{query_id}``."""
        data = await self._t.request(
            "DELETE",
            f"/v1/sessions/{_sid(session_id)}/flash/{path_segment(query_id, 'query_id')}",
            timeout=timeout,
        )
        return to_model(UnflashResult, data, "unflash answer")

    # -- events ----------------------------------------------------------------------

    def events(self, session_id: str, *, timeout: Timeout = NOT_GIVEN) -> Stream[SessionEvent]:
        """Subscribe to session events over SSE: connected, data_updated, flash_ready.

        Ends when the server closes the stream; ``timeout`` bounds only the opening.
        """
        return make_stream(
            session_events,
            self._t,
            "GET",
            f"/v1/sessions/{_sid(session_id)}/events",
            timeout=timeout,
        )

    def stream(self, session_id: str, *, options: SocketOptions | None = None) -> SessionSocket:
        """The session WebSocket (``async with client.sessions.stream(id) as ws``); no reconnect."""
        return SessionSocket(
            ws_url(self._t.base_url, f"/v1/sessions/{_sid(session_id)}/ws"),
            self._t.auth_headers(),
            options=options or self._socket_options(),
            redact=self._t.redact,
        )

    def reconnecting_stream(
        self,
        session_id: str,
        *,
        on_state: Callable[[LinkState], Any] | None = None,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        options: SocketOptions | None = None,
    ) -> ReconnectingSessionStream:
        """A session WebSocket that reconnects by itself; see :mod:`app.api.reconnect`."""
        return ReconnectingSessionStream(
            lambda: self.stream(session_id, options=options),
            on_state=on_state,
            backoff=backoff,
            max_attempts=max_attempts,
        )


# -- the calls both generations have, answered by generation 2 ------------------------------


def _gen2_prompt(prompt: str | None, messages: Any, tools: Any) -> str:
    from app.api.errors import NotOfferedError

    if messages or tools:
        raise NotOfferedError("chat messages and tools in a session generate")
    if not prompt:
        raise ValueError("generation 2 generates from a non-empty prompt")
    return prompt


async def gen2_query(v2: Gen2Sessions, session_id: str, prompt: str | None, messages: Any,
                     tools: Any, max_tokens: int | None, stop: Any, timeout: Timeout,
                     extra: dict[str, Any]) -> GenerateResult:
    extra = {k: v for k, v in extra.items() if k not in ("fast_answer", "clear_after")}
    g = await v2.generate(session_id, _gen2_prompt(prompt, messages, tools),
                          max_tokens=max_tokens, stop=stop, timeout=timeout, **extra)
    usage = g.usage
    return GenerateResult.model_validate({
        **(g.model_extra or {}), "text": g.text, "finish_reason": g.finish_reason,
        "n_tokens": usage.completion_tokens if usage and usage.completion_tokens else 0,
        "total_tokens": usage.total_tokens if usage else None, "flash": g.flash,
        "flash_id": g.flash_id, "data_version": g.data_version, "confidence": g.confidence,
        "speculative": g.speculative, "logit_gap": g.logit_gap})


def gen2_query_stream(v2: Gen2Sessions, session_id: str, prompt: str | None, messages: Any,
                      tools: Any, max_tokens: int | None, stop: Any, timeout: Timeout,
                      extra: dict[str, Any]) -> Stream[GenerateChunk]:
    text = _gen2_prompt(prompt, messages, tools)
    extra = {k: v for k, v in extra.items() if k not in ("fast_answer", "clear_after")}
    inner = v2.generate_stream(session_id, text, max_tokens=max_tokens, stop=stop,
                               timeout=timeout, **extra)

    async def run() -> Any:
        try:
            async for chunk in inner:
                if not chunk.done:
                    yield GenerateChunk(done=False, token=chunk.text or "")
                    continue
                usage = chunk.usage
                yield GenerateChunk.model_validate({
                    **(chunk.model_extra or {}), "done": True,
                    "finish_reason": chunk.finish_reason,
                    "n_tokens": usage.completion_tokens if usage else None,
                    "data_version": chunk.data_version, "flash": chunk.flash,
                    "confidence": chunk.confidence})
        finally:
            await inner.aclose()

    return Stream(run())
