#!/usr/bin/env bash
# Fuzzes every reader of user files (RELIABILITY.md) with cargo-fuzz (libFuzzer) on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 s for each of the targets in fuzz/Cargo.toml
#
# CI runs it briefly (.ci/run: 15 s a target); give it hours for a real campaign. Each target starts
# from its seed corpus (fuzz/corpus/<target>, in the repo) plus what earlier runs found
# (fuzz/work/<target>, not in the repo). A crash stops the target and is written under
# fuzz/artifacts/<target>/: copy it into fuzz/regressions/<target>/, where the tests replay it, and fix
# the reader. Prints one line per target (executions, new inputs, crashes) and exits 1 on a crash.
# Rust's own checks are the sanitizer here (overflow checks and debug assertions are on, except
# overflow checks in zune-jpeg: fuzz/Cargo.toml says why); libtorch is not instrumented, so
# AddressSanitizer would add little and is left off (-s none).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  [[ -f "$HOME/.cargo/env" ]] && . "$HOME/.cargo/env"
fi
seconds="${1:-60}"
shift || true
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "fuzz.sh: SECONDS must be a positive whole number, got '$seconds'" >&2; exit 2; }
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^robustcnn-fuzz$')
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
  cargo install --locked --quiet cargo-fuzz --version 0.13.2
fi
eval "$(scripts/provision-libtorch.sh && scripts/provision-gloo-headers.sh)"
fuzz() { (cd fuzz && cargo fuzz "$1" --fuzz-dir . -s none "${@:2}"); }
if ! build_log=$(fuzz build 2>&1); then
  echo "$build_log" | tail -30 >&2
  echo "fuzz.sh: building the fuzz targets failed" >&2
  exit 1
fi
status=0
printf '%-12s %12s %10s %8s %8s\n' target executions "exec/s" new crashes
for t in "${targets[@]}"; do
  mkdir -p "fuzz/work/$t"
  log="fuzz/work/$t.log"
  crashed=0
  fuzz run "$t" "work/$t" "corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 \
    -rss_limit_mb=4096 -timeout=20 -max_len=65536 >"$log" 2>&1 || crashed=1
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  printf '%-12s %12s %10s %8s %8s\n' "$t" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" \
    "$(stat new_units_added)" "$crashed"
  if [[ $crashed -eq 1 ]]; then
    status=1
    grep -E "^(==[0-9]+==|thread '|SUMMARY|artifact_prefix|Test unit written)" "$log" | head -8 >&2 || true
    echo "fuzz.sh: $t crashed (log: $log); copy the input named above into fuzz/regressions/$t/" >&2
  fi
done
exit $status
