"""Text a client asks the model to read: a size cap, and tokenizing long text on a helper
thread so that the event loop (health, pushes, other sockets) never waits on it.

llama.cpp's tokenizer only reads the vocabulary and ctypes releases the GIL while it
runs, so a helper thread tokenizes in parallel with the model worker.
"""

from __future__ import annotations

import asyncio

from . import config
from .engine import Engine
from .errors import APIError


def char_limit(ctx_size: int) -> int:
    """Characters of text accepted at once: far more than any context holds (a token is
    rarely under two characters), so only a flood is refused, before any work."""
    return max(config.MAX_PROMPT_CHARS, 8 * ctx_size)


def check_length(text: str, limit: int, param: str) -> None:
    if len(text) > limit:
        raise APIError(400, f"{param} is {len(text)} characters long; at most {limit} are "
                       "accepted", code="prompt_too_long", param=param)


async def tokenize(engine: Engine, text: str, *, limit: int, param: str,
                   add_special: bool = False, parse_special: bool = True) -> list[int]:
    check_length(text, limit, param)
    if len(text) > config.OFFLOOP_TOKENIZE_CHARS:
        return await asyncio.to_thread(engine.tokenize, text, add_special=add_special,
                                       parse_special=parse_special)
    return engine.tokenize(text, add_special=add_special, parse_special=parse_special)
