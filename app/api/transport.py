"""The one place that sends HTTP: auth header, timeouts, retries, error mapping.

Retries (exponential backoff + jitter, ``Retry-After`` honoured) follow the server's
generation (``RetryPolicy``). Generation 1: idempotent methods (GET, DELETE) on
connection failures, 408, 409, 429 and 5xx. Generation 2: GET only, on connection
failures, 408 and the transient "holding too many request bodies" 503; never 409.
A POST (push, generate, init...) is sent exactly once either way.

The per-call timeout bounds the whole call, retries and their waits included; a
retry that would sleep past it is not attempted and the last error is raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import httpx

from app.api.backoff import Backoff, parse_retry_after
from app.api.errors import (
    APIConnectionError,
    APITimeoutError,
    LayerScaleError,
    ServerError,
    error_for_status,
)
from app.api.frames import decode_json

log = logging.getLogger("app.api")

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
RETRY_STATUSES: Final = frozenset({408, 409, 429})
MAX_ERROR_BODY: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Which failed calls may be sent again; the generations differ (PROTOCOL-2: GET only,
    never 409, a 503 only when the server says it holds too many request bodies)."""

    methods: frozenset[str]
    statuses: frozenset[int]
    all_5xx: bool
    transient_503: str | None = None  # a 503 whose body holds this text is retried

    def retries(self, error: LayerScaleError) -> bool:
        if isinstance(error, APIConnectionError):  # includes timeouts and HTTP 408
            return error.status is None or error.status in self.statuses
        if self.all_5xx and isinstance(error, ServerError):
            return True
        if (self.transient_503 is not None and error.status == 503
                and self.transient_503 in str(error.body)):
            return True
        return error.status in self.statuses


GEN1_RETRIES: Final = RetryPolicy(IDEMPOTENT_METHODS, RETRY_STATUSES, all_5xx=True)
GEN2_RETRIES: Final = RetryPolicy(frozenset({"GET"}), frozenset({408}), all_5xx=False,
                                  transient_503="holding too many request bodies")


class NotGiven:
    """Sentinel type: "use the client's default" (distinct from None = no timeout)."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = NotGiven()
Timeout = float | None | NotGiven


def path_segment(value: object, what: str = "path parameter") -> str:
    """A value as exactly one path segment: it can never change the route.

    Everything but unreserved characters is percent-encoded ("/" too), and so are the
    dots of a "." or ".." segment: those are unreserved, so quote() keeps them, and httpx
    (like any URL resolver) would remove the segment together with the one before it:
    ``unflash(sid, "..")`` would DELETE the whole session.
    """
    text = str(value)
    if not text:
        raise ValueError(f"{what} must not be empty")
    encoded = quote(text, safe="")
    return encoded.replace(".", "%2E") if set(text) == {"."} else encoded


def redact(text: str, secret: str | None) -> str:
    """Remove the licence key from text that may end up in an exception or a log."""
    if secret and secret in text:
        return text.replace(secret, "***")
    return text


def _redact_obj(obj: Any, secret: str | None) -> Any:
    if not secret:
        return obj
    if isinstance(obj, str):
        return redact(obj, secret)
    if isinstance(obj, dict):
        return {k: _redact_obj(v, secret) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact_obj(v, secret) for v in obj]
    return obj


class Transport:
    """Holds the ``httpx.AsyncClient`` and the policy; resources build on ``request``/``stream``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: float | None,
        max_retries: int,
        connect_timeout: float,
        backoff: Backoff,
        max_retry_after: float,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout or None  # 0 disables
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self._rng = random.Random()
        self.retry_policy = GEN1_RETRIES  # the client switches it once the generation is known
        # Called on every failure to connect, so a cached generation is asked again.
        self.on_connection_lost: Callable[[], None] | None = None
        self._owns_client = http_client is None
        # Redirects are never followed: the key must only ever go to the configured origin.
        self._client = http_client or httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(None, connect=connect_timeout),
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    # -- helpers ---------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def redact(self, text: str) -> str:
        return redact(text, self._api_key)

    def resolve_timeout(self, timeout: Timeout) -> float | None:
        if isinstance(timeout, NotGiven):
            return self.timeout
        return timeout or None

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    # -- requests --------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send a request and return its decoded JSON body ({} for an empty body)."""
        response = await self.request_raw(method, path, json=json, timeout=timeout,
                                          max_retries=max_retries, headers=headers)
        if not response.content.strip():
            return {}
        return decode_json(response.content, f"{method} {path} response")

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send a request and return the read response (for non-JSON answers: /metrics)."""
        seconds = self.resolve_timeout(timeout)
        try:
            async with asyncio.timeout(seconds) as scope:
                return await self._send(
                    method, path, json, stream=False, retries=max_retries,
                    deadline=scope.when(), extra_headers=headers,
                )
        except TimeoutError:
            raise APITimeoutError(f"{method} {path} timed out after {seconds:g} s") from None

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: Timeout = NOT_GIVEN,
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open a streaming response (status checked); ``timeout`` bounds only the wait for
        its headers. The response is closed on exit, including on cancellation."""
        seconds = self.resolve_timeout(timeout)
        try:
            async with asyncio.timeout(seconds) as scope:
                response = await self._send(
                    method, path, json, stream=True, retries=None, deadline=scope.when(),
                    extra_headers=headers,
                )
        except TimeoutError:
            raise APITimeoutError(f"{method} {path} got no answer within {seconds:g} s") from None
        try:
            yield response
        finally:
            await response.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        json: Any,
        *,
        stream: bool,
        retries: int | None,
        deadline: float | None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        idempotent = method.upper() in self.retry_policy.methods
        budget = (self.max_retries if retries is None else max(0, retries)) if idempotent else 0
        attempt = 0
        while True:
            error: LayerScaleError
            retry_after: float | None = None
            try:
                headers = {**(extra_headers or {}), **self.auth_headers()}
                if stream:
                    headers["Accept"] = "text/event-stream"
                request = self._client.build_request(method, path, json=json, headers=headers)
                response = await self._client.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                error = APITimeoutError(self._describe(method, path, exc))
            except httpx.TransportError as exc:
                error = APIConnectionError(self._describe(method, path, exc))
                if self.on_connection_lost is not None:
                    self.on_connection_lost()
            else:
                if 200 <= response.status_code < 300:
                    log.debug("%s %s -> %d", method, path, response.status_code)
                    return response
                error = await self._error_from(response, method, path)
                retry_after = error.retry_after
            if not self._should_retry(error, attempt, budget, retry_after):
                raise error
            delay = (
                retry_after if retry_after is not None else self.backoff.delay(attempt, self._rng)
            )
            if deadline is not None and asyncio.get_running_loop().time() + delay >= deadline:
                raise error
            log.info(
                "%s %s failed (%s); retry %d/%d in %.2f s",
                method,
                path,
                error,
                attempt + 1,
                budget,
                delay,
            )
            attempt += 1
            await asyncio.sleep(delay)

    def _should_retry(
        self, error: LayerScaleError, attempt: int, budget: int, retry_after: float | None
    ) -> bool:
        if attempt >= budget:
            return False
        if retry_after is not None and retry_after > self.max_retry_after:
            return False
        return self.retry_policy.retries(error)

    async def _error_from(
        self, response: httpx.Response, method: str, path: str
    ) -> LayerScaleError:
        # Bounded: an error body is for a message, and a broken peer may never end it.
        content = b""
        try:
            async for piece in response.aiter_bytes():
                content += piece
                if len(content) >= MAX_ERROR_BODY:
                    break
        except httpx.TransportError as exc:
            content += f" <body cut: {type(exc).__name__}>".encode()
        finally:
            await response.aclose()
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        error = error_for_status(
            response.status_code, content, method=method, path=path, retry_after=retry_after
        )
        error.message = self.redact(error.message)
        error.args = (error.message,)
        error.body = _redact_obj(error.body, self._api_key)
        log.debug("%s %s -> %d %s", method, path, response.status_code, error.message)
        return error

    def _describe(self, method: str, path: str, exc: Exception) -> str:
        detail = str(exc) or type(exc).__name__
        return self.redact(f"{method} {path}: {type(exc).__name__}: {detail}")
