"""Benchmark of PINN training (docs/science.md section 6): throughput, achieved FLOP/s, derivative modes, scaling.

Measures, in one run on one machine:
* dense float32 matmul FLOP/s of the machine (jnp.dot at precision 'highest'), the yardstick;
* the derivative modes for the residual inputs (forward = nested jvp, reverse = nested grad/jacrev):
  time of the fields+derivatives pass and of a whole training step, same network and batch;
* throughput of the default network (collocation points x steps / s) with steps fused by lax.scan;
* FLOPs of one step (XLA cost_analysis of the compiled chunk) / its time, against the matmul FLOP/s;
* scaling of the step time with the collocation batch and with the network width.

Runs unchanged on CPU or GPU (whatever jax.devices() gives):
    python experiments/bench/bench_training.py [--quick] [--out DIR]
writes DIR/bench_training_<backend>.json (default DIR: experiments/bench).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flax import nnx

from pinn.config.schema import Config, load_config, to_dict
from pinn.training import TrainingProgram, band_toroids
from pinn.training.losses import make_problem
from pinn.training.networks import field_derivatives


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "jax": jax.__version__,
            "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "device_kind": jax.devices()[0].device_kind, "cpu_count": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def best_time(fn, *args, repeats: int = 3, min_time: float = 0.5) -> float:
    """Best wall time of one call of a compiled function (after a warm-up call)."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            jax.block_until_ready(fn(*args))
            n += 1
            el = time.perf_counter() - t0
            if el >= min_time or n >= 50:
                break
        best = min(best, el / n)
    return best


def matmul_flops(n: int) -> dict:
    k1, k2 = jax.random.split(jax.random.key(0))
    a = jax.random.normal(k1, (n, n), jnp.float32)
    b = jax.random.normal(k2, (n, n), jnp.float32)
    f = jax.jit(lambda x, y: jnp.dot(x, y, precision=jax.lax.Precision.HIGHEST))
    t = best_time(f, a, b)
    return {"n": n, "seconds": t, "flops_per_s": 2.0 * n**3 / t}


def with_overrides(cfg: Config, **sections) -> Config:
    for sec, kv in sections.items():
        cfg = dataclasses.replace(cfg, **{sec: dataclasses.replace(getattr(cfg, sec), **kv)})
    return cfg


def build(cfg: Config):
    tor = band_toroids(20.0, 10.0, north_sign=1)  # +1 as in the recorded runs (the dynamics are sign-symmetric)
    problem = make_problem(cfg, tor)
    program = TrainingProgram.create(cfg, problem)
    return program, program.network(program.params), program.init_state(cfg.seed), problem


def step_measure(cfg: Config, n_steps: int, flops: bool = True) -> dict:
    """Time of one fused chunk of n_steps Adam steps, its throughput and the FLOPs of one step.

    FLOPs: XLA's cost_analysis of the compiled chunk, which counts the lax.scan (while-loop) body once,
    i.e. one step (checked: a 1-step and a 4-step chunk report the same count to 0.01 %).
    """
    program, _, state, problem = build(cfg)
    out = {}
    chunk = program.chunk_fn("adam", n_steps)
    t0 = time.perf_counter()
    compiled = chunk.lower(state, program.statics, problem).compile()
    out["compile_s"] = time.perf_counter() - t0
    if flops:
        ca = compiled.cost_analysis()
        ca = ca[0] if isinstance(ca, (list, tuple)) else ca
        out["flops_per_step"] = float(ca.get("flops", float("nan"))) if ca else float("nan")
    t = best_time(compiled, state, program.statics, problem, repeats=2, min_time=0.2)
    out["step_s"] = t / n_steps
    out["points_x_steps_per_s"] = cfg.loss.collocation_points * n_steps / t
    if flops:
        out["achieved_flops_per_s"] = out["flops_per_step"] / out["step_s"]
    return out


def derivative_modes(cfg: Config, n_steps: int, rounds: int = 3) -> dict:
    """Forward vs reverse derivative modes, timed in alternation (min over rounds: robust to a shared machine)."""
    built = {}
    for mode in ("forward", "reverse"):
        c = with_overrides(cfg, loss={"derivatives": mode})
        program, model, state, problem = build(c)
        n = c.loss.collocation_points
        lat = jnp.arcsin(jnp.linspace(-0.99, 0.99, n, dtype=jnp.float32))
        lon = jnp.linspace(0.0, 6.2, n, dtype=jnp.float32)
        graphdef, params, statics = nnx.split(model, nnx.Param, ...)
        f = jax.jit(lambda p, la, lo, g=graphdef, s=statics, m=mode: field_derivatives(nnx.merge(g, p, s), la, lo, m))
        t0 = time.perf_counter()
        chunk = program.chunk_fn("adam", n_steps).lower(state, program.statics, problem).compile()
        compile_s = time.perf_counter() - t0
        d = f(params, lat, lon)
        check = np.asarray(jnp.stack([jnp.stack(x.fields) for x in d[1:]]))
        built[mode] = (f, (params, lat, lon), chunk, (state, program.statics, problem), compile_s, check, n)
    res = {m: {"fields_and_derivatives_s": float("inf"), "step_s": float("inf"), "compile_s": built[m][4]}
           for m in built}
    for _ in range(rounds):
        for mode, (f, fargs, chunk, cargs, _, _, n) in built.items():
            r = res[mode]
            r["fields_and_derivatives_s"] = min(r["fields_and_derivatives_s"], best_time(f, *fargs, repeats=1))
            r["step_s"] = min(r["step_s"], best_time(chunk, *cargs, repeats=1, min_time=0.2) / n_steps)
            r["points_x_steps_per_s"] = n / r["step_s"]
    res["max_abs_difference_forward_vs_reverse"] = float(np.max(np.abs(built["forward"][5] - built["reverse"][5])))
    res["faster"] = min(("forward", "reverse"), key=lambda m: res[m]["step_s"])
    res["reverse_over_forward_step_time"] = res["reverse"]["step_s"] / res["forward"]["step_s"]
    res["reverse_over_forward_fields_time"] = (res["reverse"]["fields_and_derivatives_s"]
                                               / res["forward"]["fields_and_derivatives_s"])
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke test / busy machines)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    p.add_argument("--config", default=None, help="config YAML (default: built-in defaults = default network)")
    p.add_argument("--steps", type=int, default=None, help="steps fused per timed call")
    args = p.parse_args()

    cfg = load_config(args.config, ["train.progress=false"])
    gpu = jax.default_backend() != "cpu"
    if args.quick:
        cfg = with_overrides(cfg, network={"width": 64, "depth": 3, "fourier_features": 16},
                             loss={"collocation_points": 1024, "quadrature_lats": 32, "quadrature_lons": 8})
    steps = args.steps or (10 if args.quick else (100 if gpu else 10))
    result = {"machine": machine(), "quick": args.quick, "steps_per_call": steps,
              "config": {"network": to_dict(cfg.network), "loss": to_dict(cfg.loss)}}
    t_all = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench_training_{jax.default_backend()}{'_quick' if args.quick else ''}.json"

    def save():  # after every section, so that an interrupted run keeps what it measured
        result["total_s"] = time.perf_counter() - t_all
        path.write_text(json.dumps(result, indent=1, default=float) + "\n")

    n_mm = 1024 if args.quick else (8192 if gpu else 2048)
    result["matmul"] = matmul_flops(n_mm)
    print(f"matmul {n_mm}: {result['matmul']['flops_per_s'] / 1e9:.1f} GFLOP/s", flush=True)
    save()

    result["default"] = step_measure(cfg, steps)
    d = result["default"]
    d["fraction_of_matmul_flops"] = d["achieved_flops_per_s"] / result["matmul"]["flops_per_s"]
    print(f"default: {d['points_x_steps_per_s']:.3g} points*steps/s, {d['step_s'] * 1e3:.1f} ms/step, "
          f"{d['achieved_flops_per_s'] / 1e9:.2f} GFLOP/s = {100 * d['fraction_of_matmul_flops']:.1f}% of matmul",
          flush=True)
    save()

    result["derivative_modes"] = derivative_modes(cfg, steps)
    dm = result["derivative_modes"]
    print(f"derivatives: forward {dm['forward']['step_s'] * 1e3:.1f} ms/step, reverse "
          f"{dm['reverse']['step_s'] * 1e3:.1f} ms/step (max |diff| {dm['max_abs_difference_forward_vs_reverse']:.2e})",
          flush=True)
    save()

    base_n = cfg.loss.collocation_points
    batches = [base_n // 4, base_n // 2, base_n, base_n * 2] + ([base_n * 8, base_n * 32] if gpu else [])
    result["scaling_batch"] = []
    for n in batches:
        r = step_measure(with_overrides(cfg, loss={"collocation_points": n}), steps)
        result["scaling_batch"].append({"collocation_points": n, **r})
        print(f"batch {n}: {r['step_s'] * 1e3:.1f} ms/step, {r['points_x_steps_per_s']:.3g} pts*steps/s", flush=True)
        save()
    widths = [32, 64, 128, 256] + ([512] if gpu else [])
    result["scaling_width"] = []
    for w in widths:
        r = step_measure(with_overrides(cfg, network={"width": w}), steps)
        result["scaling_width"].append({"width": w, **r})
        print(f"width {w}: {r['step_s'] * 1e3:.1f} ms/step, {r['achieved_flops_per_s'] / 1e9:.2f} GFLOP/s", flush=True)
        save()
    result["load_average_at_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    save()
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
