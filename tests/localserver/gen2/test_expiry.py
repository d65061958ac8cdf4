"""Sessions unused for an hour are deleted (PROTOCOL-2 "Expiry"), unless something holds
them. In process over the real engine (the model loads in well under a second); the clock
is the only thing moved: last_used is set an hour back rather than waited out."""

from __future__ import annotations

import asyncio
import time

from app.bundled_model import bundled_model_path
from app.localserver.config import ServerConfig
from app.localserver.entries import RAW_TEXT
from app.localserver.gen2.app import EXPIRY_SECONDS, expire
from app.localserver.gen2.state import Extra, Gen2
from app.localserver.state import ServerState


def test_idle_sessions_expire_held_ones_stay() -> None:
    model = bundled_model_path()
    assert model is not None
    state = ServerState(ServerConfig(model=model, ctx_size=512, pool_size=5))

    async def scenario() -> tuple[list[str], list[str]]:
        state.loop = asyncio.get_running_loop()
        await state.worker.call(state.load_model)
        g = Gen2(state)
        registry = state.sessions()
        made = {}
        for name in ("idle", "recent", "pending", "watched", "busy"):
            session = registry.create(RAW_TEXT, None, 0, state.loop)
            registry.rename(session, name)
            g.extras[name] = Extra()
            made[name] = session
        hour_ago = time.time() - EXPIRY_SECONDS - 1
        for name in ("idle", "pending", "watched", "busy"):
            made[name].last_used_at = hour_ago
        made["pending"].ring.append({"text": "waiting to be ingested"})
        g.extra(made["watched"]).subscribers = 1
        made["busy"].in_use = 1
        gone = expire(g)
        return gone, sorted(s.id for s in registry.all())

    try:
        gone, left = asyncio.run(scenario())
    finally:
        state.worker.shutdown()
    assert gone == ["idle"]
    assert left == ["busy", "pending", "recent", "watched"]
