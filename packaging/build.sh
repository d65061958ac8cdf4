#!/usr/bin/env bash
# Builds dist/layerscale-dashboard/ (run it as dist/layerscale-dashboard/layerscale-dashboard),
# then smoke-checks it (packaging/smoke.py: libraries, engine, CLI, a demo screenshot).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pyinstaller ] || { echo "run 'bash .ci/setup --dev' first" >&2; exit 1; }
.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller \
  packaging/layerscale-dashboard.spec
# The interpreter's own library and extension modules (built here, not taken from wheels)
# carry ~25 MB of debug information nobody reads.
find dist/layerscale-dashboard/_internal -maxdepth 1 -name 'libpython3*.so*' -type f \
  -exec strip --strip-debug {} +
find dist/layerscale-dashboard/_internal/python3*/lib-dynload -name '*.so' -type f \
  -exec strip --strip-debug {} +
# cryptography's extension (for the Secret Service session) keeps a 3 MB symbol table; it has
# no patched library paths, so stripping is safe (other wheels' libraries are left alone:
# stripping numpy's OpenBLAS breaks it). The smoke check's `keys` step exercises it.
strip --strip-unneeded dist/layerscale-dashboard/_internal/cryptography/hazmat/bindings/_rust*.so
.venv/bin/python packaging/smoke.py dist/layerscale-dashboard/layerscale-dashboard
