"""How far is the PINN state from an exactly steady state of the solver? (pinn.physics.balance)

For a variant of runs.yaml (trained by run.py into OUT/<label>, or trained here if absent), refine the PINN state on the T42 solver grid to
the nearest state that is steady in the frame drifting at c (all four fields and c by damped
Gauss-Newton, anchored to the PINN state with weight ``--anchor`` in the energy norm), and report how
much the band and the flow had to move: the drift residual and divergence tendency before and after,
the RMS change of each field, and the warp of the ridge of |a| (per-hemisphere mean and standard deviation
over longitude of the ridge latitude; the observed M = 2 north centre line has a standard deviation of
5.2 deg). Then the balance initialisation (divergence and h only) for comparison.

    .venv/bin/python experiments/self_consistency/nearest_steady.py --label quick_m2_cos0_divt3e-2_balanced \
        --anchor 1e-2 --anchor 1e-3

Writes OUT/nearest_steady_<label>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(HERE)]


def ridge_stats(a: np.ndarray, lat: np.ndarray) -> dict:
    """Mean and std over longitude of the latitude of max |a| per hemisphere (grid latitudes, degrees)."""
    out = {}
    for name, sel in (("north", lat > 0), ("south", lat < 0)):
        ridge = lat[sel][np.argmax(np.abs(a[sel]), axis=0)]
        out[f"ridge_mean_{name}_deg"] = float(ridge.mean())
        out[f"ridge_std_{name}_deg"] = float(ridge.std())
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--label", required=True)
    p.add_argument("--anchor", type=float, action="append", default=[])
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--out", default=str(HERE))
    args = p.parse_args(argv)

    from run import variant_config  # this folder's run.py: the variants of runs.yaml

    from pinn.config.physics import solver_for
    from pinn.io import write_json
    from pinn.physics.balance import balance_start, refine_steady_state
    from pinn.training import evaluate_fields, load_toroids, train_from_config

    run_dir = Path(args.out) / args.label
    config = variant_config(args.label)
    toroids = load_toroids(config)
    model = train_from_config(config, toroids, run_dir, resume=True).model  # restores a finished run's checkpoint
    solver = solver_for(config)
    f = evaluate_fields(model, solver.lat, solver.lon)
    start = solver.from_nodal(f["u"], f["v"], f["h"], f["A"])
    c0 = float(model.pattern_speed[...])
    qw = solver.quadrature_weights
    lat = solver.lat

    def rms(x):
        x = np.asarray(x, np.float64)
        return float(np.sqrt(np.sum(qw * x * x) / np.sum(qw)))

    base = {k: np.asarray(v, np.float64) for k, v in solver.to_nodal(start).items()}
    result = {"label": args.label, "pattern_speed_start": c0, "pinn": ridge_stats(base["a"], lat), "refinements": []}
    cases = [("balance (divergence, h)", None)] + [(f"nearest steady, anchor {a:g}", a) for a in args.anchor]
    for name, anchor in cases:
        t0 = time.time()
        if anchor is None:
            ref = balance_start(solver, start, c0)
        else:
            ref = refine_steady_state(solver, start, c0, anchor=anchor, max_iter=args.max_iter)
        new = {k: np.asarray(v, np.float64) for k, v in solver.to_nodal(ref.state).items()}
        row = {"case": name, "anchor": anchor, "wall_s": round(time.time() - t0, 1), "pattern_speed": ref.pattern_speed,
               "residual_start": ref.residual_start, "residual_end": ref.residual_end,
               "div_tendency_start": ref.div_tendency_start, "div_tendency_end": ref.div_tendency_end,
               "change_energy_norm": ref.change, "iterations": ref.iterations, **ridge_stats(new["a"], lat)}
        for k in ("u", "v", "h", "a", "b", "divergence"):
            ref_rms = rms(base[k] - (1.0 if k == "h" else 0.0))
            row[f"rms_change_{k}"] = rms(new[k] - base[k])
            row[f"rel_change_{k}"] = row[f"rms_change_{k}"] / max(ref_rms, 1e-300)
        result["refinements"].append(row)
        print({k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    write_json(Path(args.out) / f"nearest_steady_{args.label}.json", result)
    return result


if __name__ == "__main__":
    main()
