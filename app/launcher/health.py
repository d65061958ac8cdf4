"""One look at /v1/health: is a LayerScale server there, and is it ready?"""

from __future__ import annotations

import enum

import httpx


class Probe(enum.StrEnum):
    NOTHING = "nothing"  # connection refused: nobody listens
    READY = "ready"  # 200 with a JSON body
    LOADING = "loading"  # 503 (the protocol's "not ready")
    OTHER = "other"  # something answers, but not as a LayerScale server does


def _json_object(response: httpx.Response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


async def probe(client: httpx.AsyncClient, url: str, timeout: float = 2.0) -> Probe:
    try:
        response = await client.get(f"{url}/v1/health", timeout=timeout)
    except httpx.ConnectError:
        return Probe.NOTHING
    except httpx.HTTPError:
        return Probe.OTHER
    if response.status_code == 200 and _json_object(response):
        return Probe.READY
    if response.status_code == 503:
        return Probe.LOADING
    return Probe.OTHER
