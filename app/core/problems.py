"""Turning client exceptions into what the dashboard tells the user.

Classified by the error's HTTP status and class names rather than by importing
app.api's classes, so a transport error from any layer (httpx, websockets, OS)
lands in the right bucket too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


_UNREACHABLE_NAMES = {
    "APIConnectionError", "APITimeoutError", "ConnectError", "ConnectTimeout", "ReadTimeout",
    "TimeoutException", "TransportError", "NetworkError", "RemoteProtocolError",
    "ConnectionClosed", "InvalidURI", "TimeoutError", "ConnectionError", "OSError",
}


def status_of(exc: BaseException) -> int | None:
    for attr in ("status", "status_code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    return None


def message_of(exc: BaseException) -> str:
    msg = getattr(exc, "message", None)
    if isinstance(msg, str) and msg:
        return msg
    text = str(exc).strip()
    return text or type(exc).__name__


def diagnose(exc: BaseException) -> Diagnosis:
    status = status_of(exc)
    msg = message_of(exc)
    if status in (401, 403, 4401, 4403):  # 44xx: the same refusals as WebSocket close codes
        return Diagnosis(Problem.AUTH, status, msg)
    if status == 503:
        return Diagnosis(Problem.LOADING, status, msg)
    if status in (404, 4404):
        return Diagnosis(Problem.NOT_FOUND, status, msg)
    if status is None and (
        isinstance(exc, OSError | TimeoutError)
        or any(c.__name__ in _UNREACHABLE_NAMES for c in type(exc).__mro__)
    ):
        return Diagnosis(Problem.UNREACHABLE, None, msg)
    return Diagnosis(Problem.ERROR, status, msg)
