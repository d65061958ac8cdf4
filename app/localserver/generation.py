"""Running generations on the worker, for sessions and for the stateless endpoints,
with token streaming bridged from the worker thread to an asyncio queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from . import config
from .engine import Engine
from .errors import APIError, ContextFullError
from .prompts import char_limit, tokenize
from .sessions import QueryResult, Segment, Session
from .state import ServerState

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside the worker when the streaming client went away."""


@dataclass
class PromptPlan:
    """Tokens to decode after the session's current end (the part not already cached)."""

    tokens: list[int]
    reused: int = 0


def clamp_generate_tokens(value: int | None, default: int = config.DEFAULT_GENERATE_MAX_TOKENS
                          ) -> int:
    return max(1, min(value or default, config.MAX_GENERATE_TOKENS))


async def plan_rendered(state: ServerState, session: Session, rendered: str) -> PromptPlan:
    """Chat rendering on a session: reuse the session's tokens when the rendering starts
    with them, else place the rendering after the data."""
    tokens = await tokenize(state.require_engine(), rendered,
                            limit=char_limit(state.config.ctx_size), param="messages")
    cached = session.tokens()
    if cached and len(tokens) > len(cached) and tokens[: len(cached)] == cached:
        return PromptPlan(tokens[len(cached):], reused=len(cached))
    return PromptPlan(tokens)


def run_stateless(engine: Engine, scratch: Session, prompt_tokens: list[int], max_tokens: int,
                  stop: list[str], on_token: Callable[[int, str, int], None] | None
                  ) -> QueryResult:
    """worker: a one-shot prompt on the scratch sequence, keeping the prompt cached so a
    following request that shares its beginning decodes only the difference."""
    if not prompt_tokens:
        raise APIError(400, "prompt is empty", code="empty_prompt", param="prompt")
    if len(prompt_tokens) >= scratch.context:
        raise ContextFullError(
            f"prompt of {len(prompt_tokens)} tokens does not fit the context of "
            f"{scratch.context}")
    cached = scratch.tokens()
    common = 0
    for a, b in zip(cached, prompt_tokens, strict=False):
        if a != b:
            break
        common += 1
    common = min(common, len(prompt_tokens) - 1)  # the last token is decoded for logits
    engine.seq_rm(scratch.seq, common, -1)
    scratch.segments = [Segment("text", prompt_tokens[:common])] if common else []
    scratch.n_tokens = common
    body = prompt_tokens[common:-1]
    if body:
        engine.decode(scratch.seq, body, common, want_logits=False)
        scratch.segments.append(Segment("text", body))
        scratch.n_tokens += len(body)
    return scratch.query(engine, prompt_tokens[-1:], max_tokens, stop=stop, on_token=on_token)


class CancelFlag:
    """Set on the event loop when nobody wants the answer any more; the worker checks it
    at every token (on_token) and stops there."""

    def __init__(self) -> None:
        self.cancelled = False

    def on_token(self, _token: int, _piece: str, _pos: int) -> None:
        if self.cancelled:
            raise Cancelled()


async def run_for_client(request: Request, state: ServerState, fn: Callable[..., T],
                         *args: Any, **kwargs: Any) -> T:
    """Run a generation (fn takes on_token=) for a non-streaming request; if the client
    disconnects or times out first, stop it at its next token instead of finishing an
    answer nobody reads (and keeping the session in use meanwhile)."""
    flag = CancelFlag()
    job = asyncio.ensure_future(state.worker.call(fn, *args, on_token=flag.on_token, **kwargs))
    while True:
        done, _ = await asyncio.wait({job}, timeout=config.DISCONNECT_POLL_SECONDS)
        if done:
            return job.result()
        if await request.is_disconnected():
            flag.cancelled = True
            # The job stops at its next token; wait for that so the session is not
            # reported idle while the worker still runs on it.
            with contextlib.suppress(Exception):
                await job
            raise APIError(499, "the client closed the connection before the answer was ready",
                           code="client_disconnected")


class TokenStream(CancelFlag):
    """Collects tokens produced on the worker and hands them to an async consumer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def on_token(self, token: int, piece: str, pos: int) -> None:
        super().on_token(token, piece, pos)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, ("token", (token, piece, pos)))

    async def run(self, job: asyncio.Future[Any]) -> AsyncIterator[tuple[str, Any]]:
        """Yield ("token", (id, piece, pos)) items, then ("done", result) or raise."""
        job.add_done_callback(lambda _f: self._queue.put_nowait(("end", None)))
        try:
            while True:
                kind, item = await self._queue.get()
                if kind == "token":
                    yield kind, item
                    continue
                # Tokens queued before the job finished were delivered first (FIFO).
                yield "done", job.result()
                return
        finally:
            if not job.done():
                self.cancelled = True
                # The worker stops at its next token; nobody awaits the outcome any more.
                job.add_done_callback(lambda f: f.cancelled() or f.exception())


def submit(state: ServerState, fn: Callable[..., Any], *args: Any, **kwargs: Any
           ) -> asyncio.Future[Any]:
    return asyncio.ensure_future(state.worker.call(fn, *args, **kwargs))


@dataclass
class ChatJob:
    """A prompt ready for the worker: on a session (cache reuse) or the scratch sequence."""

    state: ServerState
    session: Session | None
    tokens: list[int]
    reused: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.reused + len(self.tokens)

    def run(self, max_tokens: int, stop: list[str],
            on_token: Callable[[int, str, int], None] | None = None) -> QueryResult:
        """worker"""
        engine = self.state.require_engine()
        if self.session is not None:
            return self.session.query(engine, self.tokens, max_tokens, stop=stop,
                                      on_token=on_token)
        assert self.state.scratch is not None
        return run_stateless(engine, self.state.scratch, self.tokens, max_tokens, stop,
                             on_token)


async def chat_job(state: ServerState, session_id: str | None, rendered: str) -> ChatJob:
    engine = state.require_engine()
    if session_id:
        session = state.sessions().get(session_id)
        plan = await plan_rendered(state, session, rendered)
        return ChatJob(state, session, plan.tokens, plan.reused)
    return ChatJob(state, None, await tokenize(engine, rendered,
                                               limit=char_limit(state.config.ctx_size),
                                               param="messages"))
