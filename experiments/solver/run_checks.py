"""Longer solver checks than CI runs: Williamson 2, band equilibria, conservation, energy budget, parity.

Usage:  .venv/bin/python experiments/solver/run_checks.py [--quick]
Writes experiments/solver/results.json (numbers quoted in experiments/solver/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from pinn.physics import states as S
from pinn.physics.balance import discrete_balance
from pinn.physics.bands import antisymmetric_pair
from pinn.physics.equations import SWTParams
from pinn.physics.solver import SolverSettings, make_solver

OUT = Path(__file__).with_name("results.json")


def final(traj):
    return jax.tree.map(lambda x: x[-1], traj.states)


def williamson(T: int, alpha: float, x64: bool, efold):
    solver = make_solver(SolverSettings(truncation=T, dt=0.1 * 42 / T, x64=x64, dissipation_efold_rotations=efold),
                         S.williamson2_params(alpha))
    state = S.williamson2_state(solver, alpha)
    steps = solver.n_steps_for(S.WILLIAMSON.days_to_model(5.0))
    t0 = time.perf_counter()
    out = final(solver.integrate(state, steps))
    lat, lon = solver.lat_lon_rad
    _, _, h_true = S.williamson2_fields(lat, lon, alpha)
    return {"truncation": T, "alpha": alpha, "x64": x64, "dissipation_efold_rotations": efold, "steps": steps, "dt": solver.dt,
                "h_l2_error_5days": S.l2_error(solver, solver.to_nodal(out)["h"], h_true),
                "wall_s": time.perf_counter() - t0}


def band_equilibrium(T: int, balance: str, width: float, rotations: int, kG: float = 20.0):
    solver = make_solver(SolverSettings(truncation=T, dt=0.05 * 42 / T, x64=True, dissipation_efold_rotations=None),
                         SWTParams())
    analytic = S.band_state(solver, antisymmetric_pair(20.0, width), S.strength_from_kG(kG), balance=balance, discrete=False)
    state, polish = discrete_balance(solver, analytic)
    start = solver.to_nodal(state)
    steps = solver.n_steps_for(solver.rotation_period)
    t0 = time.perf_counter()
    changes = []
    end = state
    for r in range(rotations):
        end = final(solver.integrate(end, steps))
        nodal = solver.to_nodal(end)
        row = {}
        for key in ("u", "a", "h"):
            x0 = np.asarray(start[key]) - (1.0 if key == "h" else 0.0)
            x1 = np.asarray(nodal[key]) - (1.0 if key == "h" else 0.0)
            row[key] = float(np.max(np.abs(x1 - x0)) / np.max(np.abs(x0)))
        row["nonzonal_v_max"] = float(np.max(np.abs(np.asarray(nodal["v"]))))
        changes.append(row)
    # the analytic balance alone (no discrete polish): change after one rotation
    a_end = solver.to_nodal(final(solver.integrate(analytic, steps)))
    a_start = solver.to_nodal(analytic)
    analytic_change = {k: float(np.max(np.abs(np.asarray(a_end[k]) - np.asarray(a_start[k])))
                                / np.max(np.abs(np.asarray(a_start[k]) - (1.0 if k == "h" else 0.0)))) for k in ("u", "a", "h")}
    return {"truncation": T, "balance": balance, "width_deg": width, "lat0_deg": 20.0, "strength_kG": kG,
                "strength_model": S.strength_from_kG(kG), "rotations": rotations, "steps_per_rotation": steps,
                "discrete_polish_max_dh": polish, "relative_change_per_rotation": changes,
                "max_relative_change": max(max(r[k] for k in ("u", "a", "h")) for r in changes),
                "analytic_balance_change_after_1_rotation": analytic_change, "wall_s": time.perf_counter() - t0}


def warped_band(solver):
    toroids = antisymmetric_pair(20.0, 8.0, amplitudes_deg=(5.0, 2.0), phases_deg=(0.0, 40.0))
    return S.band_state(solver, toroids, balance="pressure")


def conservation(T: int, dt: float, rotations: int, efold, stepper="imex_rk_sil3"):
    solver = make_solver(SolverSettings(truncation=T, dt=dt, x64=True, dissipation_efold_rotations=efold, time_stepper=stepper),
                         SWTParams())
    state = warped_band(solver)
    steps = solver.n_steps_for(solver.rotation_period)
    t0 = time.perf_counter()
    traj = solver.integrate(state, steps * rotations, steps, track_budget=efold is not None)
    mass = np.asarray(solver.mass(traj.states))
    energy = np.asarray(solver.energy(traj.states))
    dissipated = np.asarray(traj.dissipated)
    nodal = solver.to_nodal(traj.states)
    return {"truncation": T, "dt": solver.dt, "time_stepper": stepper, "dissipation_efold_rotations": efold, "rotations": rotations,
                "mass_drift": ((mass - mass[0]) / mass[0]).tolist(),
                "energy_drift": ((energy - energy[0]) / energy[0]).tolist(),
                "energy_drift_per_rotation": np.diff((energy - energy[0]) / energy[0]).tolist(),
                "budget_residual": ((energy - energy[0] + dissipated) / energy[0]).tolist(),
                "budget_residual_per_rotation": np.diff((energy - energy[0] + dissipated) / energy[0]).tolist(),
                "dissipated_fraction": (dissipated / energy[0]).tolist(),
                "parity_error_end": S.parity_error({k: v[-1] for k, v in nodal.items()}),
                "v_max": [float(np.max(np.abs(np.asarray(v)))) for v in nodal["v"]],
                "wall_s": time.perf_counter() - t0}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    args = parser.parse_args(argv)
    results = {"williamson2": [], "band_equilibrium": [], "conservation": []}
    tilt = math.pi / 2 - 0.05
    for T in ([42] if args.quick else [42, 85]):
        for alpha in (0.0, tilt):
            for x64, efold in ((False, 0.1), (True, None), (True, 0.1)):
                r = williamson(T, alpha, x64, efold)
                print("williamson2", r, flush=True)
                results["williamson2"].append(r)
    band_runs = [(42, "pressure", 5.0, 10), (42, "jet", 5.0, 10), (42, "pressure", 10.0, 10), (42, "jet", 10.0, 10)]
    if not args.quick:
        band_runs += [(42, "pressure", 5.0, 50), (42, "jet", 5.0, 50), (85, "pressure", 5.0, 10), (85, "jet", 5.0, 10)]
    for T, balance, width, rotations in band_runs:
        r = band_equilibrium(T, balance, width, rotations)
        print("band", {k: v for k, v in r.items() if k != "relative_change_per_rotation"}, flush=True)
        results["band_equilibrium"].append(r)
    cons_runs = [(42, 0.05, 5, None), (42, 0.025, 5, None), (42, 0.05, 10, 0.1), (42, 0.05, 10, 0.02)]
    if args.quick:
        cons_runs = [(42, 0.05, 2, None), (42, 0.05, 2, 0.1)]
    else:
        cons_runs += [(85, 0.025, 5, None), (42, 0.05, 5, None, "crank_nicolson_rk4")]
    for run in cons_runs:
        r = conservation(*run)
        print("conservation", {k: r[k] for k in ("truncation", "dt", "time_stepper", "dissipation_efold_rotations",
                                                  "energy_drift_per_rotation", "budget_residual_per_rotation",
                                                  "parity_error_end")}, flush=True)
        results["conservation"].append(r)
    results["machine_note"] = "CPU, shared by other processes; wall_s indicative only"
    OUT.write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
