"""Warm start vs cold start of the hindcast's PINN trainings: throughput, training steps and scores, side by side.

Both arms run the development hindcast (pinn/config/forecast.yaml, ``train.adam_steps=400``, no PINN state
cache, no persistent JAX compilation cache) from scratch, each in a fresh subprocess on the same machine,
one after the other, on the same rotations and batches. The causal data-only record is computed once here
and handed to both, so scoring does not dominate. Recorded per arm: wall time, cases/min, training steps
per case (the batch_mean source's steps shared out over its batch), per-phase time; and the paired
difference warm minus cold of the per-AR scores ``bits_model`` (ridge model) and ``bits_hybrid`` with a
paired bootstrap interval over rotations (:func:`pinn.scoring.scores.paired_bootstrap`).

    python experiments/bench/bench_warm.py --data-dir DATA_DIR \\
        --first 2241 --n 12 --batch 12 --out experiments/bench/hindcast_warm_cpu.json

The full development comparison (38 rotations, targets CR 2241-2283): ``--n 0 --batch 19``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments" / "bench"))
from bench_hindcast import command_line, machine, report, time_calls

BASE = ["train.adam_steps=400", "train.progress=false", "forecast.cache_dir=null"]
# name -> (overrides, batching). warm first: its stopping shows early. ``cold`` is the reference every arm is
# compared with; ``cold_seed1`` (another network initialisation and collocation draw) measures the rerun noise
# the warm arms must stay within; ``per_case`` is today's per-case path (one case per program, cold).
# The second element: "batch" (--batch cases per program), "all" (every case in one program) or "per_case".
ARMS = {
    "warm": (["train.warm_start=batch_mean"], "batch"),
    "warm_tol12": (["train.warm_start=batch_mean", "train.warm_tolerance=1.2"], "batch"),
    "warm_one_batch": (["train.warm_start=batch_mean"], "all"),
    "cold": (["train.warm_start=none"], "batch"),
    "cold_seed1": (["train.warm_start=none", "seed=1"], "batch"),
    "per_case": (["train.warm_start=none"], "per_case"),
}
BATCH_SIZE = {"batch": lambda args: args.batch, "all": lambda args: None, "per_case": lambda args: 1}


def targets(data_dir: Path, first: int, last: int, n: int) -> list[int]:
    """Targets N+1 in first..last of the rotations the hindcast forecasts; the first ``n`` (0: all)."""
    from pinn.chain import hindcast as hc
    from pinn.data import arise

    maps = hc.find_maps(data_dir)
    table = arise.load_arise(hc.find_arise(data_dir))
    out = [c + 1 for c in sorted(maps) if len(arise.ars_of(table, c + 1)) > 0 and first <= c + 1 <= last]
    return out[:n] if n else out


def worker(args: argparse.Namespace) -> dict:
    """One arm in this process: the hindcast of ``args.targets``, its trainings and phases timed."""
    from pinn import training
    from pinn.chain import case as cs
    from pinn.chain import hindcast as hc
    from pinn.chain import integration as it
    from pinn.config.schema import load_config
    from pinn.training import state_cache

    timers: dict[str, float] = {}
    calls: list[dict] = []

    def timed(owner, name, key):
        time_calls(owner, name, key, timers)

    real_train_batch = training.train_batch

    def train_batch(config, problems, *a, **k):
        t0 = time.perf_counter()
        res = real_train_batch(config, problems, *a, **k)
        calls.append({"cases": len(problems), "warm": k.get("start") is not None, "steps": list(res.steps),
                      "first_calls_s": res.first_call_s, "steady_s": res.steady_s,
                      "wall_s": time.perf_counter() - t0})
        return res

    training.train_batch = train_batch
    real_train_one = training.train_from_config

    def train_from_config(config, *a, **k):  # the per-case path trains one case at a time, cold, adam_steps each
        t0 = time.perf_counter()
        res = real_train_one(config, *a, **k)
        calls.append({"cases": 1, "warm": False, "steps": [config.train.adam_steps], "wall_s": time.perf_counter() - t0})
        return res

    training.train_from_config = train_from_config
    timed(cs, "prepare_inputs", "inputs_s")
    timed(state_cache, "pinn_states", "training_s")
    timed(state_cache, "pinn_state", "training_s")
    timed(it, "solver_start", "start_and_balance_s")
    timed(cs, "integrate_states", "start_integrate_total_s")
    timed(cs, "integrate_state", "start_integrate_total_s")
    timed(cs, "finish_case", "ridges_s")
    timed(hc, "rescore", "scoring_s")
    overrides, batching = ARMS[args.worker]
    batch_size = BATCH_SIZE[batching](args)
    cfg = load_config(args.config, BASE + overrides)
    with open(args.data_only, "rb") as f:
        record = pickle.load(f)
    crs = [int(x) for x in args.targets.split(",")]
    t0 = time.perf_counter()
    result = hc.run_hindcast(args.data_dir, cfg, args.out_dir, crs=crs, batch_size=batch_size,
                             progress=False,
                             data_only=record)
    wall = time.perf_counter() - t0
    timers["integration_s"] = timers.pop("start_integrate_total_s", 0.0) - timers.get("start_and_balance_s", 0.0)
    n = int(result.summary["n_cases"])
    steps = sum(sum(c["steps"]) for c in calls)
    forecast_wall = wall - timers.get("scoring_s", 0.0)
    return {"arm": args.worker, "overrides": BASE + overrides,
            "batch": batch_size or len(crs), "cases": n, "wall_s": wall,
            "forecast_wall_s": forecast_wall, "cases_per_min": 60.0 * n / forecast_wall,
            "training_steps_per_case": steps / n,
            "fine_tune_steps_per_case": (sum(sum(c["steps"]) for c in calls if c["warm"]) / n
                                         if any(c["warm"] for c in calls) else None),
            "phases_s": timers, "train_calls": calls, "load_after": os.getloadavg(), "device": device_memory()}


def device_memory() -> dict:
    """The JAX device's kind and, where the backend reports it (GPU, TPU), its peak memory in use (bytes)."""
    import jax

    dev = jax.devices()[0]
    stats = dev.memory_stats() or {}
    return {"kind": dev.device_kind, "platform": dev.platform,
            **{k: stats[k] for k in ("peak_bytes_in_use", "bytes_limit") if k in stats}}


def run_arm(arm: str, args: argparse.Namespace, crs: list[int], record: Path, out_dir: Path) -> dict:
    """One arm in a fresh subprocess (its own JAX, no compilation cache)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "XLA_FLAGS"))}
    env.update(JAX_PLATFORMS=args.platform, PYTHONPATH=str(REPO), JAX_ENABLE_COMPILATION_CACHE="false")
    cmd = [sys.executable, __file__, "--worker", arm, "--data-dir", str(args.data_dir), "--config", str(args.config),
           "--targets", ",".join(map(str, crs)), "--batch", str(args.batch), "--data-only", str(record),
           "--out-dir", str(out_dir / arm)]
    load = os.getloadavg()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{arm} arm failed:\n{proc.stderr[-3000:]}")
    res = {**json.loads(proc.stdout.strip().splitlines()[-1]), "load_before": load}
    (out_dir / f"{arm}.json").write_text(json.dumps(res, indent=2) + "\n")  # kept if a later arm fails
    print(f"{arm}: {res['wall_s']:.0f} s, {res['cases_per_min']:.2f} cases/min, "
          f"{res['training_steps_per_case']:.0f} steps/case {res['train_calls']}", flush=True)
    return res


def compare(out_dir: Path, arms: list[str]) -> dict:
    """Per arm, paired per-AR differences arm minus ``cold`` of every PINN-dependent score, rotations resampled.

    Columns that do not depend on the PINN (band, data-only and their families, uniform, persistence) must be
    equal in every arm; they are checked, not compared.
    """
    import dataclasses

    import numpy as np
    import pandas as pd

    from pinn.scoring.scores import paired_bootstrap

    tables = {arm: pd.read_csv(out_dir / arm / "per_ar.csv") for arm in arms}
    cold = tables["cold"]
    columns = [c for c in cold.columns if c.startswith("bits_")]
    out: dict = {"n_ars": len(cold), "n_rotations": int(cold["cr"].nunique()), "arms": {}}
    for arm, table in tables.items():
        if arm == "cold":
            continue
        if not table[["cr", "lat", "lon"]].equals(cold[["cr", "lat", "lon"]]):
            raise SystemExit(f"arm {arm} scored different ARs from the cold arm")
        rows = {}
        for col in columns:
            d = table[col].to_numpy() - cold[col].to_numpy()
            if np.abs(d).max() == 0.0:
                rows[col] = "identical"
                continue
            rows[col] = {"cold_mean": float(cold[col].mean()), "arm_mean": float(table[col].mean()),
                         "arm_minus_cold": dataclasses.asdict(paired_bootstrap(d, cold["cr"].to_numpy())),
                         "max_abs_per_ar": float(np.abs(d).max())}
        out["arms"][arm] = rows
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True, help="maps *.<CR>.fits (and the ARISE table)")
    p.add_argument("--config", type=Path, default=REPO / "pinn" / "config" / "forecast.yaml")
    p.add_argument("--first", type=int, default=2241, help="first target rotation N+1")
    p.add_argument("--last", type=int, default=2283, help="last target rotation N+1")
    p.add_argument("--n", type=int, default=12, help="consecutive targets from --first (0: all)")
    p.add_argument("--batch", type=int, default=12, help="cases per batched program (the 'batch' arms)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--platform", default="cpu", help="JAX platform of the arms (cpu, cuda, tpu)")
    p.add_argument("--keep", type=Path, default=None, help="keep both hindcasts' outputs here")
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated arms to run, from {','.join(ARMS)} "
                   "(cold is always run: it is the reference)")
    p.add_argument("--worker", choices=sorted(ARMS), help=argparse.SUPPRESS)
    p.add_argument("--targets", help=argparse.SUPPRESS)
    p.add_argument("--data-only", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out-dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from pinn.chain import hindcast as hc
    from pinn.config.schema import load_config
    from pinn.data import arise
    from pinn.emergence.ridge_model import density_grid

    load_start = os.getloadavg()
    crs = targets(args.data_dir, args.first, args.last, args.n)
    cfg = load_config(args.config, BASE)
    lat, lon = density_grid(cfg.forecast)
    table = arise.load_arise(hc.find_arise(args.data_dir))
    t0 = time.perf_counter()
    record = hc.data_only_record(table, lat, lon, max(crs))
    data_only_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        rec_path = Path(tmp) / "data_only.pkl"
        rec_path.write_bytes(pickle.dumps(record))
        chosen = [a for a in ARMS if a in set(args.arms.split(",")) | {"cold"}]
        arms = {arm: run_arm(arm, args, crs, rec_path, out_dir) for arm in chosen}
        scores = compare(out_dir, chosen)
    cold = arms["cold"]
    base = arms.get("per_case", cold)
    summary = {
        "machine": {**machine(), "load_average_start": load_start,
                    "load_average_end": os.getloadavg(), "shared": "2-core machine shared with other engineers"},
        "config": str(args.config.relative_to(REPO)), "targets": crs, "batch": args.batch,
        "subset": None if args.n == 0 else f"first {len(crs)} targets from CR {args.first} (not the full 38)",
        "command": command_line(),
        "data_only_record_s": data_only_s, "arms": arms,
        "steps_per_case_reduction_vs_cold": {a: cold["training_steps_per_case"] / r["training_steps_per_case"]
                                             for a, r in arms.items() if r["training_steps_per_case"] > 0},
        "training_time_reduction_vs_cold": {a: cold["phases_s"]["training_s"] / r["phases_s"]["training_s"]
                                            for a, r in arms.items() if r["phases_s"].get("training_s")},
        "cases_per_min_ratio_vs": {"reference": "per_case" if "per_case" in arms else "cold",
                                   **{a: r["cases_per_min"] / base["cases_per_min"] for a, r in arms.items()}},
        "scores_minus_cold": scores,
    }
    report(summary, args.out)


if __name__ == "__main__":
    main()
