"""The dynamics ablation table from a hindcast's per_ar.csv: bits per AR and paired bootstrap differences.

    python experiments/hindcast/kinematic/compare.py HINDCAST_OUT [--out experiments/hindcast/kinematic]

HINDCAST_OUT is what ``pinn hindcast --out`` wrote (per_ar.csv, summary.json). Writes ``table.json`` and
``table.md`` (mean bits per new AR of the rows below, and each listed pair's mean difference with its 95 %
bootstrap interval over rotations, :func:`pinn.scoring.scores.paired_bootstrap`, as the hindcast's summary).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pandas as pd

from pinn.io import write_json
from pinn.scoring.scores import paired_bootstrap

HERE = Path(__file__).resolve().parent
ROWS = ("band", "data_only", "hybrid_static", "hybrid_kinematic", "hybrid_physics_strength", "hybrid")
PAIRS = (("hybrid_kinematic", "data_only"), ("hybrid_physics_strength", "data_only"), ("hybrid", "data_only"),
         ("hybrid_static", "data_only"), ("band", "data_only"),
         ("hybrid_physics_strength", "hybrid_kinematic"),  # what the integration adds to the same s(lon)
         ("hybrid_kinematic", "hybrid_static"),  # what the carried s(lon) adds to the current toroids
         ("hybrid", "hybrid_kinematic"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("hindcast_out", type=Path)
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args()
    per_ar = pd.read_csv(args.hindcast_out / "per_ar.csv")
    summary = json.loads((args.hindcast_out / "summary.json").read_text())
    bits = {m: float(per_ar[f"bits_{m}"].mean()) for m in ROWS}
    diffs = {f"{a}_minus_{b}": dataclasses.asdict(paired_bootstrap(per_ar[f"bits_{a}"] - per_ar[f"bits_{b}"],
                                                                  per_ar["cr"].values)) for a, b in PAIRS}
    table = {"n_ars": len(per_ar), "n_rotations": int(per_ar["cr"].nunique()), "mean_bits": bits,
             "differences_bits": diffs, "models": {m: summary["models"][m] for m in ROWS}}
    write_json(args.out / "table.json", table)
    lines = ["| model | bits per new AR |", "| --- | --- |"] + [f"| `{m}` | {b:.3f} |" for m, b in bits.items()]
    lines += ["", "| difference | mean [95 % interval] bits/AR |", "| --- | --- |"]
    lines += [f"| `{k.replace('_minus_', '` - `')}` | {v['mean']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}] |"
              for k, v in diffs.items()]
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
