"""Benchmark: toroid extraction time for one full-resolution (3600 x 1440) synthetic synoptic map.

Single-threaded (OMP/OPENBLAS/MKL threads = 1, set before numpy is imported); the map is generated once
(not timed), then ``pinn.toroids.fit.fit_toroids`` (default ToroidsConfig: threshold, both hemispheres, M by the
BIC over 0..3, errors, Hale sign) is timed ``--repeats`` times after one warm-up; the median is the result.
Also timed, for scale: one small (720 x 360) map and a centred 5-rotation window of small maps.
Goal: under 2 s for the full-resolution map.

Writes experiments/bench/toroids.json (or --out) with the machine description.

Run:  .venv/bin/python experiments/bench/bench_toroids.py
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pinn.config.schema import ToroidsConfig
from pinn.io import write_json
from pinn.toroids.fit import HemisphereToroid, fit_toroids, fit_toroids_window
from pinn.toroids.synthetic import synthetic_map, synthetic_sequence

NORTH = HemisphereToroid(20.0, 6.0, (5.0, 3.0), (40.0, -100.0), -1)
SOUTH = HemisphereToroid(-18.0, 5.0, (4.0,), (150.0,), +1)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "cores_used": 1,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "threads_env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }


def timed(fn, repeats: int) -> dict:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": repeats,
        "times_s": [round(t, 5) for t in times],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n-regions", type=int, default=60, help="regions per hemisphere")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "toroids.json")
    args = ap.parse_args(argv)
    cfg = ToroidsConfig()

    full = synthetic_map(NORTH, SOUTH, n_regions=args.n_regions, nlat=1440, nlon=3600, seed=0)
    small = synthetic_map(NORTH, SOUTH, n_regions=args.n_regions, seed=0)
    seq = synthetic_sequence(NORTH, SOUTH, [2276, 2277, 2278, 2279, 2280], n_regions=args.n_regions, seed=0)
    result = fit_toroids(full, cfg)
    n_strong = int(np.sum(np.abs(full["Br"].values) > cfg.threshold_G))

    out = {
        "what": "pinn.toroids.fit.fit_toroids on one 3600x1440 synthetic map, single-threaded, median of repeats",
        "goal_s": 2.0,
        "full_resolution_3600x1440": timed(lambda: fit_toroids(full, cfg), args.repeats),
        "small_720x360": timed(lambda: fit_toroids(small, cfg), args.repeats),
        "window_5x720x360_centred": timed(lambda: fit_toroids_window(seq, cfg), args.repeats),
        "map": {
            "shape": list(full["Br"].shape),
            "regions_per_hemisphere": args.n_regions,
            "strong_pixels": n_strong,
            "strong_fraction": n_strong / full["Br"].size,
        },
        "fit": result.to_json_dict(),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()},
        "machine": machine(),
    }
    out["meets_goal"] = out["full_resolution_3600x1440"]["median_s"] < out["goal_s"]
    write_json(args.out, out)
    for key in ("full_resolution_3600x1440", "small_720x360", "window_5x720x360_centred"):
        print(f"{key}: median {out[key]['median_s'] * 1e3:.1f} ms over {args.repeats} runs")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
