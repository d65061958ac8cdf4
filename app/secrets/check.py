"""Test a licence key against its server: health first, then one authenticated call."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from app.secrets.urls import normalise_url


@dataclass(frozen=True, slots=True)
class KeyCheck:
    ok: bool
    health: str  # "ready", "loading", "unreachable", "not a LayerScale server"
    message: str


async def check_key(url: str, key: str | None, *, timeout: float = 10.0) -> KeyCheck:
    """GET /v1/health (no key needed; generation 2's is /health) then GET /v1/models with
    the key. A generation-2 server started without ``--api-key`` accepts any key or none.

    The message is for people and never contains the key.
    """
    base = normalise_url(url)
    async with httpx.AsyncClient(base_url=base, timeout=timeout) as client:
        try:
            health = await client.get("/v1/health")
            if health.status_code == 404:  # API generation 2 serves /health only
                health = await client.get("/health")
        except httpx.HTTPError as exc:
            return KeyCheck(False, "unreachable", f"{base} is unreachable ({type(exc).__name__}).")
        if health.status_code == 503:
            state = "loading"
        elif health.status_code == 200:
            state = "ready"
        else:
            return KeyCheck(
                False,
                "not a LayerScale server",
                f"{base}{health.request.url.path} answered HTTP {health.status_code}: "
                "not a LayerScale server?",
            )
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            models = await client.get("/v1/models", headers=headers)
        except httpx.HTTPError as exc:
            problem = type(exc).__name__
            return KeyCheck(False, state, f"health ok, then the call failed ({problem}).")
    status = models.status_code
    if status == 200:
        if key:
            return KeyCheck(True, state, f"Key accepted by {base} (server {state}).")
        return KeyCheck(True, state, f"{base} needs no key (server {state}).")
    if status == 401:
        reason = "key rejected" if key else "the server requires a key and none is stored"
        return KeyCheck(False, state, f"{base}: {reason} (HTTP 401).")
    if status == 403:
        return KeyCheck(False, state, f"{base}: key not allowed, e.g. expired (HTTP 403).")
    if status == 503:
        return KeyCheck(False, state, f"{base} is still loading (HTTP 503); try again shortly.")
    return KeyCheck(False, state, f"{base}: unexpected HTTP {status} from /v1/models.")
