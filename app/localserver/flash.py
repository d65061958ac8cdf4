"""Flash queries: registration and (re)evaluation after data updates."""

from __future__ import annotations

import logging
import time
from typing import Any

from . import config
from .engine import Engine
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
    fq.value = result.generation.text
    fq.confidence = result.confidence
    fq.answer_n_tokens = len(result.generation.tokens)
    fq.finish_reason = result.generation.finish_reason
    fq.data_version = session.data_version
    fq.kv_version = session.kv_version
    fq.evaluated_at = time.time()
    fq.has_answer = True
    event = fq.ready_event()
    session.hub.publish(event)
    return event
