"""Fixtures for the bundled server speaking API generation 2 (`--api 2`): one open server
and one under `--api-key`, each shared by every gen-2 test, plus an httpx client on each."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import RunningServer, start_server

GEN2_KEY = "LSK-test-0123456789abcdef"
GEN2_ARGS = ["--api", "2", "--ctx-size", "2048", "--pool-size", "6"]


@pytest.fixture(scope="session")
def gen2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("gen2-server"), extra_args=GEN2_ARGS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gen2_keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Started with --api-key: the licence key is the bearer token."""
    server = start_server(tmp_path_factory.mktemp("gen2-keyed"), key=GEN2_KEY,
                          extra_args=[*GEN2_ARGS, "--api-key"])
    yield server
    server.stop()


@pytest.fixture
def http2(gen2_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gen2_server.url, timeout=120.0) as client:
        yield client
