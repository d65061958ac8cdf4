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


def register(engine: Engine, session: Session, query: str, max_tokens: int | None
             ) -> FlashQuery:
    """Tokenizing is cheap and read-only, so it is safe off the worker thread."""
    fq = FlashQuery(id=session.next_flash_id, query=query,
                    max_tokens=clamp_max_tokens(max_tokens),
                    tokens=engine.tokenize(query, parse_special=True))
    if not fq.tokens:
        raise APIError(422, "query must contain some text", code="invalid_value", param="query")
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
