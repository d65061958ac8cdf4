"""Generation-2 licence keys (`LSK-...`) in the same real keyring store, tested against
the gen-2 bundled server with and without `--api-key`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import keyring

from app.api import LayerScale
from app.api.generation import Generation
from app.secrets import SERVICE, KeyStore, mask
from app.secrets.check import check_key
from tests.conftest import GEN2_KEY
from tests.support.server import RunningServer

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on its own thread: safe whatever loop the test process already runs
    (Qt tests leave qasync's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_lsk_key_stored_read_and_masked_with_its_prefix(gen2_keyed_server: RunningServer) -> None:
    store = KeyStore()
    url = gen2_keyed_server.url
    store.set(url, GEN2_KEY)
    try:
        assert keyring.get_password(SERVICE, url) == GEN2_KEY  # the real keyring, same store
        assert mask(GEN2_KEY).startswith("LSK-") and GEN2_KEY[4:] not in mask(GEN2_KEY)

        async def use() -> None:
            async with LayerScale(url, api_key=store.get(url)) as client:
                assert await client.generation() is Generation.V2
                assert isinstance(await (await client.surface()).list_sessions(), list)

        run(use())
        ok = run(check_key(url, store.get(url)))
        assert ok.ok and ok.health == "ready" and GEN2_KEY not in ok.message
        refused = run(check_key(url, None))
        assert not refused.ok and "401" in refused.message
    finally:
        store.delete(url)


def test_gen2_server_without_api_key_needs_none(gen2_server: RunningServer) -> None:
    result = run(check_key(gen2_server.url, None))
    assert result.ok and "needs no key" in result.message
