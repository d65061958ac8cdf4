"""Server configuration: CLI values plus the fixed limits the protocol leaves to the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SERVER_VERSION = "0.1.0"

# Limits chosen for this server (the protocol leaves them open).
MAX_BODY_BYTES = 4 * 1024 * 1024
QUEUE_CAPACITY = 4096
PROCESS_INTERVAL_US = 0  # the processor drains as soon as entries arrive
MAX_ENTRIES_PER_BATCH = 512  # entries per flash refresh while a backlog drains
# Tokens decoded per worker job while ingesting: small enough that a request queued
# behind it waits a fraction of a second, large enough to keep prompt-eval speed.
INGEST_CHUNK_TOKENS = 256
# Batched scheduling (ServerConfig.schedule): one worker job decodes the new data of every
# session waiting, about this many tokens in all (each session's share at least the
# minimum), so the shared job is no longer than a single session's chunk.
BATCH_DECODE_TOKENS = INGEST_CHUNK_TOKENS
MIN_BATCHED_CHUNK_TOKENS = 32
FLASH_DEFAULT_MAX_TOKENS = 32
FLASH_MAX_TOKENS_LIMIT = 256
DEFAULT_GENERATE_MAX_TOKENS = 128
MAX_GENERATE_TOKENS = 2048
FAST_ANSWER_GAP = 3.0  # logit gap (odds e^3 ~ 20:1) above which a token counts as sure
KEEPALIVE_SECONDS = 15.0
# Caps where one client could otherwise exhaust the single model worker.
MAX_FLASH_QUERIES = 32  # per session: every data update re-answers each of them
MAX_PROMPT_CHARS = 256 * 1024  # any text to tokenize (prompt, messages, append, query)
OFFLOOP_TOKENIZE_CHARS = 16 * 1024  # longer texts are tokenized on a helper thread
OFFLOOP_JSON_BYTES = 64 * 1024  # larger bodies are parsed on a helper thread
MAX_JSON_DEPTH = 64  # nesting deeper than any real request
# Entry fields' bounds (numbers, integers, strings, timestamps) are the stream types' own,
# in app/streams/base.py.
MAX_ENTRY_TOKENS = 256  # tokens one rendered entry may take
SESSION_LIMIT_RETRY_AFTER = "2"  # seconds, on 429 when the pool is full
# Generation 2 (PROTOCOL-2.md).
GEN2_MAX_FRAME_BYTES = 16 * 1024 * 1024  # inbound WebSocket frame; larger: socket dropped
GEN2_MAX_FLASH_QUERIES = 20  # per session
DISCONNECT_POLL_SECONDS = 0.25  # how often a non-streaming generation checks its client


@dataclass
class ServerConfig:
    model: Path
    ctx_size: int = 4096
    host: str = "127.0.0.1"
    port: int = 8080
    gpu_layers: int = 0
    threads: int = 0  # 0: measured at model load (threads.py)
    pool_size: int = 8
    queue_capacity: int = QUEUE_CAPACITY  # entries each session's ingest ring holds
    log_format: str = "text"
    # How entries become text (app/streams/rendering.py): "compact" or "full" (before).
    render: Literal["compact", "full"] = "compact"
    # "batched": sessions' ingest and flash answers share decode calls (app/localserver/
    # batching.py); "sequential": one job per chunk and per query, as before.
    schedule: Literal["batched", "sequential"] = "batched"
    # API generation spoken: 1 (PROTOCOL.md, the default) or 2 (PROTOCOL-2.md, gen2/).
    api: int = 1
    # Gen 2 only: require the licence key as the bearer token (`--api-key`); gen 1 always
    # requires it when one is set.
    api_key: bool = False
    # repr=False: the key must never appear in logs or tracebacks.
    license_key: str | None = field(default=None, repr=False)

    @property
    def model_name(self) -> str:
        return self.model.stem
