#!/usr/bin/env bash
# The warm-started batched hindcast on one lent GPU, side by side with the cold batched and the per-case paths
# (bench_warm.py: cases/min, training steps, per-phase time, peak device memory, warm - cold scores).
#
# Prepare here, once (downloads the packages the device image lacks; copies the maps and ARISE table it needs):
#     bash experiments/bench/gpu_warm.sh --prepare DATA_DIR
# then run on the device in ONE call (about 6-8 minutes), carrying the two prepared folders:
#     run(command="bash experiments/bench/gpu_warm.sh", carry=[".gpu_wheels", ".gpu_data"], timeout_s=590)
# It writes $OUT/hindcast_warm_gpu.json, $OUT/nvidia_smi.csv and $OUT/log.txt; copy the JSON to experiments/bench/.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-12}
if [ "${1:-}" = "--prepare" ]; then
  DATA=${2:?usage: gpu_warm.sh --prepare DATA_DIR}
  PY=${PYTHON:-.venv/bin/python}
  mkdir -p .gpu_wheels .gpu_data
  # The device image (Python 3.12, jax 0.11, flax, optax, orbax, xarray, h5py, pandas, scipy, matplotlib ...)
  # lacks these; their own dependencies that it also lacks are listed too (--no-deps on the device).
  "$PY" -m pip download -q --no-deps --python-version 3.12 --only-binary=:all: --platform manylinux_2_28_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any -d .gpu_wheels \
      "sunpy>=7.0,<8" "astropy>=7.0,<9" astropy-iers-data pyerfa "dinosaur>=1.4,<1.6" tree-math \
      "h5netcdf>=1.4,<2" parfive aioftp platformdirs mpl-animators reproject astropy-healpix pyavm
  first=2240; last=$((first + N))  # maps N = CR 2240 .. 2240+N-1 and the window before each (none before 2240)
  for cr in $(seq "$first" "$last"); do cp "$DATA"/*."$cr".fits .gpu_data/ 2>/dev/null || true; done
  cp "$(PYTHONPATH=. "$PY" -c 'from pinn.data.bundled import arise_table; print(arise_table())')" .gpu_data/
  mkdir -p .git/info; grep -qxF '/.gpu_wheels/' .git/info/exclude || printf '/.gpu_wheels/\n/.gpu_data/\n' >> .git/info/exclude
  du -sh .gpu_wheels .gpu_data
  exit 0
fi
OUT=${OUT:-experiments/bench}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/nvidia_smi.csv" || true
python3 -m pip install -q --no-index --no-deps .gpu_wheels/*.whl 2>&1 | tail -3
python3 -c "import jax, sunpy, dinosaur, flax; print(jax.__version__, jax.devices())"
PYTHONPATH=. timeout 560 python3 experiments/bench/bench_warm.py --platform cuda --data-dir .gpu_data \
    --n "$N" --batch "$((N / 2))" --arms warm,warm_one_batch,cold,per_case --out "$OUT/hindcast_warm_gpu.json" 2>&1 | tee "$OUT/log.txt" | tail -40
