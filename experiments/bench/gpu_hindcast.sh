#!/usr/bin/env bash
# Hindcast throughput on a lent GPU: the same measurement as bench_hindcast.py on CPU (per-case vs batched,
# from scratch, pinn/config/forecast.yaml with train.adam_steps=400), plus larger batches, where the batched
# path should gain most. Writes experiments/bench/hindcast_gpu.json and nvidia-smi's description.
# Usage (repository root, venv active):  bash experiments/bench/gpu_hindcast.sh [DATA_DIR] [N]
set -euo pipefail
DATA=${1:?usage: gpu_hindcast.sh DATA_DIR [N]  (maps *.<CR>.fits and the ARISE table)}
N=${2:-12}
OUT=${OUT:-experiments/bench}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/hindcast_gpu_device.csv" || true
PYTHONPATH=. timeout 540 python experiments/bench/bench_hindcast.py --platform cuda --data-dir "$DATA" --n "$N" \
    --runs "per_case:1:1" "batched:$N:1" "batched:$((N / 2)):1" "batched:$((N / 4)):1" \
    --out "$OUT/hindcast_gpu.json"
