"""Score the data-only baselines (pinn.emergence.baselines) on the ARISE record, causally, and write the results.

Every target rotation M (the scored N+1) with ARs and a non-empty band history is scored by every
candidate (a method with one setting of its hyperparameters); each method's forecast for M uses the
candidate with the highest total bits over targets before M (pinn.emergence.baselines.causal_choice), and the
data-only baseline uses the method with the highest total of its own causal forecasts before M. The
same fixed procedure runs over the whole record (from CR 1909); results are reported on the
development rotations (those of experiments/hindcast/per_ar.csv) and on cycle 24 (CR 2100-2225).

    python experiments/baselines/run.py [--arise PATH] [--last-targets K]

The ARISE table defaults to the one bundled with the package (the same file as the shared raw data's).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pinn.config.schema import Config
from pinn.data import arise
from pinn.data.bundled import arise_table
from pinn.emergence import baselines as bl
from pinn.emergence.data_only import BAND, MIN_ROTATIONS, UNOBSERVED, prequential, score_methods
from pinn.emergence.ridge_model import density_grid
from pinn.scoring import scores as ev

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COUNT_DECAYS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
DISPERSIONS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 1e6)
CYCLE24 = (2100, 2225)


def count_scores(counts: pd.DataFrame, targets) -> pd.DataFrame:
    """Per target: bits (both hemispheres summed) of the count forecasts; decay and dispersion fitted causally."""
    rows = []
    for t in targets:
        obs = counts.loc[t]
        rec = {"cr": t, "n_north": int(obs["north"]), "n_south": int(obs["south"])}
        for d in COUNT_DECAYS:
            rate = bl.count_rate(counts, t, d)
            rec[f"rate_n d{d}"], rec[f"rate_s d{d}"] = rate["north"], rate["south"]
            rec[f"pois d{d}"] = float(bl.poisson_log2pmf(obs["north"], rate["north"])
                                      + bl.poisson_log2pmf(obs["south"], rate["south"]))
            for r in DISPERSIONS:
                rec[f"nb d{d} r{r}"] = float(bl.negbin_log2pmf(obs["north"], rate["north"], r)
                                             + bl.negbin_log2pmf(obs["south"], rate["south"], r))
        rate5 = bl.count_rate(counts, t, 1.0, n_back=5)
        rec["mean5_n"], rec["mean5_s"] = rate5["north"], rate5["south"]
        rec["pois mean5"] = float(bl.poisson_log2pmf(obs["north"], rate5["north"])
                                  + bl.poisson_log2pmf(obs["south"], rate5["south"]))
        rows.append(rec)
    df = pd.DataFrame(rows)
    pois_cols = [f"pois d{d}" for d in COUNT_DECAYS]
    nb_cols = [c for c in df.columns if c.startswith("nb ")]
    for key, cols, default in (("pois_ew", pois_cols, "pois d1.0"), ("nb_ew", nb_cols, "nb d1.0 r1000000.0")):
        bits, choice = prequential(df, cols, default)
        df[key], df[f"{key}_choice"] = bits, df["cr"].map(choice)
    return df


def interval(diff, rot) -> dict:
    iv = ev.paired_bootstrap(diff, rot)
    return {"mean": iv.mean, "low": iv.low, "high": iv.high, "n_rotations": iv.n_rotations, "n_ars": iv.n_ars}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arise", type=Path, default=arise_table(), help="ARISE remove-repeat table (default: bundled)")
    p.add_argument("--last-targets", type=int, default=None, help="score only the last K targets (a quick check)")
    args = p.parse_args()
    t0 = time.time()
    table = arise.load_arise(args.arise)
    lat, lon = density_grid(Config().forecast)
    counts = bl.hemisphere_counts(table, int(table["cr"].min()), int(table["cr"].max()), UNOBSERVED)
    targets = [int(m) for m in np.unique(table["cr"]) if len(bl.band_history(table, int(m))) > 0]
    targets = targets[-args.last_targets:] if args.last_targets else targets
    record = score_methods(table, lat, lon, targets)  # the package's causal data-only record
    t_scores = time.time() - t0
    methods = {k: record.bits[k].values for k in record.bits.columns if k not in ("cr", "lat", "lon")}
    chosen = {k[len("choice_"):]: record.choices[k] for k in record.choices.columns}
    per_ar = pd.DataFrame({"cr": record.bits["cr"], "lat": record.bits["lat"], "lon": record.bits["lon"],
                           **{f"bits_{k}": v for k, v in methods.items()}})
    per_rot = record.choices.copy()

    hind = pd.read_csv(ROOT / "experiments/hindcast/per_ar.csv")
    dev_crs = sorted(hind["cr"].unique())
    dev = per_ar[per_ar["cr"].isin(dev_crs)].reset_index(drop=True)
    # the hindcast CSV holds 6 significant digits: pair ARs by rotation and latitude order
    mine = dev[dev["cr"].isin(hind["cr"])].sort_values(["cr", "lat"]).reset_index(drop=True)
    theirs = hind[hind["cr"].isin(mine["cr"])].sort_values(["cr", "lat"]).reset_index(drop=True)
    check = pd.DataFrame({"b": mine["bits_band"], "h": theirs["bits_band"],
                          "dlat": (mine["lat"] - theirs["lat"]).abs(), "dlon": (mine["lon"] - theirs["lon"]).abs()})
    if len(mine) != len(theirs) or check[["dlat", "dlon"]].to_numpy().max() > 1e-3:
        raise SystemExit("the ARs of the development rotations differ from experiments/hindcast/per_ar.csv")
    band_diff = float(np.max(np.abs(check["b"] - check["h"])))

    # the factorised candidate scores must equal the density functions': check the chosen nests forecasts
    max_err = 0.0
    scored_dev = [c for c in dev_crs if c in chosen["nests"].index]
    for m in scored_dev[:: max(1, len(scored_dev) // 6)]:
        c = chosen["nests"].loc[m]
        if c.startswith("bw"):
            w, k, d, mix, f, _ = (x[1:] for x in c[1:].split())
            p = bl.NestParams(float(w), int(k), float(d), float(mix), float(f))
            dens = bl.nests_density(table[table["cr"] <= m], m, lat, lon, p)
            truth = arise.ars_of(table, m)
            ref = dev.loc[dev["cr"] == m, "bits_nests"].values
            max_err = max(max_err, float(np.max(np.abs(ev.log2_likelihood(dens, truth["lat"], truth["lon"]) - ref))))

    def report(sel: pd.DataFrame) -> dict:
        res = {"n_rotations": int(sel["cr"].nunique()), "n_ars": len(sel),
               "mean_bits": {k: float(sel[f"bits_{k}"].mean()) for k in methods}}
        res["minus_band"] = {k: interval(sel[f"bits_{k}"] - sel["bits_band"], sel["cr"]) for k in methods if k != BAND}
        return res

    c24 = per_ar[(per_ar["cr"] >= CYCLE24[0]) & (per_ar["cr"] <= CYCLE24[1])]
    cs = count_scores(counts, [t for t in counts.index[counts["observed"]] if t > counts.index.min() + 5])

    def count_report(sel: pd.DataFrame) -> dict:
        res = {"n_rotations": len(sel), "bits_per_rotation": {k: float(sel[k].mean()) for k in
                                                             ("pois mean5", "pois_ew", "nb_ew")}}
        res["minus_mean5"] = {k: interval(sel[k] - sel["pois mean5"], sel["cr"]) for k in ("pois_ew", "nb_ew")}
        res["choices"] = {k: sel[f"{k}_choice"].value_counts().to_dict() for k in ("pois_ew", "nb_ew")}
        return res

    summary = {
        "command": "python experiments/baselines/run.py",
        "machine": f"{platform.machine()} CPU, 2 cores shared ({platform.python_version()})",
        "seconds_candidate_scores": round(t_scores, 1), "seconds_total": round(time.time() - t0, 1),
        "min_rotations": MIN_ROTATIONS,
        "band_vs_hindcast_max_abs_bits": band_diff, "band_vs_hindcast_matched_ars": len(check),
        "nests_factorised_vs_density_max_abs_bits": max_err,
        "development": report(dev), "cycle24": report(c24),
        "development_choices": {k: per_rot.loc[per_rot.index.isin(dev_crs), f"choice_{k}"].value_counts().to_dict()
                                for k in chosen},
        "counts_development": count_report(cs[cs["cr"].isin(dev_crs)]),
        "counts_cycle24": count_report(cs[(cs["cr"] >= CYCLE24[0]) & (cs["cr"] <= CYCLE24[1])]),
    }
    if args.last_targets is None:
        dev.to_csv(HERE / "per_ar.csv", index=False, float_format="%.6g")
        c24.to_csv(HERE / "per_ar_cycle24.csv", index=False, float_format="%.6g")
        per_rot.to_csv(HERE / "choices.csv")
        cs[["cr", "n_north", "n_south", "mean5_n", "mean5_s", "pois mean5", "pois_ew", "pois_ew_choice", "nb_ew",
            "nb_ew_choice"]].to_csv(HERE / "counts.csv", index=False, float_format="%.6g")
        (HERE / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
