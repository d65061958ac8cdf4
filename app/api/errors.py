"""One error hierarchy for everything the client can raise.

Every failure a caller can see is a :class:`LayerScaleError`: HTTP statuses map
to subclasses, transport failures to :class:`APIConnectionError` /
:class:`APITimeoutError`, and anything the server sent that the client cannot
make sense of (bad JSON, a truncated stream, an unknown frame) to
:class:`ProtocolError`. Messages never contain the licence key: the transport
redacts it before an error is built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "LayerScaleError",
    "NotFoundError",
    "NotOfferedError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "error_for_close_code",
    "error_for_status",
]

# Bodies can be large HTML error pages; keep messages readable.
_MAX_SNIPPET = 200


class LayerScaleError(Exception):
    """Base of every error raised by :mod:`app.api`.

    Attributes:
        message: human-readable text (from the server's ``error.message`` when it sent one).
        status: HTTP status (or WebSocket close code) when the failure came from the
            server, else ``None``.
        body: the parsed error body (``{"error": {...}}``) when it was JSON, the raw
            text when it was not, ``None`` when there was no body.
        retry_after: the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.retry_after = retry_after

    @property
    def error_type(self) -> str | None:
        """The protocol's ``error.type`` when the body carried one."""
        return _error_field(self.body, "type")

    @property
    def code(self) -> str | None:
        """The protocol's ``error.code`` when the body carried one."""
        return _error_field(self.body, "code")

    @property
    def param(self) -> str | None:
        """The protocol's ``error.param`` (the offending field) when the body carried one."""
        return _error_field(self.body, "param")

    def __str__(self) -> str:
        return f"{self.message} (status {self.status})" if self.status is not None else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(message={self.message!r}, status={self.status!r})"


class BadRequestError(LayerScaleError):
    """400: the request was malformed (e.g. an entry that does not fit the session type)."""


class AuthenticationError(LayerScaleError):
    """401 (or WS close 4401): missing or invalid licence key."""


class PermissionDeniedError(LayerScaleError):
    """403 (or WS close 4403): the key is valid but not allowed (e.g. expired)."""


class NotFoundError(LayerScaleError):
    """404 (or WS close 4404): unknown session or flash query."""


class ConflictError(LayerScaleError):
    """409: the session is busy or the id already exists."""


class PayloadTooLargeError(BadRequestError):
    """413: the body is larger than the server accepts."""


class UnprocessableEntityError(LayerScaleError):
    """422: a field has an invalid value."""


class RateLimitError(LayerScaleError):
    """429: too many sessions or requests (``retry_after`` says when to come back)."""


class ServerError(LayerScaleError):
    """5xx: the server failed."""


class ServiceUnavailableError(ServerError):
    """503: the server is not ready (e.g. the model is still loading)."""

    def name_health_status(self) -> None:
        """Word the message by the health body's status: a loading server answers a health
        probe with 503 and a health body, not an error body."""
        if isinstance(self.body, dict) and isinstance(self.body.get("status"), str):
            self.message = f"server not ready (status: {self.body['status']})"
            self.args = (self.message,)


class APIConnectionError(LayerScaleError):
    """The server could not be reached, or the connection broke mid-request."""


class APITimeoutError(APIConnectionError):
    """The call did not finish within its timeout."""


class NotOfferedError(LayerScaleError):
    """The server's API generation has no such operation (e.g. ``stats`` on generation 2).

    Raised by the client before sending anything; a view shows it as "not offered by
    this server", not as a failure."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}: not offered by this server")
        self.what = what


class ProtocolError(LayerScaleError):
    """The server sent something the protocol does not allow (bad JSON, truncated stream...)."""


_BY_STATUS: dict[int, type[LayerScaleError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: APITimeoutError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}

# Close codes the protocol (local) uses for auth / unknown session; 4403 mirrors 403.
_BY_CLOSE_CODE: dict[int, type[LayerScaleError]] = {
    4401: AuthenticationError,
    4403: PermissionDeniedError,
    4404: NotFoundError,
}


def _error_field(body: Any, name: str) -> str | None:
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            value = err.get(name)
            return None if value is None else str(value)
    return None


def parse_error_body(content: bytes) -> tuple[Any, str | None]:
    """Return ``(body, message)`` for an error response's raw bytes.

    ``body`` is the decoded JSON when the bytes are JSON, else the text (possibly
    empty -> ``None``). ``message`` is ``error.message`` (or a top-level
    ``message`` / ``detail``) when present. Never raises.
    """
    text = content.decode("utf-8", errors="replace")
    if not text.strip():
        return None, None
    try:
        body: Any = json.loads(text)
    except ValueError:
        return text, None
    message: str | None = None
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping) and err.get("message") is not None:
            message = str(err["message"])
        elif isinstance(err, str):
            message = err
        elif body.get("message") is not None:
            message = str(body["message"])
        elif body.get("detail") is not None:
            message = str(body["detail"])
    return body, message


def error_for_status(
    status: int,
    content: bytes,
    *,
    method: str,
    path: str,
    retry_after: float | None = None,
) -> LayerScaleError:
    """Build the right :class:`LayerScaleError` subclass for a non-2xx response."""
    body, message = parse_error_body(content)
    if message is None:
        if isinstance(body, str):
            snippet = " ".join(body.split())[:_MAX_SNIPPET]
            message = f"{method} {path} failed with HTTP {status}: {snippet}"
        else:
            message = f"{method} {path} failed with HTTP {status}"
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else LayerScaleError
    return cls(message, status=status, body=body, retry_after=retry_after)


def error_for_close_code(code: int | None, reason: str) -> LayerScaleError:
    """Map a WebSocket close to an error (auth / not found codes to their classes)."""
    cls = _BY_CLOSE_CODE.get(code or 0, APIConnectionError)
    text = f"WebSocket closed with code {code}" + (f": {reason}" if reason else "")
    return cls(text, status=code)
