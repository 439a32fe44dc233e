"""Rescoring saved hindcast cases: wall time from a fresh process, and identity with the hindcast's own scores.

Issue 19's scoring goal: rescoring the 38 development rotations from saved cases takes under 60 s on 2 cores
and gives identical scores. Each measurement is a fresh Python process (imports counted) that loads the saved
cases (``OUT/cases/cr*.nc`` of ``pinn hindcast``) and runs :func:`pinn.chain.hindcast.rescore` with every
registered model, their causal refits, counts and calibration, then writes ``per_ar.csv`` through
:func:`pinn.chain.hindcast.write_results`. Two runs:

* ``computed``: an empty data-only cache (``XDG_CACHE_HOME`` in a fresh temporary directory), so the causal
  data-only record is computed (what a first rescore on a new ARISE table or grid pays);
* ``cached``: the same cache again (what every later rescore pays): the data-only record and the causal fits
  (:mod:`pinn.emergence.fit_cache`) are loaded;
* ``fits_computed``: the data-only record cached, the causal fits made again (what a rescore pays after a change
  to a model's code or inputs).

Each ``per_ar.csv`` (and ``per_rotation.csv``, with the fitted parameters) is compared, column by column, with the reference the hindcast wrote when it produced the
cases (``--reference``).

    python experiments/bench/bench_rescore.py HINDCAST_DIR --out experiments/bench/rescore_cpu.json \\
        [--set KEY=VALUE ...]

HINDCAST_DIR is the output of a hindcast (``cases/`` and ``per_ar.csv``), e.g. an arm kept by
``bench_warm.py --keep``; ``--set`` repeats the config overrides that hindcast ran with.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments" / "bench"))
from bench_hindcast import machine, report


def worker(cases_dir: Path, out_dir: Path, config: Path, overrides: list[str]) -> dict:
    """One rescore in this process, its phases timed from the first import."""
    t0 = time.perf_counter()
    from pinn.chain import hindcast as hc
    from pinn.chain.case import Case
    from pinn.config.schema import load_config
    from pinn.data.arise import load_arise
    from pinn.data.bundled import arise_table

    t_import = time.perf_counter()
    cases = [Case.load(p) for p in sorted(cases_dir.glob("cr*.nc"))]
    t_load = time.perf_counter()
    result = hc.rescore(cases, load_arise(arise_table()), load_config(config, overrides))
    t_score = time.perf_counter()
    hc.write_results(result, out_dir)
    t_end = time.perf_counter()
    return {"cases": len(cases), "import_s": t_import - t0, "load_cases_s": t_load - t_import,
            "rescore_s": t_score - t_load, "write_s": t_end - t_score, "total_s": t_end - t0}


def run(args: argparse.Namespace, cache: Path, out_dir: Path) -> dict:
    """One measurement in a fresh subprocess with ``cache`` as its XDG cache."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, __file__, str(args.hindcast_dir), "--worker", str(out_dir), "--config", str(args.config)]
    cmd += [x for kv in args.set for x in ("--set", kv)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"rescore failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "process_wall_s": time.perf_counter() - t0}


def identity(reference: Path, scored: Path, prefix: str = "bits_") -> dict:
    """Largest absolute difference per numeric column starting with ``prefix`` between two tables (per_ar.csv:
    the scores; per_rotation.csv with ``prefix=""``: also every fitted parameter), 0.0: identical."""
    import numpy as np
    import pandas as pd

    ref, new = pd.read_csv(reference), pd.read_csv(scored)
    rows = [c for c in ("cr", "lat", "lon") if c in ref]
    if list(ref.columns) != list(new.columns) or not ref[rows].equals(new[rows]):
        return {"same_rows_and_columns": False}
    cols = [c for c in ref.columns if c.startswith(prefix) and c not in rows and pd.api.types.is_numeric_dtype(ref[c])]
    def largest(a: np.ndarray, b: np.ndarray) -> float:  # NaN where the other is NaN counts as equal
        a, b = a.astype(float), b.astype(float)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return float("inf")
        return float(np.max(np.abs(a - b), initial=0.0, where=~np.isnan(a)))

    diffs = {c: largest(ref[c].to_numpy(), new[c].to_numpy()) for c in cols}
    return {"same_rows_and_columns": True, "n_ars": len(ref), "columns": len(cols),
            "max_abs_difference": max(diffs.values()), "per_column": diffs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hindcast_dir", type=Path, help="a hindcast's output: cases/ and per_ar.csv")
    p.add_argument("--config", type=Path, default=REPO / "pinn" / "config" / "forecast.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.hindcast_dir / "cases", args.worker, args.config, args.set)))
        return
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        runs = {name: run(args, cache, Path(tmp) / name) for name in ("computed", "cached")}
        shutil.rmtree(cache / "pinn" / "fits")  # a model's code changed: its fits are made again, the record is not
        runs["fits_computed"] = run(args, cache, Path(tmp) / "fits_computed")
        same = {name: identity(args.hindcast_dir / "per_ar.csv", Path(tmp) / name / "per_ar.csv") for name in runs}
        fits_same = {name: identity(args.hindcast_dir / "per_rotation.csv", Path(tmp) / name / "per_rotation.csv",
                                    prefix="") for name in runs}
    summary = {"machine": {**machine(), "load_average_start": load_start, "load_average_end": os.getloadavg()},
               "hindcast_dir": str(args.hindcast_dir), "overrides": args.set, "runs": runs,
               "identity_with_hindcast": same, "per_rotation_identity_with_hindcast": fits_same, "goal_s": 60.0}
    report(summary, args.out)


if __name__ == "__main__":
    main()
