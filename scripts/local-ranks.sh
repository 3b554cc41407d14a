#!/usr/bin/env bash
# Starts N ranks of a command on this machine with the environment torchrun gives them (RANK,
# WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, OMP_NUM_THREADS=1), for machines without torchrun:
#
#   scripts/local-ranks.sh 2 target/release/robustcnn train --config C --out runs/r
#
# Exits with the first non-zero status among the ranks (docs/distributed.md).
# LOCAL_RANKS_GPU_EACH=1 shows rank r only GPU r (CUDA_VISIBLE_DEVICES=r), as srun --gpus-per-task 1
# does; LOCAL_RANKS_PIDS=DIR writes each rank's process id to DIR/rank-r.pid.
set -uo pipefail
n="${1:?usage: scripts/local-ranks.sh N COMMAND [ARGS...]}"
shift
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "local-ranks: N must be a positive whole number, not '$n'" >&2; exit 2; }
port="${MASTER_PORT:-$((29500 + RANDOM % 1000))}"
pids=()
[[ -n ${LOCAL_RANKS_PIDS:-} ]] && mkdir -p "$LOCAL_RANKS_PIDS"
for ((r = 0; r < n; r++)); do
  env ${LOCAL_RANKS_GPU_EACH:+CUDA_VISIBLE_DEVICES=$r} RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r LOCAL_WORLD_SIZE=$n \
    MASTER_ADDR=127.0.0.1 MASTER_PORT=$port OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$@" &
  pids+=($!)
  [[ -n ${LOCAL_RANKS_PIDS:-} ]] && echo $! >"$LOCAL_RANKS_PIDS/rank-$r.pid"
done
status=0
for p in "${pids[@]}"; do
  wait "$p" || { s=$?; [[ $status == 0 ]] && status=$s; }
done
exit $status
