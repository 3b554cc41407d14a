#!/usr/bin/env bash
# Builds here (a machine with Rust and PyPI) what scripts/gpu-check.sh runs on a GPU machine that has
# PyTorch but neither network nor Rust: robustcnn and the CUDA tests, linked against the libtorch of
# the CUDA wheel torch==VERSION, the one that machine's python3 holds (docs/gpu-check.md).
#
#   scripts/gpu-bundle.sh VERSION [DIR]     e.g. scripts/gpu-bundle.sh 2.11.0 (DIR: .gpu-bundle)
#
# DIR then holds robustcnn, cuda-tests, torch-version and commit (about 27 MB); there, run
#   ROBUSTCNN_GPU_BUNDLE=DIR scripts/gpu-check.sh OUT
# tch 0.26 is written for libtorch 2.13.0. For another torch its generated C API first loses the
# functions whose ops that torch lacks (scripts/tch-drop-missing-ops.py); the build happens in a copy of
# the tracked files, so Cargo.lock and target/ here stay as they are. Takes about 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: scripts/gpu-bundle.sh VERSION [DIR]" >&2; exit 2; }
version=$1
dir=$(realpath -m "${2:-.gpu-bundle}")
die() { echo "gpu-bundle: $*" >&2; exit 1; }
log() { echo "gpu-bundle: $*" >&2; }
env_lines=$(./dev.sh env) || die "./dev.sh env failed"
eval "$env_lines"
cache=${ROBUSTCNN_CACHE:-$HOME/.cache/robustcnn}/gpu-bundle/torch-$version
mkdir -p "$cache"

# The CUDA wheel's headers and libraries (no Python needed from it).
if [[ ! -f "$cache/torch/.complete" || ! -f "$cache/torch/METADATA" ]]; then
  log "downloading torch==$version (the CUDA wheel, about 530 MB)"
  rm -rf "$cache/wheel" "$cache/torch"
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 -d "$cache/wheel" "torch==$version" || die "pip could not download torch==$version"
  python3 -m zipfile -e "$cache"/wheel/torch-*.whl "$cache/unpacked" || die "could not unpack the torch wheel"
  mkdir -p "$cache/torch"
  mv "$cache/unpacked/torch/include" "$cache/unpacked/torch/lib" "$cache/unpacked/torch/version.py" "$cache/torch/"
  mv "$cache"/unpacked/torch-*.dist-info/METADATA "$cache/torch/METADATA"
  rm -rf "$cache/wheel" "$cache/unpacked"
  touch "$cache/torch/.complete"
fi
full=$(sed -n "s/^__version__ = '\(.*\)'$/\1/p" "$cache/torch/version.py")
[[ $full == *+cu* ]] || die "torch==$version from PyPI is $full, not a CUDA build"

# c10d's NCCL process group compiles against the CUDA and NCCL headers of the versions this torch pins.
if [[ ! -f "$cache/cuda-include" ]]; then
  log "fetching the CUDA and NCCL headers torch $version pins (their wheels' include/ folders)"
  include=$(python3 scripts/cuda-headers.py "$cache/torch/METADATA" "$cache/cuda-headers") ||
    die "could not provide the CUDA and NCCL headers"
  echo "$include" >"$cache/cuda-include"
fi

# torch-sys links -ltorch (the wheel's, which joins libtorch_cpu and libtorch_cuda) and finds CUDA by
# libtorch_cuda.so; the CUDA runtime libraries stay on the GPU machine, so the link allows their
# symbols to be missing here.
lt=$cache/libtorch
rm -rf "$lt" && mkdir -p "$lt/lib"
ln -s "$cache/torch/include" "$lt/include"
for f in "$cache"/torch/lib/*.so* ; do ln -s "$f" "$lt/lib/"; done
ln -sf libgomp.so.1 "$lt/lib/libgomp.so"

torch_sys_sources() { find "$HOME/.cargo/registry/src" -maxdepth 2 -type d -name 'torch-sys-0.26.0' | head -1; }
tch_sys=$(torch_sys_sources)
if [[ -z $tch_sys ]]; then
  cargo fetch -q || die "cargo fetch failed"
  tch_sys=$(torch_sys_sources)
fi
[[ -n $tch_sys ]] || die "torch-sys 0.26.0's sources not found under ~/.cargo/registry"
patched=$cache/torch-sys
if [[ ! -f "$patched/.complete" ]]; then
  rm -rf "$patched" && cp -r "$tch_sys" "$patched"
  if [[ $version != 2.13.0 ]]; then
    log "dropping from tch's C API the ops torch $version lacks"
    python3 scripts/tch-drop-missing-ops.py "$patched/libtch/torch_api_generated.cpp" "$lt/include" >&2 ||
      die "tch's C API does not compile against torch $version"
  fi
  touch "$patched/.complete"
fi

# Build in a copy of the working tree's files (tracked, or new and not ignored).
src=$cache/src
rm -rf "$src" && mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src"
cd "$src"
export LIBTORCH=$lt ROBUSTCNN_LIBTORCH_LIB=$lt/lib LIBTORCH_BYPASS_VERSION_CHECK=1 CARGO_TARGET_DIR=$cache/target
ROBUSTCNN_CUDA_INCLUDE=$(cat "$cache/cuda-include")
export ROBUSTCNN_CUDA_INCLUDE
export RUSTFLAGS="-C link-arg=-Wl,--allow-shlib-undefined -C link-arg=-Wl,-rpath-link,$cache/torch/lib"
patch=(--config "patch.crates-io.torch-sys.path=\"$patched\"")
log "building robustcnn and the CUDA tests against torch $full"
cargo build --release -q "${patch[@]}" -p robustcnn-cli || die "cargo build failed"
tests=$(cargo test --release -q "${patch[@]}" -p robustcnn --test cuda --no-run --message-format=json |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "cuda" and m.get("executable"):
        print(m["executable"])') || die "building the CUDA tests failed"
[[ -x $tests ]] || die "the CUDA test binary was not found"
mkdir -p "$dir"
cp "$CARGO_TARGET_DIR/release/robustcnn" "$dir/robustcnn"
cp "$tests" "$dir/cuda-tests"
echo "$full" >"$dir/torch-version"
(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown) >"$dir/commit"
log "$dir: robustcnn and cuda-tests for torch $full ($(du -sh "$dir" | cut -f1))"
