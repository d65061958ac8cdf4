"""Fixtures shared by every test package: the real bundled server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import RunningServer, start_server

TEST_KEY = "LS-test-0123456789abcdef"


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One bundled server (no licence key) shared by the whole run."""
    server = start_server(tmp_path_factory.mktemp("server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A bundled server that requires TEST_KEY on every route but /v1/health."""
    server = start_server(tmp_path_factory.mktemp("keyed-server"), key=TEST_KEY)
    yield server
    server.stop()
