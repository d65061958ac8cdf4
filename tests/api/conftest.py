"""Fixtures for the client tests: run async tests on asyncio (anyio's pytest plugin)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # Only asyncio: the client (and the dashboard's qasync loop) are asyncio-based.
    return "asyncio"
