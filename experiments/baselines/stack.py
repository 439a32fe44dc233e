"""The data-only stack against the causal data-only choice, on the whole ARISE record, at leads 1-3.

For every target M of the record the causal data-only choice (the method whose own causal forecasts scored best
on the targets before M) and the data-only stack (the linear pool of every method's causal forecast, weights
fitted on the targets <= M - lead: pinn.emergence.data_only.stack_weights) are scored per new AR, and compared
on three stretches, one per solar cycle: cycle 23 (CR 1950-2099; the stack's first 20 targets use the band), cycle
24 (CR 2100-2225) and the development rotations of cycle 25 (CR 2241-2283). The stack of the two nests methods
alone (nests_hemi, nests_clim) is the ablation that says whether the other five methods add anything.

    PYTHONPATH=. python experiments/baselines/stack.py [--leads 1,2,3] [--out experiments/baselines/stack]

The records come from the content-hash cache (pinn.chain.hindcast.data_only_record; about 2 minutes per lead
when not cached). Nothing is fitted on a stretch before it is scored: every weight is fitted on earlier targets.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pinn.chain.hindcast import data_only_record
from pinn.config.schema import Config
from pinn.data import arise
from pinn.data.bundled import arise_table
from pinn.emergence import data_only as do
from pinn.emergence import stacking as st
from pinn.emergence.ridge_model import density_grid
from pinn.io import write_json
from pinn.scoring import scores as ev

HERE = Path(__file__).resolve().parent
STRETCHES = {"cycle 23 (CR 1950-2099)": (1950, 2099), "cycle 24 (CR 2100-2225)": (2100, 2225),
             "cycle 25, development (CR 2241-2283)": (2241, 2283)}
NESTS_ONLY = ["nests_hemi", "nests_clim"]


def interval(diff: pd.Series, cr: pd.Series) -> dict:
    iv = ev.paired_bootstrap(diff.to_numpy(float), cr.to_numpy())
    return {"mean": float(iv.mean), "low": float(iv.low), "high": float(iv.high)}


def lead_table(record: do.DataOnlyResult, lead: int) -> tuple[dict, pd.DataFrame]:
    """Per stretch: mean bits of band, data-only, nests_clim, the stack and the nests-only stack, and the paired
    differences; and the stack's weights per target."""
    bits, weights = do.stack_bits(record, lead)
    frame = record.bits.assign(data_only_stack=bits)
    nests_w = st.causal_pool_weights(record.bits, NESTS_ONLY, np.unique(record.bits["cr"]), "nests_hemi",
                                     do.MIN_ROTATIONS, lead)
    frame["stack_nests_only"] = st.pool_bits(record.bits[NESTS_ONLY].to_numpy(float),
                                             nests_w.loc[record.bits["cr"].to_numpy()].to_numpy())
    out = {}
    for name, (lo, hi) in STRETCHES.items():
        g = frame[(frame["cr"] >= lo) & (frame["cr"] <= hi)]
        if g.empty:
            continue
        out[name] = {"n_rotations": int(g["cr"].nunique()), "n_ars": len(g),
                     "mean_bits": {k: float(g[k].mean()) for k in ("band", "data_only", "nests_clim", "data_only_stack",
                                                                   "stack_nests_only")},
                     "stack_minus_data_only": interval(g["data_only_stack"] - g["data_only"], g["cr"]),
                     "stack_minus_band": interval(g["data_only_stack"] - g["band"], g["cr"]),
                     "stack_minus_nests_clim": interval(g["data_only_stack"] - g["nests_clim"], g["cr"]),
                     "stack_minus_nests_only_stack": interval(g["data_only_stack"] - g["stack_nests_only"], g["cr"]),
                     "mean_weights": {m: float(weights.loc[np.unique(g["cr"]), m].mean()) for m in do.METHODS}}
    return out, weights


def _fmt(d: dict) -> str:
    return f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


def markdown(results: dict) -> str:
    lines = [("| lead | stretch | ARs | data-only | stack | stack - data-only | stack - band | stack - nests_clim | "
              "stack - nests-only stack |"), "|" + " --- |" * 9]
    for lead, per in results.items():
        for name, r in per.items():
            m = r["mean_bits"]
            lines.append(f"| {lead} | {name} | {r['n_ars']} | {m['data_only']:.3f} | {m['data_only_stack']:.3f} | "
                         f"{_fmt(r['stack_minus_data_only'])} | {_fmt(r['stack_minus_band'])} | "
                         f"{_fmt(r['stack_minus_nests_clim'])} | {_fmt(r['stack_minus_nests_only_stack'])} |")
    weights = ["| lead | stretch | " + " | ".join(do.METHODS) + " |", "|" + " --- |" * (2 + len(do.METHODS))]
    for lead, per in results.items():
        for name, r in per.items():
            weights.append(f"| {lead} | {name} | " + " | ".join(f"{r['mean_weights'][m]:.2f}" for m in do.METHODS) + " |")
    return ("Mean log2-likelihood per new AR (bits); differences paired over rotations (bootstrap, 95 %).\n\n"
            + "\n".join(lines) + "\n\nMean stack weights over the stretch's targets:\n\n" + "\n".join(weights) + "\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leads", default="1,2,3")
    p.add_argument("--out", type=Path, default=HERE / "stack")
    args = p.parse_args(argv)
    leads = [int(k) for k in args.leads.split(",")]
    table = arise.load_arise(arise_table())
    lat, lon = density_grid(Config().forecast)
    t0 = time.perf_counter()
    results, weights = {}, {}
    for lead in leads:
        record = data_only_record(table, lat, lon, int(table["cr"].max()), lead=lead)
        results[lead], weights[lead] = lead_table(record, lead)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "summary.json", {"leads": {str(k): v for k, v in results.items()},
                                           "seconds": round(time.perf_counter() - t0, 1),
                                           "machine": f"{platform.machine()} CPU, Python {platform.python_version()}",
                                           "command": "PYTHONPATH=. python experiments/baselines/stack.py"})
    pd.concat({k: w for k, w in weights.items()}, names=["lead"]).to_csv(args.out / "weights.csv", float_format="%.6g")
    text = markdown(results)
    (args.out / "stack.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
