#!/usr/bin/env bash
# Provides the gloo C++ headers that the bridge to PyTorch's distributed engine compiles against
# (libtorch ships c10d's headers and gloo's code, but not gloo's headers), and prints the
# environment line to build with:
#
#   eval "$(scripts/provision-gloo-headers.sh)"
#
# $ROBUSTCNN_GLOO_INCLUDE, when set, is used as it is. Otherwise Debian's libgloo-dev package is
# downloaded (no root needed: apt-get download) and unpacked into the cache beside libtorch. The bridge
# holds gloo's types only behind c10d's pointers, so these headers may be older than libtorch's gloo.
set -euo pipefail
cache="${ROBUSTCNN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/robustcnn}"
log() { echo "provision-gloo-headers: $*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -n "${ROBUSTCNN_GLOO_INCLUDE:-}" ]]; then
  [[ -f "$ROBUSTCNN_GLOO_INCLUDE/gloo/context.h" ]] || die "ROBUSTCNN_GLOO_INCLUDE=$ROBUSTCNN_GLOO_INCLUDE has no gloo/context.h"
  echo "export ROBUSTCNN_GLOO_INCLUDE='$ROBUSTCNN_GLOO_INCLUDE'"
  exit 0
fi
if [[ -f /usr/include/gloo/context.h ]]; then
  echo "export ROBUSTCNN_GLOO_INCLUDE='/usr/include'"
  exit 0
fi
dir="$cache/gloo-headers"
if [[ ! -f "$dir/.complete" ]]; then
  command -v apt-get >/dev/null 2>&1 || die "needs Debian's libgloo-dev headers: set ROBUSTCNN_GLOO_INCLUDE to a folder holding gloo/context.h"
  log "unpacking Debian's libgloo-dev headers into $dir"
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$dir.tmp"
  if ! (cd "$dir.tmp" && apt-get download -q libgloo-dev >/dev/null 2>&1); then
    if [[ $(id -u) == 0 ]]; then
      apt-get update -q >/dev/null 2>&1 || true
      (cd "$dir.tmp" && apt-get download -q libgloo-dev >/dev/null 2>&1) || die "apt-get download libgloo-dev failed"
    else
      die "apt-get download libgloo-dev failed (run apt-get update, or set ROBUSTCNN_GLOO_INCLUDE)"
    fi
  fi
  dpkg-deb -x "$dir.tmp"/libgloo-dev_*.deb "$dir.tmp/x" || die "could not unpack libgloo-dev"
  mv "$dir.tmp/x/usr/include" "$dir.tmp/include"
  rm -rf "$dir.tmp/x" "$dir.tmp"/*.deb
  mv "$dir.tmp" "$dir"
  touch "$dir/.complete"
fi
echo "export ROBUSTCNN_GLOO_INCLUDE='$dir/include'"
