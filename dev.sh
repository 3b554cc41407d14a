#!/usr/bin/env bash
# The project's entry point on a fresh machine: provisions libtorch, builds, and runs.
#
#   ./dev.sh demo            provision, build, run the demo on the embedded data
#   ./dev.sh test            provision, build, run the whole test suite (Rust, then the Python package's)
#   ./dev.sh bench [ARGS]    provision, build, run `robustcnn bench ARGS`
#   ./dev.sh run ARGS        provision, build, run `robustcnn ARGS`
#   ./dev.sh lint            cargo fmt --check and clippy -D warnings
#   ./dev.sh env             print the environment lines (eval "$(./dev.sh env)" to use cargo directly)
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v cargo >/dev/null 2>&1; then
  [[ -f "$HOME/.cargo/env" ]] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "dev.sh: cargo is needed: install Rust from https://rustup.rs" >&2; exit 1; }
env_lines=$(scripts/provision-libtorch.sh && scripts/provision-gloo-headers.sh && scripts/provision-frost.sh)
eval "$env_lines"
build() { cargo build --release --quiet -p robustcnn-cli; }
cmd="${1:-}"
shift || true
case "$cmd" in
  demo) build; exec target/release/robustcnn demo "$@" ;;
  # Test threads run side by side, each with libtorch's OpenMP team: passive waiting stops the teams
  # spinning against each other (docs/setup.md).
  test) OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" cargo test --release --workspace "$@" && scripts/test-python.sh ;;
  bench) build; exec target/release/robustcnn bench "$@" ;;
  run) build; exec target/release/robustcnn "$@" ;;
  lint)
    py=(--manifest-path crates/corrupt-py/Cargo.toml)
    cargo fmt --all -- --check && cargo fmt "${py[@]}" -- --check &&
      cargo clippy --release --workspace --all-targets -- -D warnings &&
      cargo clippy --release "${py[@]}" --target-dir target/python --all-targets -- -D warnings ;;
  env) echo "$env_lines" ;;
  *) echo "usage: ./dev.sh demo|test|bench|run|lint|env [ARGS...]" >&2; exit 2 ;;
esac
