"""`layerscale-dashboard keys add|list|remove|test --server URL`.

The key is read from stdin (when it is not a terminal) or a hidden prompt,
never from the command line, and is never printed.

Exit codes:
  0  done (key stored / removed / listed / accepted by the server)
  1  nothing to do or bad input (no key stored for that URL, empty key)
  2  usage error
  3  no usable OS keyring (message says what to install or unlock)
  4  the server answered but rejected the key (401/403) or is still loading
  5  the server is unreachable or is not a LayerScale server
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys

from app.secrets.check import check_key
from app.secrets.store import KeyStore, KeyStoreUnavailable, resolve_key
from app.secrets.urls import normalise_url

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_KEYRING, EXIT_REJECTED, EXIT_UNREACHABLE = range(6)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerscale-dashboard keys",
        description="Licence keys in the OS keyring, one per server URL.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="store or replace the key for a server (read from stdin "
                         "or a hidden prompt)")
    add.add_argument("--server", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    sub.add_parser("list", help="servers that have a key (keys are never shown)")
    remove = sub.add_parser("remove", help="delete the key for a server")
    remove.add_argument("--server", required=True)
    test = sub.add_parser("test", help="check the server's health, then one authenticated call")
    test.add_argument("--server", required=True)
    return parser


def _read_key(url: str) -> str:
    if sys.stdin is not None and not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    return getpass.getpass(f"Licence key for {url} (input hidden): ").strip()


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    store = KeyStore()
    url = ""
    if getattr(args, "server", None) is not None:
        try:
            url = normalise_url(args.server)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        if args.action == "add":
            return _add(store, url)
        if args.action == "list":
            for name in store.servers():
                print(name)
            return EXIT_OK
        if args.action == "remove":
            if store.delete(url):
                print(f"removed the key for {url}")
                return EXIT_OK
            print(f"no key stored for {url}", file=sys.stderr)
            return EXIT_ERROR
        return _test(store, url)
    except KeyStoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_KEYRING


def _add(store: KeyStore, url: str) -> int:
    try:
        key = _read_key(url)
    except (EOFError, KeyboardInterrupt):
        print("\nerror: no key given", file=sys.stderr)
        return EXIT_ERROR
    if not key:
        print("error: no key given (pipe it on stdin or type it at the prompt)", file=sys.stderr)
        return EXIT_ERROR
    replacing = False
    # An unusable keyring is reported by set() below, with the full message.
    with contextlib.suppress(KeyStoreUnavailable):
        replacing = store.get(url) is not None
    try:
        store.set(url, key)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"{'replaced' if replacing else 'stored'} the key for {url} in the OS keyring")
    return EXIT_OK


def _test(store: KeyStore, url: str) -> int:
    key = resolve_key(url)
    if key is None:
        store.check()  # surfaces an unusable keyring as exit 3 rather than "no key"
    result = asyncio.run(check_key(url, key))
    stream = sys.stdout if result.ok else sys.stderr
    print(result.message, file=stream)
    if result.ok:
        return EXIT_OK
    if result.health in ("unreachable", "not a LayerScale server"):
        return EXIT_UNREACHABLE
    return EXIT_REJECTED
