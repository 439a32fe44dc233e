"""Split the dynamics ablation into its two parts by rescoring saved cases with d2-only rows (no retraining).

    python experiments/hindcast/kinematic/decompose.py CASES_DIR [--out experiments/hindcast/kinematic]

``hybrid_physics_strength`` (d2 to the predicted ridge + its log strength) and ``hybrid_kinematic`` (d2 to the
current toroids + log of the carried s(lon)) differ in two things: which centre line d2 measures, and which
strength. Two d2-only rows, registered here for this run only, separate them:

* ``d2_predicted``: the prior tilted by d2 to the predicted (integrated) ridge alone;
* ``d2_static``: the prior tilted by d2 to the current toroids alone.

Then ``hybrid_physics_strength - d2_predicted`` is what the integrated strength adds, ``hybrid_kinematic -
d2_static`` what the carried strength adds, and ``d2_predicted - d2_static`` what the integrated centre line
adds. Writes ``decompose.json`` (mean bits and paired bootstrap differences over rotations).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from pinn.chain import hindcast as hc
from pinn.chain.case import Case
from pinn.config.schema import load_config
from pinn.data.arise import load_arise
from pinn.data.bundled import arise_table, default_forecast_config
from pinn.emergence.models import MODELS, HybridModel, register
from pinn.emergence.ridge_model import density_grid
from pinn.io import write_json
from pinn.scoring.scores import paired_bootstrap

HERE = Path(__file__).resolve().parent
EXTRA = (HybridModel("d2_predicted", "data-only prior tilted by d2 to the predicted ridge alone", ("d2",)),
         HybridModel("d2_static", "data-only prior tilted by d2 to the current toroids alone", ("d2",), source="static"))
SCORED = ("data_only", "d2_static", "d2_predicted", "hybrid_kinematic", "hybrid_physics_strength")
PAIRS = (("hybrid_physics_strength", "d2_predicted"), ("hybrid_kinematic", "d2_static"),
         ("d2_predicted", "d2_static"), ("hybrid_physics_strength", "hybrid_kinematic"),
         ("d2_static", "data_only"), ("d2_predicted", "data_only"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cases_dir", type=Path)
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args()
    t0 = time.time()
    config = load_config(default_forecast_config())
    table = load_arise(arise_table())
    cases = [Case.load(path) for path in sorted(args.cases_dir.glob("cr*.nc"))]
    record = hc.data_only_record(table, *density_grid(config.forecast), max(c.target for c in cases))
    for m in EXTRA:
        register(m)
    try:
        result = hc.rescore(cases, table, config, models=SCORED, data_only=record)
    finally:
        for m in EXTRA:
            MODELS.unregister(m.name)
    per_ar = result.per_ar
    out = {"n_ars": len(per_ar), "n_rotations": int(per_ar["cr"].nunique()),
           "mean_bits": {m: float(per_ar[f"bits_{m}"].mean()) for m in SCORED},
           "differences_bits": {f"{a}_minus_{b}": dataclasses.asdict(paired_bootstrap(
               per_ar[f"bits_{a}"] - per_ar[f"bits_{b}"], per_ar["cr"].values)) for a, b in PAIRS},
           "seconds": round(time.time() - t0, 1)}
    write_json(args.out / "decompose.json", out)
    for k, v in out["mean_bits"].items():
        print(f"{k}: {v:.3f}")
    for k, v in out["differences_bits"].items():
        print(f"{k}: {v['mean']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]")


if __name__ == "__main__":
    main()
