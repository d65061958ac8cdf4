"""Path parameters can never change the route: each is exactly one encoded segment."""

from __future__ import annotations

import pytest

from app.api import LayerScale
from app.api.errors import NotFoundError
from app.api.transport import path_segment
from tests.api.live import session
from tests.support.server import RunningServer

pytestmark = pytest.mark.anyio


def test_dot_segments_slashes_and_queries_are_encoded() -> None:
    assert path_segment("..") == "%2E%2E" and path_segment(".") == "%2E"
    assert path_segment("a.b") == "a.b"  # dots inside a segment are harmless
    assert path_segment("../x") == "..%2Fx"
    assert path_segment("x?y#z") == "x%3Fy%23z"
    assert path_segment(7) == "7"
    with pytest.raises(ValueError):
        path_segment("")


async def test_unflash_dot_dot_does_not_delete_the_session(local_server: RunningServer
                                                           ) -> None:
    """Before: httpx resolved ".." and the DELETE went to /v1/sessions/{id}."""
    async with LayerScale(local_server.url) as client, session(client) as info:
        sid = info.session_id
        for hostile in ("..", ".", "../..", "1/../.."):
            with pytest.raises(NotFoundError):
                await client.sessions.unflash(sid, hostile)  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            await client.sessions.get("..")
        state = await client.sessions.get(sid)
        assert state.session_id == sid
