"""PyInstaller entry point: the same dispatcher as the `layerscale-dashboard` script."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
