#!/usr/bin/env bash
# Provisions libtorch 2.13.0 for tch 0.26 and prints the environment to build with, as `export` lines.
#
#   eval "$(scripts/provision-libtorch.sh)"
#
# Order of preference:
#   1. $LIBTORCH, when the user already has a libtorch 2.13.0 (left as it is);
#   2. a CUDA build (the full PyPI torch==2.13.0 with its CUDA wheels, about 2.7 GB, and the CUDA and
#      NCCL headers its NCCL process group compiles against) when an NVIDIA driver is present
#      (nvidia-smi works) or ROBUSTCNN_LIBTORCH=cuda;
#   3. otherwise a slim CPU-only libtorch: libtorch_cpu, libc10 and libgomp from the same PyPI wheel,
#      plus the two small CUDA runtime libraries libtorch_cpu links against (cudart, cupti; 13 MB)
#      instead of the whole CUDA stack. About 0.5 GB on disk instead of 4.5 GB.
# Everything lands in a cache outside the clone ($ROBUSTCNN_CACHE, default ~/.cache/robustcnn), reused
# by later clones and by CI; a finished install is marked by a stamp file, so an interrupted one is
# redone rather than trusted.
set -euo pipefail

TORCH_VERSION=2.13.0
CUDART_VERSION="13.0.96.*"
CUPTI_VERSION="13.0.85.*"
cache="${ROBUSTCNN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/robustcnn}"
log() { echo "provision-libtorch: $*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -n "${LIBTORCH:-}" ]]; then
  [[ -d "$LIBTORCH/lib" && -d "$LIBTORCH/include" ]] || die "LIBTORCH=$LIBTORCH has no lib/ and include/ folders (expected an unpacked libtorch $TORCH_VERSION)"
  echo "export LIBTORCH='$LIBTORCH'"
  exit 0
fi

want="${ROBUSTCNN_LIBTORCH:-}"
if [[ -z "$want" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then want=cuda; else want=cpu; fi
fi
python=$(command -v python3 || command -v python || true)
[[ -n "$python" ]] || die "python3 with pip is needed to fetch torch==$TORCH_VERSION from PyPI (or set LIBTORCH)"
pip_quiet=(-q --disable-pip-version-check)

case "$want" in
cuda)
  dir="$cache/torch-$TORCH_VERSION-cuda"
  if [[ ! -f "$dir/.complete" ]]; then
    log "installing torch==$TORCH_VERSION with CUDA into $dir (about 2.7 GB download)"
    rm -rf "$dir"
    "$python" -m pip install "${pip_quiet[@]}" --root-user-action=ignore --target "$dir" "torch==$TORCH_VERSION" || die "pip could not install torch==$TORCH_VERSION"
    touch "$dir/.complete"
  fi
  # c10d's NCCL process group also compiles against CUDA's and NCCL's headers; pip's CUDA wheels hold
  # most of them, and the rest (crt/, cccl) come at the versions torch pins (a few MB).
  if [[ ! -f "$dir/.cuda-include" ]]; then
    include=$("$python" "$(dirname "$0")/cuda-headers.py" "$dir/torch-$TORCH_VERSION.dist-info/METADATA" "$dir") ||
      die "could not provide CUDA's and NCCL's headers for the NCCL process group"
    echo "$include" >"$dir/.cuda-include"
  fi
  echo "export ROBUSTCNN_CUDA_INCLUDE='$(cat "$dir/.cuda-include")'"
  echo "export LIBTORCH_USE_PYTORCH=1"
  echo "export PYTHONPATH='$dir'${PYTHONPATH:+:\$PYTHONPATH}"
  echo "export ROBUSTCNN_LIBTORCH_LIB='$dir/torch/lib'"
  ;;
cpu)
  dir="$cache/libtorch-$TORCH_VERSION-cpu"
  if [[ ! -f "$dir/.complete" ]]; then
    log "preparing a CPU-only libtorch $TORCH_VERSION in $dir (one 530 MB download)"
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp/wheels" "$dir.tmp/unpacked"
    platform=(--only-binary=:all: --platform manylinux_2_28_x86_64 --platform manylinux_2_25_x86_64
              --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --python-version 3.11)
    "$python" -m pip download "${pip_quiet[@]}" --no-deps "${platform[@]}" -d "$dir.tmp/wheels" \
      "torch==$TORCH_VERSION" "nvidia-cuda-runtime==$CUDART_VERSION" "nvidia-cuda-cupti==$CUPTI_VERSION" \
      || die "pip could not download torch==$TORCH_VERSION and its CUDA runtime wheels from PyPI"
    for w in "$dir.tmp"/wheels/*.whl; do
      "$python" -m zipfile -e "$w" "$dir.tmp/unpacked" || die "could not unpack $w"
    done
    u="$dir.tmp/unpacked"
    mkdir -p "$dir.tmp/lib"
    cp -r "$u/torch/include" "$u/torch/share" "$dir.tmp/"
    cp "$u/torch/lib/libtorch_cpu.so" "$u/torch/lib/libc10.so" "$u/torch/lib/libgomp.so.1" "$dir.tmp/lib/"
    find "$u/nvidia" \( -name 'libcudart.so.13*' -o -name 'libcupti.so.13*' \) -exec cp {} "$dir.tmp/lib/" \;
    [[ -f "$dir.tmp/lib/libcudart.so.13" && -f "$dir.tmp/lib/libcupti.so.13" ]] || die "the CUDA runtime wheels did not hold libcudart.so.13 and libcupti.so.13"
    ln -s libgomp.so.1 "$dir.tmp/lib/libgomp.so"
    # The wheel's libtorch.so only joins libtorch_cpu and libtorch_cuda; tch links -ltorch, so a linker
    # script stands in for it and resolves to libtorch_cpu alone.
    echo "INPUT(libtorch_cpu.so)" > "$dir.tmp/lib/libtorch.so"
    echo "$TORCH_VERSION" > "$dir.tmp/build-version"
    rm -rf "$dir.tmp/wheels" "$dir.tmp/unpacked"
    mv "$dir.tmp" "$dir"
    touch "$dir/.complete"
  fi
  echo "export LIBTORCH='$dir'"
  echo "export ROBUSTCNN_LIBTORCH_LIB='$dir/lib'"
  ;;
*) die "ROBUSTCNN_LIBTORCH must be cpu or cuda, not '$want'" ;;
esac
