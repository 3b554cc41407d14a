#!/usr/bin/env bash
# Proves the CUDA path on one NVIDIA GPU, sized for 8 minutes on a 16-core GPU machine (docs/gpu-check.md).
#
#   scripts/gpu-check.sh [OUT [WORK]]     OUT: summary.md, log.txt, bench-*.json (default gpu-check/);
#                                         WORK: the runs, data and evaluations (default OUT/work)
#
# Builds through ./dev.sh with the CUDA libtorch (needs cargo and PyPI). With ROBUSTCNN_GPU_BUNDLE=DIR
# it takes instead the binaries that scripts/gpu-bundle.sh built elsewhere against the PyTorch this
# machine's python3 holds (for a GPU machine without network or Rust). Then:
#   1. the CUDA tests (crates/robustcnn/tests/cuda.rs, --ignored);
#   2. ResNet-20 for 300 steps on a CIFAR-format copy of the embedded Fashion-MNIST, on the CPU in
#      fp32 and on the GPU in fp32 and bf16, from the same initial weights: the loss curves must agree;
#   3. FGSM and PGD-20 at 1, 2 and 4/255 on the GPU and on the CPU with the same weights: robust
#      accuracy within 1 point;
#   4. data-parallel training with two ranks on the GPU over Gloo (torchrun), and over NCCL where the
#      machine has two GPUs, against one process; `--device cuda` as each rank's own GPU; a rank stopped
#      mid-training named by the heartbeat (over NCCL with two GPUs); the data-parallel bench (all-reduce
#      time, share hidden under the backward pass);
#   5. robustcnn bench on the GPU (fp32, bf16, fp16) next to PyTorch's own ResNet-20 on the same GPU
#      (scripts/pytorch-crosscheck.py speed --device cuda).
# Exits 1 if any check failed; summary.md says which, with its numbers.
# GPU_CHECK_DEVICE=cpu rehearses the script on a machine without a GPU: what it would run on CUDA runs on
# the CPU instead (no fp16), which checks the script, never CUDA.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-gpu-check}")
work=$(realpath -m "${2:-$out/work}")
mkdir -p "$out" "$work" || exit 1
log="$out/log.txt"
summary="$out/summary.md"
: >"$log"
: >"$summary"
failed=0
python=${PYTHON:-python3}
gpu=${GPU_CHECK_DEVICE:-cuda}
precisions="fp32 bf16 fp16"
[[ $gpu == cpu ]] && precisions="fp32 bf16"

say() { echo "$*" | tee -a "$summary"; }
# Runs a command with its output in the log; its status is the command's.
logged() {
  echo "+ $*" >>"$log"
  "$@" >>"$log" 2>&1
}
# check NAME STATUS [DETAIL]: one PASS or FAIL line.
check() {
  if [[ $2 == 0 ]]; then say "- PASS $1${3:+: $3}"; else say "- FAIL $1${3:+: $3}"; failed=1; fi
}
die() {
  say "- FAIL $*"
  exit 1
}

commit=$(git describe --always --dirty 2>/dev/null || cat "${ROBUSTCNN_GPU_BUNDLE:-/nonexistent}/commit" 2>/dev/null || echo unknown)
say "# GPU check, $(date -u +%Y-%m-%dT%H:%MZ), commit $commit"
say ""
if [[ $gpu == cpu ]]; then
  say "- REHEARSAL (GPU_CHECK_DEVICE=cpu): every run below is on the CPU; nothing here is about CUDA"
else
  nvidia-smi -L >/dev/null 2>&1 || die "no NVIDIA GPU here: nvidia-smi -L fails"
  say "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
fi
say "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"

# --- 0. The binaries ---------------------------------------------------------------------------------
if [[ -n "${ROBUSTCNN_GPU_BUNDLE:-}" ]]; then
  bundle=$(realpath "$ROBUSTCNN_GPU_BUNDLE")
  [[ -x "$bundle/robustcnn" && -x "$bundle/cuda-tests" && -f "$bundle/torch-version" ]] ||
    die "ROBUSTCNN_GPU_BUNDLE=$bundle: expected robustcnn, cuda-tests and torch-version (scripts/gpu-bundle.sh makes them)"
  want=$(cat "$bundle/torch-version")
  have=$("$python" -c 'import torch; print(torch.__version__)' 2>>"$log") || die "$python cannot import torch"
  [[ $have == "$want" ]] || die "the bundle was built against torch $want, $python has $have: scripts/gpu-bundle.sh $have"
  site=$("$python" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>>"$log")
  nvidia=$(find "$site/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
  export LD_LIBRARY_PATH="$site/torch/lib${nvidia:+:$nvidia}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  bin=$bundle/robustcnn
  cuda_tests=("$bundle/cuda-tests")
  say "- build: the bundle in $bundle, against torch $have"
else
  libtorch=cuda
  [[ $gpu == cpu ]] && libtorch=cpu
  env_lines=$(ROBUSTCNN_LIBTORCH=$libtorch ./dev.sh env 2>>"$log") || die "provisioning the $libtorch libtorch failed (log.txt)"
  eval "$env_lines"
  logged cargo build --release -p robustcnn-cli || die "cargo build failed (log.txt)"
  bin=$PWD/target/release/robustcnn
  cuda_tests=(cargo test --release -p robustcnn --test cuda --)
  say "- build: ./dev.sh with the $libtorch libtorch"
fi
say "- PyTorch beside it: $("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)"
say ""
say "## Checks"

# --- 1. The CUDA tests --------------------------------------------------------------------------------
if [[ $gpu != cpu ]]; then
  logged "${cuda_tests[@]}" --ignored --test-threads 1
  status=$?
  check "CUDA tests (tests/cuda.rs)" $status "$(grep -o 'test result: .*passed; [0-9]* failed' "$log" | tail -1)"
fi

# --- 2. Training: the loss curves of the GPU runs against the CPU's -----------------------------------
logged "$python" scripts/cifar-from-fashion-mnist.py "$work/data" || die "could not write the CIFAR-format data"
# resnet20_run NAME [LAUNCHER...] -- TRAIN-OPTIONS...: ResNet-20 on that data, seed 0, into WORK/NAME.
resnet20_run() {
  local name=$1 launcher=()
  shift
  while [[ $1 != -- ]]; do launcher+=("$1"); shift; done
  shift
  rm -rf "${work:?}/$name"
  logged "${launcher[@]}" "$bin" train --quiet --model resnet20 --dataset cifar10 --data-dir "$work/data" --seed 0 \
    --out "$work/$name" "$@"
}
train() { # NAME DEVICE PRECISION
  local t0=$SECONDS
  resnet20_run "$1" -- --steps 300 --batch-size 128 --device "$2" --precision "$3"
  local status=$?
  echo "$1: $((SECONDS - t0)) s" >>"$log"
  return $status
}
for run in "cpu-fp32 cpu fp32" "cuda-fp32 $gpu fp32" "cuda-bf16 $gpu bf16"; do
  set -- $run
  train "$1" "$2" "$3" || check "training $1" 1 "robustcnn train failed (log.txt)"
done
curves=$("$python" - "$work" 2>>"$log" <<'EOF'
import json, os, sys
work = sys.argv[1]
def read(name):
    path = os.path.join(work, name, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    ev = [json.loads(l) for l in open(path)]
    return ([e["train_loss"] for e in ev if e.get("event") == "epoch"],
            next(e["test_accuracy"] for e in ev if e.get("event") == "end"))
cpu = read("cpu-fp32")
print("| epoch | CPU fp32 | CUDA fp32 | CUDA bf16 |")
print("|---|---|---|---|")
runs = {n: read(n) for n in ("cuda-fp32", "cuda-bf16")}
for i, loss in enumerate(cpu[0] if cpu else []):
    cells = [f"{r[0][i]:.4f}" if r and i < len(r[0]) else "-" for r in runs.values()]
    print(f"| {i + 1} | {loss:.4f} | " + " | ".join(cells) + " |")
if cpu:
    print("| test accuracy | " + " | ".join(f"{r[1]:.3f}" if r else "-" for r in [cpu, *runs.values()]) + " |")
# Tolerances (docs/gpu-check.md): per-epoch training loss within 0.02 + 5 % (fp32) or 0.05 + 10 %
# (bf16) of the CPU's, test accuracy within 2 or 3 points.
for name, (abs_tol, rel_tol, acc_tol) in {"cuda-fp32": (0.02, 0.05, 0.02), "cuda-bf16": (0.05, 0.10, 0.03)}.items():
    r = runs[name]
    ok = bool(cpu and r and len(r[0]) == len(cpu[0]))
    worst = max((abs(a - b) - (abs_tol + rel_tol * b) for a, b in zip(r[0], cpu[0])), default=0) if ok else 0
    ok = ok and worst <= 0 and abs(r[1] - cpu[1]) <= acc_tol
    print(f"RESULT {name} {'PASS' if ok else 'FAIL'}")
EOF
)
say ""
say "$(grep -v '^RESULT' <<<"$curves")"
say ""
for name in cuda-fp32 cuda-bf16; do
  grep -q "^RESULT $name PASS" <<<"$curves"
  seconds() { grep -o "^$1: [0-9]* s" "$log" | tail -1 | cut -d' ' -f2-; }
  check "$name loss curve against the CPU's" $? "300 steps in $(seconds $name) on the GPU, $(seconds cpu-fp32) on the CPU"
done

# --- 3. Attacks: robust accuracy on the GPU and on the CPU with the same weights ----------------------
for side in cuda cpu; do
  device=$side
  [[ $side == cuda ]] && device=$gpu
  logged "$bin" eval attack "$work/cuda-fp32" --device $device --attack fgsm,pgd --eps 1/255,2/255,4/255 \
    --no-sanity --results "$work/attacks-$side" || check "eval attack on $device" 1 "failed (log.txt)"
done
attacks=$("$python" - "$work" 2>>"$log" <<'EOF'
import json, os, sys
work = sys.argv[1]
def read(device):
    path = os.path.join(work, f"attacks-{device}", "attacks.json")
    return {(r["attack"], r["eps_text"]): r for r in json.load(open(path))["results"]} if os.path.exists(path) else {}
gpu, cpu = read("cuda"), read("cpu")
print("| attack | ε | robust accuracy, CUDA | CPU | CUDA img/s | CPU img/s |")
print("|---|---|---|---|---|---|")
worst = 1.0 if not gpu or gpu.keys() != cpu.keys() else 0.0
for key in sorted(gpu, key=lambda k: (k[0], gpu[k]["eps"])):
    g, c = gpu[key], cpu.get(key)
    if c:
        worst = max(worst, abs(g["robust_accuracy"] - c["robust_accuracy"]))
        print(f"| {key[0]} | {key[1]} | {g['robust_accuracy']:.3f} | {c['robust_accuracy']:.3f} | "
              f"{g['images_per_s']:.0f} | {c['images_per_s']:.0f} |")
print(f"RESULT {'PASS' if worst <= 0.01 else 'FAIL'} {100 * worst:.1f}")
EOF
)
say ""
say "$(grep -v '^RESULT' <<<"$attacks")"
say ""
grep -q '^RESULT PASS' <<<"$attacks"
check "FGSM/PGD-20 robust accuracy, CUDA against CPU, within 1 point" $? \
  "largest difference $(grep -o '^RESULT [A-Z]* [0-9.]*' <<<"$attacks" | cut -d' ' -f3) points"

# --- 4. Data-parallel on the GPU: two ranks against one process ----------------------------------------
# Over Gloo, both ranks use the one GPU (cuda:0), so a single-GPU machine runs the whole distributed path
# on CUDA tensors: broadcast, bucketed all-reduce during the backward pass, SyncBN. NCCL needs a GPU per
# rank: with two GPUs the same step runs over NCCL too (with one, tests/cuda.rs ran NCCL's collectives in
# a world of one). One step is compared: training at lr 0.1 multiplies rounding differences by tens at
# every early step.
# Two ranks through torchrun; where this python has no torch, through scripts/local-ranks.sh, which
# gives each rank torchrun's environment.
if "$python" -c 'import torch.distributed.run' 2>>"$log"; then
  two_ranks=("$python" -m torch.distributed.run --standalone --no-python --nproc-per-node 2)
else
  two_ranks=(scripts/local-ranks.sh 2)
  say "- launcher: scripts/local-ranks.sh 2, since $python has no torch.distributed.run (torchrun)"
fi
gloo=(env ROBUSTCNN_DIST_BACKEND=gloo "${two_ranks[@]}")
nccl=(env ROBUSTCNN_DIST_BACKEND=nccl "${two_ranks[@]}")
dp_gpu=$gpu
[[ $gpu == cuda ]] && dp_gpu=cuda:0
gpus=0
[[ $gpu == cuda ]] && gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
dp_train() { # NAME BATCH LR DEVICE [LAUNCHER...]
  local name=$1 batch=$2 lr=$3 device=$4
  shift 4
  resnet20_run "$name" "$@" -- --steps 1 --batch-size "$batch" --lr "$lr" --device "$device" \
    --set train.sync_batchnorm=true
}
# dp_compare RUN: "RESULT PASS|FAIL UPDATE STATS", RUN's step against dp-one's, both from dp-start
# (plain Python, so that the CPU rehearsal needs no torch).
dp_compare() {
  "$python" - "$work" "$1" 2>>"$log" <<'EOF'
import array, json, math, os, struct, sys
def load(run):
    raw = open(os.path.join(sys.argv[1], run, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for k, t in header.items():
        if k != "__metadata__" and t["dtype"] == "F32":
            a, b = t["data_offsets"]
            v = array.array("f")  # little-endian float32, as safetensors stores it on x86-64
            v.frombytes(raw[8 + n + a : 8 + n + b])
            out[k] = v
    return out
start, one, two = load("dp-start"), load("dp-one"), load(sys.argv[2])
params = sorted(k for k in one if "running_" not in k)
buffers = sorted(k for k in one if "running_" in k)
flat = lambda w, keys: [x for k in keys for x in w[k]]
norm = lambda v: math.sqrt(sum(x * x for x in v))
# The step's update (weights after it less the initial ones) of two ranks against one process's, and
# the running statistics themselves, each as a relative difference of the whole.
s, o, t = flat(start, params), flat(one, params), flat(two, params)
update = [b - a for a, b in zip(s, o)]
du = norm([(c - a) - u for a, c, u in zip(s, t, update)]) / norm(update)
ob, tb = flat(one, buffers), flat(two, buffers)
db = norm([b - a for a, b in zip(ob, tb)]) / norm(ob)
ok = one.keys() == two.keys() and du <= 1e-2 and db <= 1e-3
print(f"RESULT {'PASS' if ok else 'FAIL'} {du:.1e} {db:.1e}")
EOF
}
# dp_check RUN STATUS WHAT: one check line for RUN's step against one process's.
dp_check() {
  local dp="RESULT FAIL - - (a run failed: log.txt)"
  [[ $start == 0 && $one == 0 && $2 == 0 ]] && dp=$(dp_compare "$1")
  grep -q '^RESULT PASS' <<<"$dp"
  check "$3 against 1 process × batch 128, one step" $? \
    "update differs by $(cut -d' ' -f3 <<<"$dp") of its size (bound 1e-2), running statistics by $(cut -d' ' -f4 <<<"$dp") (bound 1e-3)"
}
dp_train dp-start 128 1e-30 "$dp_gpu"
start=$?
dp_train dp-one 128 0.1 "$dp_gpu"
one=$?
dp_train dp-two 64 0.1 "$dp_gpu" "${gloo[@]}"
dp_check dp-two $? "2 ranks × batch 64 on $dp_gpu (Gloo, SyncBN)"
if [[ $gpus -ge 2 ]]; then
  dp_train dp-nccl 64 0.1 cuda "${nccl[@]}"
  dp_check dp-nccl $? "2 ranks × batch 64 on cuda:0 and cuda:1 (NCCL, SyncBN)"
else
  say "- SKIP 2 ranks over NCCL: it needs a GPU per rank, and this machine has $gpus"
fi
if [[ $gpu == cuda ]]; then
  # Two ranks asking NCCL for one GPU: one clear line on each, before any collective.
  shared=$("${nccl[@]}" "$bin" train --quiet --steps 1 --device cuda:0 --out "$work/dp-shared" 2>&1)
  status=$?
  echo "$shared" >>"$log"
  [[ $status != 0 ]] && grep -q '^error: .*share one GPU (cuda:0' <<<"$shared"
  check "2 ranks on one GPU over NCCL are refused with one line" $? "$(grep -m1 '^error: ' <<<"$shared")"
  if [[ $gpus -ge 2 ]]; then
    # As under srun --gpus-per-task 1: each rank is shown only its own GPU, as cuda:0.
    LOCAL_RANKS_GPU_EACH=1 logged scripts/local-ranks.sh 2 "$bin" train --quiet --model resnet20 --dataset cifar10 \
      --data-dir "$work/data" --steps 2 --batch-size 64 --device cuda --out "$work/dp-per-task"
    check "2 ranks each shown only its own GPU (srun --gpus-per-task 1) train with --device cuda" $?
  else
    # `--device cuda` is each rank's own GPU: two ranks on a one-GPU machine are one line, not a shared GPU.
    own=$("${two_ranks[@]}" "$bin" train --quiet --steps 1 --device cuda --out "$work/dp-own" 2>&1)
    status=$?
    echo "$own" >>"$log"
    [[ $status != 0 ]] && grep -Eq '^error: .*(would share one GPU|has no GPU of its own)' <<<"$own"
    check "--device cuda on 2 ranks of one GPU is refused with one line" $? "$(grep -m1 '^error: ' <<<"$own")"
  fi
fi
# A rank stopped (SIGSTOP) mid-training keeps its sockets open, as a lost NCCL peer does: the heartbeat
# must end rank 0 within its timeout (10 s here), naming rank 1.
lost_backend=gloo lost_device=$dp_gpu
[[ $gpus -ge 2 ]] && lost_backend=nccl lost_device=cuda
rm -rf "$work/dp-lost" "$work/lost-pids"
# local-ranks.sh rather than torchrun, whose agent would end the others as soon as one rank stops.
ROBUSTCNN_DIST_BACKEND=$lost_backend ROBUSTCNN_DIST_HEARTBEAT_TIMEOUT=10 ROBUSTCNN_DIST_TIMEOUT=120 \
  LOCAL_RANKS_PIDS="$work/lost-pids" scripts/local-ranks.sh 2 "$bin" train --quiet --model resnet20 \
  --dataset cifar10 --data-dir "$work/data" --epochs 1000 --batch-size 64 --device "$lost_device" \
  --out "$work/dp-lost" >>"$log" 2>"$work/lost.err" &
lost_job=$!
launched=$SECONDS
until [[ -f $work/dp-lost/checkpoint.safetensors || $((SECONDS - launched)) -gt 120 ]]; do sleep 0.2; done
rank0=$(cat "$work/lost-pids/rank-0.pid") rank1=$(cat "$work/lost-pids/rank-1.pid")
kill -STOP "$rank1" 2>/dev/null
stopped=$SECONDS
while kill -0 "$rank0" 2>/dev/null && [[ $((SECONDS - stopped)) -lt 60 ]]; do sleep 0.2; done
ended=$((SECONDS - stopped))
kill -9 "$rank0" "$rank1" 2>/dev/null
wait "$lost_job"
cat "$work/lost.err" >>"$log"
# Rank 1 is stopped, then killed: the only error line is rank 0's.
lost_line=$(grep -m1 '^error: ' "$work/lost.err")
grep -q 'rank 1 was lost: no heartbeat for 10 s' <<<"$lost_line" && [[ $ended -lt 40 ]]
check "a rank stopped mid-training ($lost_backend on $lost_device) ends rank 0 within the heartbeat timeout" $? \
  "after $ended s: $lost_line"
# dp_bench WHAT DEVICE LAUNCHER...: the data-parallel bench, and its table into the summary.
dp_bench() {
  local what=$1 device=$2
  shift 2
  logged "$@" "$bin" bench --device "$device" --models resnet20,resnext29-4x32d --batch 32 --iters 20
  check "data-parallel bench, $what" $?
  say ""
  say '```'
  say "$(awk '/^model  *ranks/ { table = ""; on = 1 } on { table = table $0 "\n" } /^rank 0/ { on = 0 } END { printf "%s", table }' "$log")"
  say '```'
}
dp_bench "2 ranks on $dp_gpu over Gloo" "$dp_gpu" "${gloo[@]}"
[[ $gpus -ge 2 ]] && dp_bench "2 ranks on cuda:0 and cuda:1 over NCCL" cuda "${nccl[@]}"

# --- 5. Speed against PyTorch on the same GPU ---------------------------------------------------------
say ""
say "## Speed on $gpu (images/s, batch 128)"
say ""
for precision in $precisions; do
  logged "$bin" bench --device $gpu --models resnet20,resnet18 --batch 128 --iters 100 --precision $precision \
    --json "$out/bench-$precision.json" || check "bench $precision" 1 "failed (log.txt)"
  logged "$bin" bench --device $gpu --models resnet20 --batch 128 --iters 20 --attacks --precision $precision \
    --json "$out/bench-attacks-$precision.json" || check "bench --attacks $precision" 1 "failed (log.txt)"
done
bench=$("$python" - "$out" 2>>"$log" <<'EOF'
import json, os, sys
out = sys.argv[1]
print("| robustcnn, precision | model | train | inference | input gradient | FGSM | PGD-10 |")
print("|---|---|---|---|---|---|---|")
for p in ("fp32", "bf16", "fp16"):
    try:
        rows = json.load(open(os.path.join(out, f"bench-{p}.json")))
        attacks = {r["model"]: r for r in json.load(open(os.path.join(out, f"bench-attacks-{p}.json")))}
    except (OSError, ValueError):
        continue
    for r in rows:
        a = attacks.get(r["model"], {})
        cells = [r.get(k) for k in ("train_images_per_s", "inference_images_per_s", "input_gradient_images_per_s")]
        cells += [a.get("fgsm_images_per_s"), a.get("pgd10_images_per_s")]
        print(f"| {p} | {r['model']} | " + " | ".join(f"{c:.0f}" if c else "-" for c in cells) + " |")
EOF
)
say "$bench"
say ""
if [[ $gpu == cpu ]] && ! "$python" -c 'import torch' 2>/dev/null; then
  say "- SKIP PyTorch's ResNet-20 beside it: $python has no torch (a rehearsal needs none; on a GPU it is a check)"
else
  logged "$python" scripts/pytorch-crosscheck.py speed --device $gpu
  check "PyTorch's ResNet-20 timed on the same GPU" $?
  say ""
  say '```'
  say "$(grep '^PyTorch .* resnet20 batch 128' "$log")"
  say '```'
fi
say ""
[[ $failed == 0 ]] && say "All checks passed." || say "Some checks FAILED: log.txt has the commands and their output."
exit $failed
