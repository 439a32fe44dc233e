"""Scoring benchmark (issue 19): the causal data-only record and the method densities of a development rescore,
old code against new, with a check that both give the same record.

Each side runs in a fresh subprocess (cold sunpy and library caches) on the same inputs: the ARISE table of
``--data-dir``, the default density grid (that of pinn/config/forecast.yaml), and the development hindcast's targets (N + 1 for
every N with a map and ARISE ARs in N + 1). It times

* the record :func:`pinn.hindcast.data_only_record` of the whole ARISE table up to the last target (what
  :func:`pinn.chain.hindcast.rescore` computes when not given one); the new side through its content-hash cache in
  an empty temporary folder (compute + save), then again (load);
* the densities :func:`pinn.chain.hindcast.rescore` builds per target, ``pinn.emergence.data_only.method_density`` of every
  method and of the data-only choice.

The old code is ``git archive --old`` (default: the commit before the fast path) unpacked into a temporary
folder. Results: chosen candidates must be equal, bits and log densities within ``--tolerance``. The machine is
shared: the load average is recorded around every run.

    python experiments/bench/bench_scoring.py --out experiments/bench/scoring_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
OLD_REV = "5c8a2cfed7e106824f241f9861501bd3905bb329"  # main before issue 19's fast path


def machine() -> dict:
    """Platform, CPU model, core count, library versions and the load average now."""
    import jax
    import sunpy

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"platform": platform.platform(), "cpu": model, "cores": os.cpu_count(),
            "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
            "jax": jax.__version__, "sunpy": sunpy.__version__, "blas_threads": os.environ.get("OMP_NUM_THREADS")}


def _modules():
    """(hindcast, ARISE loader, data_only, density_grid, default Config) of the code on the path: today's stage
    layout, or the flat layout of the baseline commit (5c8a2cf) that the benchmark compares against."""
    try:
        from pinn.chain import hindcast as hc
        from pinn.config.schema import Config
        from pinn.data import arise
        from pinn.emergence import data_only as do
        from pinn.emergence.ridge_model import density_grid
    except ImportError:  # the baseline's flat layout
        from pinn import data_only as do  # type: ignore[no-redef]
        from pinn import evaluation as arise  # type: ignore[no-redef]
        from pinn import hindcast as hc  # type: ignore[no-redef]
        from pinn.config import Config  # type: ignore[no-redef]
        from pinn.emergence import density_grid  # type: ignore[no-redef]
    return hc, arise, do, density_grid, Config()


def dev_targets(data_dir: Path, table: pd.DataFrame) -> list[int]:
    """N + 1 for every map N with ARISE ARs in N + 1 (the development hindcast's scored rotations)."""
    hc, arise = _modules()[:2]
    return [n + 1 for n in sorted(hc.find_maps(data_dir)) if len(arise.ars_of(table, n + 1)) > 0]


def worker(data_dir: Path, out: Path, side: str) -> dict:
    """One side in this process: the record (twice on the new side: compute + save, load) and the densities."""
    hc, arise, do, density_grid, config = _modules()
    table = arise.load_arise(hc.find_arise(data_dir))
    lat, lon = density_grid(config.forecast)
    targets = dev_targets(data_dir, table)
    times = {}
    t0 = time.perf_counter()
    if side == "new":
        with tempfile.TemporaryDirectory() as cache:
            record = hc.data_only_record(table, lat, lon, max(targets), None, cache_dir=cache)
            times["record_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = hc.data_only_record(table, lat, lon, max(targets), None, cache_dir=cache)
            times["record_cached_s"] = time.perf_counter() - t0
            pd.testing.assert_frame_equal(again.bits, record.bits, check_exact=True)
    else:
        record = hc.data_only_record(table, lat, lon, max(targets), None)
        times["record_s"] = time.perf_counter() - t0
    methods = (*do.METHODS, "data_only")
    dens = np.empty((len(targets), len(methods), len(lat), len(lon)))
    t0 = time.perf_counter()
    for i, t in enumerate(targets):
        for j, m in enumerate(methods):
            dens[i, j] = do.method_density(table, record, t, m, lat, lon).values
    times["densities_s"] = time.perf_counter() - t0
    record.bits.to_pickle(out / f"{side}_bits.pkl")
    record.choices.to_pickle(out / f"{side}_choices.pkl")
    np.save(out / f"{side}_densities.npy", dens)
    return {**times, "pinn": str(Path(do.__file__).resolve()), "targets": targets, "n_record_targets": len(record.choices), "n_record_ars": len(record.bits)}


def run_side(side: str, pythonpath: Path, data_dir: Path, out: Path) -> dict:
    """Run :func:`worker` in a fresh interpreter importing ``pinn`` from ``pythonpath``; wall time and loads."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "JAX_PLATFORMS": "cpu"}
    load0, t0 = os.getloadavg(), time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", side, "--data-dir", str(data_dir), "--tmp", str(out)],
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{side} worker failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "process_wall_s": time.perf_counter() - t0, "loadavg_start": load0, "loadavg_end": os.getloadavg()}


def compare(tmp: Path, tolerance: float) -> dict:
    """Old and new records and densities: equal choices, largest differences of bits and log2 densities."""
    bits = {s: pd.read_pickle(tmp / f"{s}_bits.pkl") for s in ("old", "new")}
    choices = {s: pd.read_pickle(tmp / f"{s}_choices.pkl") for s in ("old", "new")}
    dens = {s: np.load(tmp / f"{s}_densities.npy") for s in ("old", "new")}
    same_shape = bits["old"].shape == bits["new"].shape and list(bits["old"].columns) == list(bits["new"].columns)
    bits_diff = float(np.max(np.abs(bits["old"].values - bits["new"].values))) if same_shape else float("inf")
    choices_equal = choices["old"].equals(choices["new"])
    dens_diff = float(np.max(np.abs(np.log2(dens["old"]) - np.log2(dens["new"]))))
    return {"choices_equal": bool(choices_equal), "bits_columns_equal": same_shape, "max_abs_bits_diff": bits_diff,
            "max_abs_log2_density_diff": dens_diff, "tolerance": tolerance,
            "identical": bool(choices_equal and same_shape and bits_diff <= tolerance and dens_diff <= tolerance)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared/data/raw")
    parser.add_argument("--old", default=OLD_REV, help="git revision of the old code")
    parser.add_argument("--out", type=Path, default=REPO / "experiments/bench/scoring_cpu.json")
    parser.add_argument("--tolerance", type=float, default=1e-9)
    parser.add_argument("--worker", choices=("old", "new"), help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.data_dir, args.tmp, args.worker)))
        return
    old = subprocess.run(["git", "-C", str(REPO), "rev-parse", args.old], capture_output=True, text=True,
                         check=True).stdout.strip()
    new = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "old_src").mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", old, "pinn"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tmp / "old_src")], input=archive.stdout, check=True)
        runs = {"old": run_side("old", tmp / "old_src", args.data_dir, tmp),
                "new": run_side("new", REPO, args.data_dir, tmp)}
        identity = compare(tmp, args.tolerance)
    result = {"machine": machine(), "old_commit": old, "new_commit": new,
              "new_worktree_dirty": bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "pinn"],
                                                         capture_output=True, text=True, check=True).stdout.strip()),
              "n_dev_targets": len(runs["new"]["targets"]), "runs": runs, "identity": identity,
              "speedup_record": runs["old"]["record_s"] / runs["new"]["record_s"],
              "speedup_record_plus_densities": (runs["old"]["record_s"] + runs["old"]["densities_s"])
              / (runs["new"]["record_s"] + runs["new"]["densities_s"])}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"} | {
        s: {k: v for k, v in r.items() if k != "targets"} for s, r in runs.items()}, indent=2))


if __name__ == "__main__":
    main()
