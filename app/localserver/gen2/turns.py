"""Chat turns and warm turns on a session (the `x-layerscale-session-id` header), and
stateless chat on the scratch sequence, with the cache figures gen 2 reports.

A gen-2 session holds its pushed data, then conversation text. A turn's rendered prompt is
matched against the conversation held after the last data entry: the shared beginning is
resumed from KV (`cached_tokens`), a diverging tail is cut off, and the rest is decoded.
The turn's prompt and reply stay in the session (unlike gen 1's generate, which rolls back),
so the next turn resumes past them. Functions marked "worker" run on the model worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..engine import Engine
from ..errors import ContextFullError
from ..generation import run_stateless
from ..sessions import QueryResult, Segment, Session

OnToken = Callable[[int, str, int], None] | None


@dataclass
class TurnResult:
    result: QueryResult
    prompt_tokens: int  # what the model read: held data before the conversation + prompt
    cached_tokens: int  # resumed from the session's KV (or the scratch prefix)
    context: int
    prefix_cached: int = 0  # the part of cached_tokens the scratch prefix supplied


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def data_end(session: Session) -> int:
    """Position after the last data entry (0 without data): the conversation starts here."""
    pos = end = 0
    for seg in session.segments:
        pos += len(seg.tokens)
        if seg.kind == "entry":
            end = pos
    return end


def overflow(n_prompt: int, context: int, param: str = "messages") -> ContextFullError:
    exc = ContextFullError(f"prompt is {n_prompt} tokens; the context holds {context} "
                           "(max_model_len), and the reply needs at least one position")
    exc.param = param
    return exc


def _truncate(engine: Engine, session: Session, pos: int) -> None:
    """worker: forget every position from pos on (only conversation text lies there)."""
    if pos >= session.n_tokens:
        return
    engine.seq_rm(session.seq, pos, -1)
    kept: list[Segment] = []
    at = 0
    for seg in session.segments:
        if at + len(seg.tokens) <= pos:
            kept.append(seg)
        elif at < pos:
            kept.append(Segment(seg.kind, seg.tokens[: pos - at], seg.entry))
        at += len(seg.tokens)
    session.segments = kept
    session.n_tokens = pos
    session.kv_version += 1


def _place(engine: Engine, session: Session, prompt: list[int]) -> tuple[int, int]:
    """worker: keep the longest held conversation prefix the prompt shares; (base, common)."""
    session.check_alive()
    base = data_end(session)
    if base + len(prompt) >= session.context:
        raise overflow(base + len(prompt), session.context)
    held = session.tokens()[base:]
    common = _common(held, prompt)
    _truncate(engine, session, base + common)
    return base, common


def run_turn(engine: Engine, session: Session, prompt: list[int], max_tokens: int,
             stop: list[str], on_token: OnToken = None) -> TurnResult:
    """worker: one chat turn on the session; its prompt and reply stay held."""
    base, common = _place(engine, session, prompt)
    result = session.query(engine, prompt[common:], max_tokens, stop=stop, on_token=on_token,
                           keep=True)
    return TurnResult(result, base + len(prompt), base + common, session.context)


def warm(engine: Engine, session: Session, prompt: list[int]) -> tuple[str, int, int]:
    """worker: prefill the next turn's prompt; (finish_reason, prompt_tokens, cached)."""
    base, common = _place(engine, session, prompt)
    rest = prompt[common:]
    if not rest:
        return "covered", base + len(prompt), base + common
    engine.decode(session.seq, rest, session.n_tokens, want_logits=False)
    session.segments.append(Segment("text", rest))
    session.n_tokens += len(rest)
    session.kv_version += 1
    return "warmed", base + len(prompt), base + common


def run_scratch(engine: Engine, scratch: Session, prompt: list[int], max_tokens: int,
                stop: list[str], on_token: OnToken = None) -> TurnResult:
    """worker: a stateless prompt; the part shared with the previous one is reused."""
    if len(prompt) >= scratch.context:
        raise overflow(len(prompt), scratch.context)
    cached = min(_common(scratch.tokens(), prompt), max(len(prompt) - 1, 0))
    result = run_stateless(engine, scratch, prompt, max_tokens, stop, on_token)
    return TurnResult(result, len(prompt), cached, scratch.context, prefix_cached=cached)
