#!/usr/bin/env sh
# Adds LayerScale Dashboard to the desktop's application menu (per user, no root needed).
# Shipped at the top of the packaged app: run it from there, e.g.
#   dist/layerscale-dashboard/install-desktop.sh            (add)
#   dist/layerscale-dashboard/install-desktop.sh --remove   (take it away again)
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
exe="$here/layerscale-dashboard"
res="$here/_internal/resources"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
icons="$data/icons/hicolor"

if [ "${1:-}" = "--remove" ]; then
  rm -f "$apps/layerscale-dashboard.desktop"
  find "$icons" -name layerscale-dashboard.png -o -name layerscale-dashboard.svg 2>/dev/null \
    | while read -r f; do rm -f "$f"; done
  echo "removed LayerScale Dashboard from the application menu"
  exit 0
fi
[ -x "$exe" ] || { echo "install-desktop: $exe not found (run this from the packaged app)" >&2; exit 1; }
mkdir -p "$apps"
# Exec must name the bundle's executable by its absolute path; quote it for spaces.
sed "s|^Exec=.*|Exec=\"$exe\"|" "$res/layerscale-dashboard.desktop" > "$apps/layerscale-dashboard.desktop"
(cd "$res/icons/hicolor" && find . -type f) | while read -r f; do
  mkdir -p "$icons/$(dirname "$f")"
  cp "$res/icons/hicolor/$f" "$icons/$f"
done
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
echo "added LayerScale Dashboard to the application menu ($apps/layerscale-dashboard.desktop)"
