"""Turning client exceptions into what the dashboard tells the user.

Classified by the client's exception classes (app.api.errors): every HTTP status and
WebSocket close code already has its class there (401/4401 AuthenticationError, ...), and
a transport failure is an APIConnectionError. Plain OS errors count as unreachable too (a
socket that failed before the client could wrap it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.api.errors import (
    APIConnectionError,
    AuthenticationError,
    LayerScaleError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)


class Problem(StrEnum):
    UNREACHABLE = "unreachable"
    AUTH = "auth"  # 401 / 403: the licence key is missing, wrong or not allowed
    LOADING = "loading"  # 503: the server is up but its model is still loading
    NOT_FOUND = "not_found"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    problem: Problem
    status: int | None
    message: str


def message_of(exc: BaseException) -> str:
    """The server's own words when it sent any, else the exception's text."""
    if isinstance(exc, LayerScaleError) and exc.message:
        return exc.message
    text = str(exc).strip()
    return text or type(exc).__name__


def diagnose(exc: BaseException) -> Diagnosis:
    status = exc.status if isinstance(exc, LayerScaleError) else None
    msg = message_of(exc)
    match exc:
        case AuthenticationError() | PermissionDeniedError():
            problem = Problem.AUTH
        case ServiceUnavailableError():
            problem = Problem.LOADING
        case NotFoundError():
            problem = Problem.NOT_FOUND
        case APIConnectionError() | OSError() | TimeoutError():
            problem = Problem.UNREACHABLE
        case _:
            problem = Problem.ERROR
    return Diagnosis(problem, status, msg)


_FULL_WORDS = ("context is full", "context full", "no room left", "context_length_exceeded")


def context_full(message: str | None, code: object = None) -> bool:
    """Whether a server's refusal says the session's context is full (the bundled server
    and LayerScale both send code `context_length_exceeded` or say so in words)."""
    if code == "context_length_exceeded":
        return True
    text = (message or "").lower()
    return any(w in text for w in _FULL_WORDS)
