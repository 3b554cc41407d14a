#!/usr/bin/env bash
# Caches the reference's six frost photographs (frost1.png … frost6.jpg, Apache-2.0), which ship
# inside the imagecorruptions wheel on PyPI, in $ROBUSTCNN_CACHE/frost (default ~/.cache/robustcnn).
# The JPEG ones are decoded once with Pillow (libjpeg-turbo, as the reference's OpenCV decodes them)
# and kept as PNG. The Python package uses them by default (docs/python.md). Without them, frost is procedural, and
# the package says so. A failed download is a warning, not an error.
set -uo pipefail
cache="${ROBUSTCNN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/robustcnn}"
dir="$cache/frost"
[[ -f "$dir/.complete" ]] && exit 0
python=$(command -v python3 || command -v python || true)
log() { echo "provision-frost: $*" >&2; }
[[ -n "$python" ]] || { log "warning: no python3 to fetch the frost photographs; frost stays procedural"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$python" -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" "imagecorruptions==1.1.2" >&2; then
  log "warning: could not download imagecorruptions 1.1.2 from PyPI; frost stays procedural"
  exit 0
fi
"$python" - "$tmp"/imagecorruptions-1.1.2-py3-none-any.whl "$dir.tmp" <<'PY' || { log "warning: could not unpack the frost photographs"; exit 0; }
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("imagecorruptions/frost/"):
            with open(os.path.join(out, os.path.basename(name)), "wb") as f:
                f.write(z.read(name))
PY
# The JPEG photographs decoded as the reference decodes them (libjpeg-turbo, through Pillow, which
# equals OpenCV's imread here) and kept as PNG, so the engine reads the reference's pixels.
pil=()
if ! "$python" -c "import PIL" 2>/dev/null; then
  "$python" -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$tmp/pil" pillow >&2 && pil=(env "PYTHONPATH=$tmp/pil")
fi
"${pil[@]}" "$python" - "$dir.tmp" <<'PY' || log "warning: could not decode the JPEG photographs with Pillow; the engine decodes them itself (a grey level apart in places)"
import sys, os
from PIL import Image
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if name.endswith(".jpg"):
        Image.open(os.path.join(d, name)).convert("RGB").save(os.path.join(d, name[:-4] + ".png"))
        os.remove(os.path.join(d, name))
PY
rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.complete"
log "cached the reference's frost photographs in $dir"
