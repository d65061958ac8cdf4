"""Fixtures shared by every test package: the real bundled server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import RunningServer, start_server

TEST_KEY = "LS-test-0123456789abcdef"
GEN2_KEY = "LSK-test-0123456789abcdef"  # generation-2 licence keys start LSK-
GEN2_ARGS = ["--api", "2", "--ctx-size", "2048", "--pool-size", "6"]


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


@pytest.fixture(scope="session")
def gen2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One bundled server speaking API generation 2 (`--api 2`, open), shared by the run."""
    server = start_server(tmp_path_factory.mktemp("gen2-server"), extra_args=GEN2_ARGS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gen2_keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Generation 2 under `--api-key`: GEN2_KEY is the bearer token (/health stays open)."""
    server = start_server(tmp_path_factory.mktemp("gen2-keyed"), key=GEN2_KEY,
                          extra_args=[*GEN2_ARGS, "--api-key"])
    yield server
    server.stop()


@pytest.fixture(params=[1, 2], ids=["gen1", "gen2"])
def generation(request: pytest.FixtureRequest) -> int:
    """Parametrizes a test over both API generations; use with `any_server`. Only the
    focused tests that ask for it run twice (the rest of the suite stays generation 1)."""
    return int(request.param)


@pytest.fixture
def any_server(generation: int, request: pytest.FixtureRequest) -> RunningServer:
    """The shared bundled server of `generation` (started on first use)."""
    name = "local_server" if generation == 1 else "gen2_server"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]
