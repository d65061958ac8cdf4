"""`layerscale-dashboard`: the GUI by default, subcommands for headless use.

Each subcommand lives with the code it drives; this module only dispatches, so
the GUI, the CLI and a frozen (PyInstaller) build share one entry point.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else ""
    if command in ("--version", "-V"):
        from app import __version__

        print(f"layerscale-dashboard {__version__}")
        return 0
    if command == "serve-local":
        # Lets a frozen build start the bundled server as a second process of itself.
        from app.localserver.__main__ import main as serve

        return serve(args[1:])
    if command == "engine-check":
        # Which instruction sets the bundled engine was built for (packaging/smoke.py).
        from app.localserver.portability import main as engine_check

        return engine_check()
    if command == "server":
        from app.launcher.cli import main as server_cli

        return server_cli(args[1:])
    if command == "keys":
        from app.secrets.cli import main as keys_cli

        return keys_cli(args[1:])
    from app.ui.main import main as gui

    return gui(args)


if __name__ == "__main__":
    sys.exit(main())
