"""The protocol's error shape and the exceptions that map onto it."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
}


class APIError(Exception):
    """An error answered to the client as {"error": {message, type, code, param}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, self.param)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class ContextFullError(APIError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message, code="context_length_exceeded")


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": _TYPES.get(
                status, "server_error" if status >= 500 else "invalid_request_error"),
            "code": code,
            "param": param,
        }
    }


def not_found(what: str, ident: object) -> APIError:
    return APIError(404, f"{what} {ident!s} not found", code=f"{what.replace(' ', '_')}_not_found")


def from_validation(exc: ValidationError, prefix: str = "") -> APIError:
    """Turn pydantic's first complaint into one readable message naming the field."""
    first = exc.errors()[0]
    loc = "".join(
        f"[{part}]" if isinstance(part, int) else (f".{part}" if i else str(part))
        for i, part in enumerate(first.get("loc", ()))
    )
    param = f"{prefix}{loc}" if loc else (prefix or None)
    kind = first.get("type", "")
    code = "missing_field" if kind == "missing" else "invalid_value"
    status = 400 if kind in {"missing", "model_type", "dict_type"} else 422
    message = f"{param}: {first.get('msg', 'invalid value')}" if param else first.get("msg", "")
    return APIError(status, message, code=code, param=param)
