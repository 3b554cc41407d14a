#!/usr/bin/env bash
# Renders a report.html in headless Chromium (Debian: apt-get install chromium) to a PNG, to check
# that it shows its plots in a real browser: scripts/screenshot-report.sh REPORT.html OUT.png [HEIGHT]
set -euo pipefail
html=${1:?usage: scripts/screenshot-report.sh REPORT.html OUT.png [HEIGHT]}
png=${2:?usage: scripts/screenshot-report.sh REPORT.html OUT.png [HEIGHT]}
height=${3:-5200}
command -v chromium >/dev/null 2>&1 || { echo "screenshot-report: needs chromium (apt-get install chromium)" >&2; exit 1; }
[[ -f "$html" ]] || { echo "screenshot-report: $html: no such file" >&2; exit 1; }
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1280,$height" \
  --screenshot="$png" "file://$(realpath "$html")" 2>/dev/null
echo "$png"
