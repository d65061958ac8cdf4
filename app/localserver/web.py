"""HTTP helpers: bounded JSON body reading, validation, SSE framing."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from . import config
from .errors import APIError, from_validation

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, limit: int = config.MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise APIError(400, "invalid Content-Length header", code="invalid_header") from None
        if size > limit:
            raise _too_large(size, limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(total, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> APIError:
    return APIError(413, f"request body of {size} bytes exceeds the limit of {limit} bytes",
                    code="body_too_large")


async def read_json(request: Request) -> Any:
    raw = await read_body(request)
    if not raw.strip():
        return {}
    return await loads_offloop(raw)


async def loads_offloop(raw: bytes | str) -> Any:
    """loads_checked, on a thread when the text is large: megabytes of JSON take tens of
    milliseconds to parse, too long for the event loop."""
    if len(raw) > config.OFFLOOP_JSON_BYTES:
        return await asyncio.to_thread(loads_checked, raw)
    return loads_checked(raw)


def loads_checked(raw: bytes | str) -> Any:
    """json.loads that turns every way a body can be unusable into a 400 in the protocol's
    shape: bad syntax, bad UTF-8, nesting too deep (RecursionError in the C parser),
    integers longer than Python's 4300-digit limit (a plain ValueError), and unpaired
    UTF-16 surrogates ("\\ud800"), which could never be encoded back into a response."""
    if _too_deep(raw):
        raise APIError(400, f"request body is nested more than {config.MAX_JSON_DEPTH} "
                       "levels deep", code="invalid_json")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"request body is not valid JSON: {exc}", code="invalid_json"
                       ) from None
    except RecursionError:
        raise APIError(400, "request body is nested too deeply", code="invalid_json") from None
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string"
        raise APIError(400, f"request body has a value that cannot be read: {exc}",
                       code="invalid_json") from None
    if _SURROGATE_ESCAPE.search(raw if isinstance(raw, bytes) else raw.encode("utf-8",
                                                                              "replace")):
        where = _lone_surrogate(data, "")
        if where is not None:
            raise APIError(400, f"{where or 'body'}: string contains an unpaired UTF-16 "
                           "surrogate; send valid Unicode", code="invalid_json",
                           param=where or None)
    return data


# A \uD800-\uDFFF escape: only then can a parsed string hold a lone surrogate (raw
# surrogates are invalid UTF-8 and fail decoding already).
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")
_BRACKETS = re.compile(rb'[\[\]{}"\\]')


def _too_deep(raw: bytes | str) -> bool:
    """Nesting depth above the limit, found without recursion (strings are skipped)."""
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "replace")
    if data.count(b"[") + data.count(b"{") <= config.MAX_JSON_DEPTH:
        return False
    depth = 0
    in_string = False
    skip = -1  # position of the character a backslash escapes
    for match in _BRACKETS.finditer(data):
        pos = match.start()
        if pos == skip:
            continue
        ch = match.group()
        if in_string:
            if ch == b"\\":
                skip = pos + 1
            elif ch == b'"':
                in_string = False
        elif ch == b'"':
            in_string = True
        elif ch in (b"[", b"{"):
            depth += 1
            if depth > config.MAX_JSON_DEPTH:
                return True
        elif ch in (b"]", b"}"):
            depth -= 1
    return False


def _lone_surrogate(value: Any, where: str) -> str | None:
    """Path of the first string (or key) holding an unpaired surrogate, iteratively."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, path))
                stack.append((child, f"{path}.{key}" if path else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


async def parse(request: Request, model: type[M]) -> M:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise APIError(400, "request body must be a JSON object", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
