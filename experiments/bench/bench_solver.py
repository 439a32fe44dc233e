"""Benchmark: MHD-SWT solver cost per simulated day vs dinosaur's hydrodynamic shallow-water model.

Same machine, same run, same grid (dinosaur's Gaussian T-grid), same time step, same integrator
(imex_rk_sil3), same step filter (our hyperdiffusion filter applied to both), float32. Timings are
interleaved (ours, dinosaur, ours, ...) and the minimum over repeats is reported, to limit the effect of
other load on the machine. The time step scales as dt = 0.05 * 42 / T (a CFL-like choice; both models use
it), so "per day" costs include the growth of the step count with truncation.

Usage:  .venv/bin/python experiments/bench/bench_solver.py [--truncations 21 42 85 170] [--repeats 5]
Writes experiments/bench/solver.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import dinosaur
import jax
import jax.numpy as jnp
import numpy as np
from dinosaur import (
    coordinate_systems,
    layer_coordinates,
    shallow_water,
    shallow_water_states,
    time_integration,
)

from pinn.physics import states as S
from pinn.physics.equations import SWTParams
from pinn.physics.solver import SolverSettings, make_solver
from pinn.physics.units import ModelUnits

STEPS = {21: 400, 31: 300, 42: 200, 63: 100, 85: 60, 106: 40, 119: 30, 170: 12}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(fn, x, repeats):
    jax.block_until_ready(fn(x))  # compile
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(x))
        out.append(time.perf_counter() - t0)
    return out


class _Specs:
    angular_velocity = 1.0


def bench_truncation(T: int, repeats: int, day_model: float) -> dict:
    dt = 0.05 * 42 / T
    steps = STEPS.get(T, max(10, int(400 * (21 / T) ** 2)))
    solver = make_solver(SolverSettings(truncation=T, dt=dt, x64=False), SWTParams())
    state = S.band_state(solver)

    ours = jax.jit(time_integration.repeated(solver.step_fn, steps))
    ours_budget = jax.jit(lambda s: solver.run_steps(s, steps, steps, True))

    coords = coordinate_systems.CoordinateSystem(solver.grid, layer_coordinates.LayerCoordinates(1))
    equation = shallow_water.ShallowWaterEquations(coords, _Specs(), None, np.array([solver.params.gravity]))
    filt = time_integration.runge_kutta_step_filter(solver.filter_fn)
    dino_step = time_integration.step_with_filters(time_integration.imex_rk_sil3(equation, dt), [filt])
    dino = jax.jit(time_integration.repeated(dino_step, steps))
    lat = np.arccos(solver.grid.cos_lat)
    init = shallow_water_states.multi_layer(jnp.stack([0.1 * np.cos(lat)]), np.ones(1), coords)
    init = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), init)

    t_ours, t_dino, t_budget = [], [], []
    jax.block_until_ready(ours(state))
    jax.block_until_ready(dino(init))
    jax.block_until_ready(ours_budget(state))
    for _ in range(repeats):  # interleaved
        t_ours += timed(ours, state, 1)
        t_dino += timed(dino, init, 1)
        t_budget += timed(ours_budget, state, 1)
    per_step = {k: min(v) / steps for k, v in (("ours", t_ours), ("dinosaur", t_dino), ("ours_budget", t_budget))}
    steps_per_day = day_model / dt
    return {
        "truncation": T,
        "grid": list(solver.grid.nodal_shape),
        "dt_model": dt,
        "steps_timed": steps,
        "seconds_per_step": per_step,
        "seconds_per_simulated_day": {k: v * steps_per_day for k, v in per_step.items()},
        "simulated_days_per_second": {k: 1.0 / (v * steps_per_day) for k, v in per_step.items()},
        "ratio_ours_to_dinosaur": per_step["ours"] / per_step["dinosaur"],
        "ratio_budget_tracking_to_plain": per_step["ours_budget"] / per_step["ours"],
        "all_times_s": {"ours": t_ours, "dinosaur": t_dino, "ours_budget": t_budget},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truncations", type=int, nargs="+", default=[21, 42, 85, 170])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).with_name("solver.json")))
    args = parser.parse_args(argv)
    day_model = ModelUnits.solar().time_to_model(1.0 * __import__("astropy.units").units.day)
    results = []
    for T in args.truncations:
        r = bench_truncation(T, args.repeats, day_model)
        print(f"T{T}: ours {r['seconds_per_step']['ours'] * 1e3:.2f} ms/step, dinosaur "
              f"{r['seconds_per_step']['dinosaur'] * 1e3:.2f} ms/step, ratio {r['ratio_ours_to_dinosaur']:.2f}, "
              f"{r['simulated_days_per_second']['ours']:.1f} simulated days/s", flush=True)
        results.append(r)
    # growth of cost with truncation: fitted exponent of cost per step and per day vs T
    Ts = np.array([r["truncation"] for r in results], float)
    growth = {}
    if len(Ts) > 1:
        for key in ("ours", "dinosaur"):
            step = np.array([r["seconds_per_step"][key] for r in results])
            day = np.array([r["seconds_per_simulated_day"][key] for r in results])
            growth[key] = {"per_step_exponent": float(np.polyfit(np.log(Ts), np.log(step), 1)[0]),
                               "per_day_exponent": float(np.polyfit(np.log(Ts), np.log(day), 1)[0])}
    report = {
        "description": "MHD-SWT solver vs dinosaur hydrodynamic shallow water (imex_rk_sil3 + same hyperdiffusion filter), "
                    "float32, same grid and dt, interleaved timings, min over repeats",
        "simulated_day_model_units": day_model,
        "machine": {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "platform": platform.platform(),
                     "python": platform.python_version(), "jax": jax.__version__, "jaxlib": __import__("jaxlib").__version__,
                     "dinosaur": getattr(dinosaur, "__version__", "1.5.1"), "numpy": np.__version__,
                     "devices": [str(d) for d in jax.devices()],
                     "note": "shared machine: other processes may run concurrently; minima over interleaved repeats"},
        "results": results,
        "growth_with_truncation": growth,
        "goal": "ours <= 1.5 x dinosaur per simulated day (float32)",
        "goal_met": {f"T{r['truncation']}": r["ratio_ours_to_dinosaur"] <= 1.5 for r in results},
    }
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
