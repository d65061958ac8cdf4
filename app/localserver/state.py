"""What the running server holds: config, the engine (None while loading), the worker,
the session registry and the scratch sequence used by stateless endpoints."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import threads
from .batching import BatchScheduler
from .chat import ChatTemplate
from .config import ServerConfig
from .engine import Engine
from .errors import APIError
from .events import GOING_AWAY, EventHub
from .metrics import ServerMetrics
from .sessions import Session, SessionRegistry
from .worker import ModelWorker

if TYPE_CHECKING:
    from .ingest import IngestProcessor

log = logging.getLogger("layerscale.localserver")


@dataclass
class ServerState:
    config: ServerConfig
    worker: ModelWorker = field(default_factory=ModelWorker)
    engine: Engine | None = None
    template: ChatTemplate | None = None
    registry: SessionRegistry | None = None
    scratch: Session | None = None
    load_error: str | None = None
    started_at: float = field(default_factory=time.time)
    loop: asyncio.AbstractEventLoop | None = None
    processors: dict[str, IngestProcessor] = field(default_factory=dict)
    metrics: ServerMetrics = field(init=False, repr=False)
    batcher: BatchScheduler = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.registry = SessionRegistry(self.config.pool_size, self.config.ctx_size,
                                        self.config.queue_capacity)
        self.metrics = ServerMetrics(self)
        self.batcher = BatchScheduler(self)

    @property
    def ready(self) -> bool:
        return self.engine is not None

    def require_engine(self) -> Engine:
        if self.engine is None:
            message = (f"model failed to load: {self.load_error}" if self.load_error
                       else "the model is still loading")
            raise APIError(503, message, code="model_loading",
                           headers={"Retry-After": "1"})
        return self.engine

    def sessions(self) -> SessionRegistry:
        assert self.registry is not None
        return self.registry

    def close_streams(self) -> None:
        """Shutdown: end SSE streams and close WebSockets (1001) so the server need not
        wait out its graceful-shutdown timeout on long-lived connections."""
        for session in self.sessions().all():
            session.hub.close(GOING_AWAY, "server shutting down")

    def load_model(self) -> None:
        """worker: load the model and create the shared context."""
        cfg = self.config
        # One extra sequence: the scratch space for stateless chat/completions.
        engine = Engine(cfg.model, n_ctx_per_seq=cfg.ctx_size, n_seq=cfg.pool_size + 1,
                        threads=cfg.threads or 1, gpu_layers=cfg.gpu_layers)
        if not cfg.threads:  # no --threads: measured on this machine (threads.py)
            threads.choose(engine, cfg.pool_size, cfg.model)
        eos = engine.token_text(engine.eos_token_id)
        bos = engine.token_text(engine.bos) if engine.bos >= 0 else ""
        self.template = ChatTemplate(engine.chat_template(), bos, eos)
        assert self.loop is not None
        self.scratch = Session(id="scratch", type="ohlcv", seq=cfg.pool_size,
                               context=engine.n_ctx_seq, window_size=0,
                               hub=EventHub(self.loop))
        self.engine = engine
