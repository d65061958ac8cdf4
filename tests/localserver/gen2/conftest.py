"""Fixtures for the bundled server speaking API generation 2. The servers themselves
(`gen2_server`, open, and `gen2_keyed_server`, under `--api-key`) are tests/conftest.py's,
shared by the whole run with the client and dashboard tests; here an httpx client on one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import GEN2_KEY
from tests.support.server import RunningServer

__all__ = ["GEN2_KEY"]


@pytest.fixture
def http2(gen2_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gen2_server.url, timeout=120.0) as client:
        yield client
