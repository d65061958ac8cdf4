"""Flash queries: registration and (re)evaluation after data updates."""

from __future__ import annotations

import logging
import time
from typing import Any

from . import config
from .engine import DecodeError, DecodePart, Engine, Generation, GreedyStart
from .errors import APIError
from .sessions import FlashQuery, Session

log = logging.getLogger("layerscale.localserver.flash")


def clamp_max_tokens(value: int | None) -> int:
    if value is None:
        return config.FLASH_DEFAULT_MAX_TOKENS
    return max(1, min(config.FLASH_MAX_TOKENS_LIMIT, value))


def check_room(session: Session, n_new: int = 1) -> None:
    """The per-session cap: every data update re-answers each query on the one worker."""
    if len(session.flash) + n_new > config.MAX_FLASH_QUERIES:
        raise APIError(400, f"a session holds at most {config.MAX_FLASH_QUERIES} flash "
                       f"queries ({len(session.flash)} registered); delete one first",
                       code="flash_query_limit", param="flash")


def register(session: Session, query: str, tokens: list[int], max_tokens: int | None
             ) -> FlashQuery:
    """Add a query whose text was tokenized by the caller (off the loop when long)."""
    check_room(session)
    fq = FlashQuery(id=session.next_flash_id, query=query,
                    max_tokens=clamp_max_tokens(max_tokens), tokens=tokens)
    if not fq.tokens:
        raise APIError(422, "query must contain some text", code="invalid_value", param="query")
    # Room for the question and its answer is kept free after the data (headroom): a
    # query that needs more than half the context would leave no room for data at all.
    limit = session.context // 2
    if len(fq.tokens) + fq.max_tokens > limit:
        raise APIError(
            422, f"query of {len(fq.tokens)} tokens plus max_tokens {fq.max_tokens} exceeds "
            f"{limit}, half of the session's context of {session.context}",
            code="flash_query_too_long", param="query")
    session.next_flash_id += 1
    session.flash[fq.id] = fq
    return fq


def is_fresh(session: Session, fq: FlashQuery) -> bool:
    return fq.has_answer and fq.kv_version == session.kv_version


def evaluate(engine: Engine, session: Session, query_id: int) -> dict[str, Any] | None:
    """worker: answer one flash query against the session's current data, then roll back.

    Returns the flash_ready event (also published), or None when nothing was needed.
    """
    fq = session.flash.get(query_id)
    if session.deleted or fq is None or is_fresh(session, fq):
        return None
    try:
        result = session.query(engine, fq.tokens, fq.max_tokens)
    except APIError as exc:
        log.warning("flash query %d of %s not answered: %s", fq.id, session.id, exc.message)
        return None
    except Exception as exc:  # never let one query stop the session's processor
        log.warning("flash query %d of %s failed: %s", fq.id, session.id, exc)
        return None
    return _record(session, fq, result.generation, result.confidence)


def _record(session: Session, fq: FlashQuery, generation: Generation,
            confidence: float | None) -> dict[str, Any]:
    """worker: keep an answer computed against the session's current data; publish it."""
    fq.value = generation.text
    fq.confidence = confidence
    fq.answer_n_tokens = len(generation.tokens)
    fq.finish_reason = generation.finish_reason
    fq.data_version = session.data_version
    fq.kv_version = session.kv_version
    fq.evaluated_at = time.time()
    fq.has_answer = True
    event = fq.ready_event()
    session.hub.publish(event)
    return event


def evaluate_round(engine: Engine, picks: list[tuple[Session, int]]
                   ) -> list[dict[str, Any] | None]:
    """worker: answer one flash query in each of several sessions (at most one per session:
    a query is decoded in its session's own sequence, after the data), in shared decode
    steps: all the questions in one llama_decode, then each answer token of all the
    unfinished answers together. The answers are the greedy tokens evaluate() gives each
    query alone; positions are rolled back afterwards as there.

    Returns one flash_ready event (or None: fresh, gone, or not answered) per pick.
    """
    out: list[dict[str, Any] | None] = [None] * len(picks)
    ready: list[tuple[int, Session, FlashQuery, int]] = []
    for index, (session, query_id) in enumerate(picks):
        fq = session.flash.get(query_id)
        if session.deleted or fq is None or is_fresh(session, fq):
            continue
        start = session.n_tokens
        if session.context - start - len(fq.tokens) < 1:
            log.warning("flash query %d of %s not answered: prompt of %d tokens does not "
                        "fit: the session holds %d of %d tokens", fq.id, session.id,
                        len(fq.tokens), start, session.context)
            continue
        ready.append((index, session, fq, start))
    if not ready:
        return out
    try:
        # Questions of one length per call: llama.cpp splits a call whose sequences have
        # different token counts into uneven sub-batches, and its CPU kernels then round
        # differently from the question decoded alone (greedy answers could flip at a
        # near-tie); equal lengths keep each question's arithmetic as it is alone.
        logits: list[Any] = [None] * len(ready)
        by_length: dict[int, list[int]] = {}
        for i, (_, _, fq, _) in enumerate(ready):
            by_length.setdefault(len(fq.tokens), []).append(i)
        for group in by_length.values():
            rows = engine.decode_many([DecodePart(ready[i][1].seq, ready[i][2].tokens,
                                                  ready[i][3]) for i in group])
            for i, row in zip(group, rows, strict=True):
                logits[i] = row
        starts = []
        for (_, s, fq, start), row in zip(ready, logits, strict=True):
            assert row is not None
            pos = start + len(fq.tokens)
            starts.append(GreedyStart(s.seq, pos, row, min(fq.max_tokens, s.context - pos)))
        answers = engine.generate_many(starts)
    except DecodeError as exc:
        # No room for all of them at once (or a failed call): each query on its own, so
        # one session's full cache never costs another its answer.
        log.warning("shared flash round of %d queries failed (%s): answering each alone",
                    len(ready), exc)
        for _, s, _, start in ready:
            engine.seq_rm(s.seq, start, -1)
        for index, s, fq, _ in ready:
            out[index] = evaluate(engine, s, fq.id)
        return out
    finally:
        for _, s, _, start in ready:
            engine.seq_rm(s.seq, start, -1)
    for (index, s, fq, _), start, answer in zip(ready, starts, answers, strict=True):
        _, gap = engine.top_gap(start.logits)
        out[index] = _record(s, fq, answer, gap)
    return out
