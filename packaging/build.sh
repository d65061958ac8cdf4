#!/usr/bin/env bash
# Builds dist/layerscale-dashboard/ (run it as dist/layerscale-dashboard/layerscale-dashboard),
# then checks that the frozen app starts its bundled server and answers /v1/health.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pyinstaller ] || { echo "run 'bash .ci/setup --dev' first" >&2; exit 1; }
.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller \
  packaging/layerscale-dashboard.spec
.venv/bin/python packaging/smoke.py dist/layerscale-dashboard/layerscale-dashboard
