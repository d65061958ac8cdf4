"""A generation request's prompt, placed on a session (session header) or the scratch
sequence, and run on the worker with gen 2's bookkeeping (busy, turns, counters)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from .. import prompts
from ..errors import APIError, from_validation
from ..generation import TokenStream, run_for_client, submit
from ..in_use import InUse
from ..sessions import Session
from ..web import read_json
from .errors import unsupported
from .state import Gen2, session_of
from .turns import TurnResult, data_end, overflow, run_scratch, run_turn

SESSION_HEADER = "x-layerscale-session-id"
M = TypeVar("M", bound=BaseModel)


async def parse(request: Request, model: type[M]) -> M:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise APIError(400, "request body must be a JSON object", code="invalid_json")
    if "session_id" in data and "session_id" in model.model_fields:
        raise unsupported("session_id", f"is not read from the body: send the session id "
                          f"in the {SESSION_HEADER} header")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first.get("type") == "extra_forbidden":
            name = ".".join(str(p) for p in first.get("loc", ()))
            raise unsupported(name) from None
        raise from_validation(exc) from None


@dataclass
class Job:
    g: Gen2
    session: Session | None
    tokens: list[int]

    def run(self, max_tokens: int, stop: list[str], on_token: Any = None) -> TurnResult:
        """worker"""
        engine = self.g.server.require_engine()
        if self.session is not None:
            return run_turn(engine, self.session, self.tokens, max_tokens, stop, on_token)
        assert self.g.server.scratch is not None
        return run_scratch(engine, self.g.server.scratch, self.tokens, max_tokens, stop,
                           on_token)

    @property
    def context(self) -> int:
        if self.session is not None:
            return self.session.context
        scratch = self.g.server.scratch
        return scratch.context if scratch is not None else self.g.server.config.ctx_size

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        if self.session is None:
            yield
            return
        with InUse(self.session):
            yield

    def settle(self, turn: TurnResult) -> None:
        c = self.g.counters
        c.prompt_tokens += turn.prompt_tokens
        c.generated_tokens += len(turn.result.generation.tokens)
        if self.session is not None:
            self.g.extra(self.session).turns += 1
            c.session_turns += 1
            c.session_cached_tokens += turn.cached_tokens


def session_for(request: Request, g: Gen2) -> Session | None:
    sid = request.headers.get(SESSION_HEADER)
    if sid is None:
        return None
    return session_of(request, sid)[1]


async def prepare(request: Request, g: Gen2, rendered: str, *, images: bool = False) -> Job:
    """Tokenize a rendered prompt and refuse what can never run, before any byte streams."""
    engine = g.server.require_engine()
    session = session_for(request, g)
    if session is not None and images:
        raise APIError(400, "images cannot be sent on a session turn", code="invalid_value",
                       param=SESSION_HEADER)
    if images:
        raise APIError(400, "this model does not take images", code="invalid_value",
                       param="messages")
    tokens = await prompts.tokenize(engine, rendered,
                                    limit=prompts.char_limit(g.server.config.ctx_size),
                                    param="messages")
    job = Job(g, session, tokens)
    held = data_end(session) if session is not None else 0
    if held + len(tokens) >= job.context:
        raise overflow(held + len(tokens), job.context)
    return job


async def run_once(request: Request, job: Job, max_tokens: int, stop: list[str]
                   ) -> TurnResult:
    with job.g.request(), job.busy():
        turn = await run_for_client(request, job.g.server, job.g.tracked(job.run),
                                    max_tokens, stop)
    job.settle(turn)
    return turn


async def run_streaming(job: Job, max_tokens: int, stop: list[str]
                        ) -> AsyncIterator[tuple[str, Any]]:
    """("token", (id, piece, pos)) items, then ("done", TurnResult); raises APIError."""
    state = job.g.server
    assert state.loop is not None
    stream = TokenStream(state.loop)
    with job.g.request(), job.busy():
        future = submit(state, job.g.tracked(job.run), max_tokens, stop, stream.on_token)
        async for kind, item in stream.run(future):
            if kind == "done":
                job.settle(item)
            yield kind, item


def max_reply(job: Job, *values: int | None) -> int:
    """The first value given, else no cap: the reply may run to the context's end."""
    for value in values:
        if value is not None:
            return value
    return job.context
