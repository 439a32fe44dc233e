"""Hindcast throughput: cases per minute of the batched path and of the per-case path, in one run.

Every measurement runs in a fresh subprocess (no PINN state cache, no persistent JAX compilation cache,
its own XLA_FLAGS device count) on the same rotations, with the config of the recorded development
hindcast (pinn/config/forecast.yaml, train.adam_steps=400). Each run times its phases by wrapping the
hindcast's steps: inputs (map I/O + toroid fits), PINN training (batched: first calls, compilation
included, and steady calls), start preparation (grid transfer + balance), integration, ridges, saving.

    PYTHONPATH=. python experiments/bench/bench_hindcast.py --data-dir ../shared/data/raw \\
        --out experiments/bench/hindcast_cpu.json

Runs are ``MODE:BATCH:DEVICES`` (``per_case:1:1``, ``batched:6:1`` ...); the default set compares the two
paths and scales the batched one with batch size and (virtual) device count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OVERRIDES = ["train.adam_steps=400", "train.progress=false", "forecast.cache_dir=null"]
DEFAULT_RUNS = ["per_case:1:1", "batched:6:1", "batched:3:1", "batched:2:1", "batched:6:2"]


def command_line() -> str:
    """The command this script was run with, as one copy-paste shell line from the repository root."""
    return "PYTHONPATH=. python " + " ".join(shlex.quote(a) for a in sys.argv)


def report(summary: dict, out: Path | None) -> None:
    """Print a benchmark's summary as indented JSON and, with ``out``, write it there too."""
    text = json.dumps(summary, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")


def machine() -> dict:
    """Platform, CPU model, core count and library versions of this machine."""
    import jax

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"platform": platform.platform(), "cpu": model, "cores": os.cpu_count(),
            "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "python": platform.python_version(), "jax": jax.__version__,
            "jax_backend": jax.default_backend()}


def time_calls(owner, name: str, key: str, timers: dict[str, float]) -> None:
    """Replace ``owner.name`` by a wrapper that adds each call's wall time (s) to ``timers[key]``."""
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            timers[key] = timers.get(key, 0.0) + time.perf_counter() - t0
    setattr(owner, name, wrapper)


def worker(data_dir: str, rotations: list[int], mode: str, batch: int, config: str) -> dict:
    """One measurement in this process: forecast ``rotations`` (N) from scratch, phases timed."""
    import jax

    from pinn import training
    from pinn.chain import case as cs
    from pinn.chain import hindcast as hc
    from pinn.chain import integration as it
    from pinn.config.schema import load_config
    from pinn.training import state_cache

    timers: dict[str, float] = {}

    def timed(owner, name, key):
        time_calls(owner, name, key, timers)

    details: dict = {}
    real_train_batch = training.train_batch

    def train_batch(*args, **kwargs):
        result = real_train_batch(*args, **kwargs)
        details.setdefault("train_first_calls_s", 0.0)
        details.setdefault("train_steady_calls_s", 0.0)
        details["train_first_calls_s"] += result.first_call_s
        details["train_steady_calls_s"] += result.steady_s
        return result

    training.train_batch = train_batch
    timed(cs, "prepare_inputs", "inputs_s")
    timed(state_cache, "pinn_state", "training_s")
    timed(state_cache, "pinn_states", "training_s")
    timed(it, "solver_start", "start_and_balance_s")
    timed(it, "trajectory_of", "trajectory_dataset_s")
    timed(cs, "integrate_state", "start_integrate_total_s")
    timed(cs, "integrate_states", "start_integrate_total_s")
    timed(cs, "finish_case", "ridges_s")
    timed(cs.Case, "save", "save_s")
    cfg = load_config(config, OVERRIDES)
    maps = hc.find_maps(data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        hc.produce_cases(maps, rotations, cfg, None, Path(tmp), batch_size=batch, progress=False)
        wall = time.perf_counter() - t0
    integ = timers.pop("start_integrate_total_s", 0.0)
    timers["integration_s"] = integ - timers.get("start_and_balance_s", 0.0) - timers.get("trajectory_dataset_s", 0.0)
    return {"mode": mode, "batch": batch, "devices": len(jax.devices()), "cases": len(rotations), "wall_s": wall,
            "cases_per_min": 60.0 * len(rotations) / wall, "phases_s": timers, **details}


def run(spec: str, args: argparse.Namespace, rotations: list[int]) -> dict:
    """One measurement ``MODE:BATCH:DEVICES`` in a fresh subprocess."""
    mode, batch, devices = spec.split(":")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "XLA_FLAGS"))}
    env.update(JAX_PLATFORMS=args.platform, PYTHONPATH=str(REPO), JAX_ENABLE_COMPILATION_CACHE="false")
    if args.platform == "cpu":  # virtual CPU devices (they share the same cores)
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={int(devices)}"
    cmd = [sys.executable, __file__, "--worker", mode, batch, "--data-dir", str(args.data_dir),
           "--rotations", ",".join(map(str, rotations)), "--config", str(args.config)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        return {"spec": spec, "error": proc.stderr[-3000:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{spec:16s} {result['wall_s']:7.1f} s  {result['cases_per_min']:6.2f} cases/min  "
          f"{json.dumps({k: round(v, 1) for k, v in result['phases_s'].items()})}", flush=True)
    return {"spec": spec, **result}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True, help="maps *.<CR>.fits and the ARISE table")
    p.add_argument("--config", type=Path, default=REPO / "pinn" / "config" / "forecast.yaml")
    p.add_argument("--n", type=int, default=6, help="number of rotations (the first N eligible)")
    p.add_argument("--rotations", default=None, help="comma-separated N (overrides --n)")
    p.add_argument("--runs", nargs="*", default=DEFAULT_RUNS, metavar="MODE:BATCH:DEVICES")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--platform", default="cpu", help="JAX_PLATFORMS of the runs (cpu, cuda)")
    p.add_argument("--worker", nargs=2, metavar=("MODE", "BATCH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        rotations = [int(x) for x in args.rotations.split(",")]
        print(json.dumps(worker(str(args.data_dir), rotations, args.worker[0], int(args.worker[1]), str(args.config))))
        return
    rotations = [int(x) for x in args.rotations.split(",")] if args.rotations else eligible(args.data_dir, args.n)
    t0 = time.perf_counter()
    results = [run(spec, args, rotations) for spec in args.runs]
    per_case = next((r for r in results if r.get("mode") == "per_case"), None)
    summary = {"machine": {**machine(), "runs_platform": args.platform}, "config": str(args.config.relative_to(REPO)), "overrides": OVERRIDES,
               "rotations": rotations, "runs": results, "total_s": time.perf_counter() - t0}
    if per_case:
        summary["speedup_vs_per_case"] = {r["spec"]: r["cases_per_min"] / per_case["cases_per_min"]
                                          for r in results if "cases_per_min" in r}
    report(summary, args.out)


def eligible(data_dir: Path, n: int) -> list[int]:
    """The first ``n`` rotations N the hindcast forecasts (a map, ARISE ARs in N+1)."""
    from pinn.chain import hindcast as hc
    from pinn.data import arise
    maps = hc.find_maps(data_dir)
    table = arise.load_arise(hc.find_arise(data_dir))
    return [c for c in sorted(maps) if len(arise.ars_of(table, c + 1)) > 0][:n]


if __name__ == "__main__":
    main()
