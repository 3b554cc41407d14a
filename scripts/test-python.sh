#!/usr/bin/env bash
# The Python package's tests (crates/corrupt-py, docs/python.md): builds its wheel with maturin,
# installs it into a virtual environment in the cache, and runs pytest against the Rust engine
# (the corrupt_npy example). Called by `./dev.sh test` after the Rust tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${ROBUSTCNN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/robustcnn}"
venv="$cache/pyenv"
python=$(command -v python3 || command -v python || true)
[[ -n "$python" ]] || { echo "test-python: python3 is needed" >&2; exit 1; }
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv" || { echo "test-python: could not make a virtual environment in $venv (Debian: apt-get install python3-venv)" >&2; exit 1; }
fi
# imagecorruptions 1.1.2, the reference, with the versions it still runs with (NumPy < 2, scikit-image
# 0.20: no 0.19 wheel exists for CPython 3.11), for the test of frost against it.
"$venv/bin/pip" install -q --disable-pip-version-check "maturin>=1.5,<2" pytest pillow "numpy<2" \
  "scikit-image==0.20.0" "scipy<1.12" "opencv-python-headless<4.11" "imagecorruptions==1.1.2"
cargo build --release -q -p corrupt --example corrupt_npy
rm -rf target/wheels
"$venv/bin/maturin" build --release -q -m crates/corrupt-py/Cargo.toml -o target/wheels --target-dir target/python
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels/robustcnn_corrupt-*.whl
ROBUSTCNN_CORRUPT_NPY="$PWD/target/release/examples/corrupt_npy" "$venv/bin/python" -m pytest -q -p no:cacheprovider crates/corrupt-py/tests
