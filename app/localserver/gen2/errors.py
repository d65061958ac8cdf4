"""Generation 2's two error envelopes and the status rules around them.

OpenAI's `{"error": {message, type, param?, code?}}` everywhere but `/v1/messages*`, which
answers Anthropic's `{"type": "error", "error": {type, message}, "request_id"}`. Generation 1's
routes and helpers raise APIError with gen-1 statuses; the few gen 2 does not use are mapped
here once (422 and 413 are 400s: gen 2 names an invalid field with 400).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import APIError

log = logging.getLogger("layerscale.localserver")

_STATUS = {422: 400, 413: 400}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "conflict_error",
    499: "request_cancelled",
    500: "server_error",
    503: "service_unavailable",
}
# Anthropic's own error type names.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    500: "api_error",
    503: "overloaded_error",
}


def status_of(status: int) -> int:
    return _STATUS.get(status, status)


def anthropic_path(path: str) -> bool:
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def openai_body(status: int, message: str, code: str | None = None,
                param: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": _OPENAI_TYPES.get(
        status, "server_error" if status >= 500 else "invalid_request_error")}
    if param is not None:
        error["param"] = param
    if code is not None:
        error["code"] = code
    return {"error": error}


def anthropic_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error",
            "error": {"type": _ANTHROPIC_TYPES.get(
                status, "api_error" if status >= 500 else "invalid_request_error"),
                "message": message},
            "request_id": f"req_{uuid.uuid4().hex[:24]}"}


def body_for(path: str, exc: APIError) -> tuple[int, dict[str, Any]]:
    status = status_of(exc.status)
    if anthropic_path(path):
        return status, anthropic_body(status, exc.message)
    return status, openai_body(status, exc.message, exc.code, exc.param)


def response_for(path: str, exc: APIError) -> Response:
    status, body = body_for(path, exc)
    # Gen 2 never sends Retry-After.
    headers = {k: v for k, v in exc.headers.items() if k.lower() != "retry-after"}
    return JSONResponse(body, status_code=status, headers=headers)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return response_for(request.url.path, exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message, code = f"no route {request.method} {request.url.path}", "route_not_found"
    elif exc.status_code == 405:
        message, code = (f"method {request.method} not allowed on {request.url.path}",
                         "method_not_allowed")
    else:
        message, code = str(exc.detail), None
    return response_for(request.url.path, APIError(exc.status_code, message, code=code))


async def internal_error(request: Request, exc: Exception) -> Response:
    log.error("internal error: %s", type(exc).__name__, exc_info=exc)
    return response_for(request.url.path, APIError(
        500, f"internal server error ({type(exc).__name__})", code="internal_error"))


def unsupported(param: str, why: str = "is not supported by this server") -> APIError:
    return APIError(400, f"{param} {why}", code="unsupported_parameter", param=param)
