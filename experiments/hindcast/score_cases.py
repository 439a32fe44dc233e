"""Rescore saved hindcast cases (no retraining): every model, data-only baseline, hybrid, counts, calibration.

    PYTHONPATH=. /work/main/.venv/bin/python experiments/hindcast/score_cases.py CASES_DIR OUT_DIR [DATA_FROM]

CASES_DIR holds ``cr*.nc`` from ``pinn hindcast`` (``OUT/cases``). OUT_DIR gets per_ar.csv,
per_rotation.csv, summary.json (with paired bootstrap intervals vs the band and the data-only baseline),
hindcast.png, counts.csv and reliability.png. DATA_FROM: first target of the data-only causal record
(default: the whole ARISE table, as in experiments/baselines).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pinn.chain import hindcast as hc
from pinn.config.schema import load_config
from pinn.data import arise
from pinn.emergence import counts as ct
from pinn.emergence import density as dn
from pinn.io import save_figure, write_json
from pinn.scoring import calibration as cal
from pinn.scoring import scores as ev

ROOT = Path(__file__).resolve().parents[2]
ARISE = ROOT.parent / "shared/data/raw/active_regions/arise/ARISE_database_remove_repeat_ARs.csv"
MIN_FIT = 5


def count_table(cases, table) -> pd.DataFrame:
    """Per rotation: observed counts, mean-of-5 and EW rates, the ridge-growth feature, Poisson bits."""
    rows = []
    for c in cases:
        t = c.cr + 1
        obs, m5, ew, g = ct.observed_counts(table, t), ct.mean5_rates(table, t), ct.ew_rates(table, t), ct.ridge_growth(c.ridge)
        rows.append({"cr": t, **{f"n_{h}": obs[h] for h in ct.HEMIS}, **{f"mean5_{h}": m5[h] for h in ct.HEMIS},
                     **{f"ew_{h}": ew[h] for h in ct.HEMIS}, **{f"growth_{h}": g[h] for h in ct.HEMIS},
                     "bits_mean5": ct.poisson_bits(obs, m5), "bits_ew": ct.poisson_bits(obs, ew)})
    df = pd.DataFrame(rows)
    tilt, gam = [], []
    for i, r in df.iterrows():  # physics tilt on the EW rate, fitted on rotations scored before this one
        past = df.iloc[:i]
        if len(past) >= MIN_FIT:
            base = np.concatenate([past[f"ew_{h}"] for h in ct.HEMIS])
            feat = np.concatenate([past[f"growth_{h}"] for h in ct.HEMIS])
            n = np.concatenate([past[f"n_{h}"] for h in ct.HEMIS])
            g, sd, scale = ct.fit_count_tilt(base, feat, n)
            rates = ct.tilted_rates({h: r[f"ew_{h}"] for h in ct.HEMIS}, {h: r[f"growth_{h}"] for h in ct.HEMIS},
                                    g, scale, float(feat.mean()))
        else:
            g, sd, rates = 0.0, ct.PRIOR_SD, {h: r[f"ew_{h}"] for h in ct.HEMIS}
        tilt.append(ct.poisson_bits({h: r[f"n_{h}"] for h in ct.HEMIS}, rates))
        gam.append((g, sd))
    df["bits_ew_growth"] = tilt
    df["gamma"], df["gamma_sd"] = [g for g, _ in gam], [s for _, s in gam]
    return df


def main() -> None:
    t0 = time.time()
    cases_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    data_from = int(sys.argv[3]) if len(sys.argv) > 3 else None
    out.mkdir(parents=True, exist_ok=True)
    config = load_config(ROOT / "pinn/config/forecast.yaml")
    table = arise.load_arise(ARISE)
    cases = sorted((hc.Case.load(p) for p in cases_dir.glob("cr*.nc")), key=lambda c: c.cr)
    from pinn.emergence import data_only as do
    from pinn.emergence import hybrid as hy

    lat, _ = hc.density_grid(config.forecast)
    dores = hc.data_only_record(table, lat, cases[0].ridge["lon"].values, cases[-1].cr + 1, data_from)
    result = hc.rescore(cases, table, config, MIN_FIT, data_only_from=data_from, data_only=dores)
    hc.write_results(result, out)  # before the slower extras, so an interruption keeps the main scores

    # counts
    cdf = count_table(cases, table)
    cdf.to_csv(out / "counts.csv", index=False, float_format="%.6g")
    counts = {"bits_per_rotation": {k: float(cdf[f"bits_{k}"].mean()) for k in ("mean5", "ew", "ew_growth")},
              "minus_mean5": {k: ev.paired_bootstrap(cdf[f"bits_{k}"] - cdf["bits_mean5"], cdf["cr"]).__dict__
                              for k in ("ew", "ew_growth")},
              "gamma_last": {"gamma": float(cdf["gamma"].iloc[-1]), "sd": float(cdf["gamma_sd"].iloc[-1])}}

    # calibration: P(>= 1 AR) per 10x10 deg cell with the same (EW) rates, density of each model
    names = ("band", "data_only", "model", "hybrid")
    probs = {k: [] for k in names}
    obs = []
    rot = result.per_rotation.set_index("cr")
    fc = []
    for c in cases:
        t = c.cr + 1
        lon = c.ridge["lon"].values
        rates = ct.ew_rates(table, t)
        truth = arise.ars_of(table, t)
        prior = do.method_density(table, dores, t, "data_only", lat, lon)
        params = hc.EmergenceParams(*(rot.loc[t, f"param_{k}"] for k in ("floor", "width_scale", "strength_power",
                                                                            "min_sigma_deg")))
        feats = hy.ridge_features(c.ridge, c.static_ridge, lat)
        fc.append(hy.make_fit_case(t, prior, feats, truth["lat"].values, truth["lon"].values))
        fit = hy.fit_hybrid(fc[:-1]) if len(fc) - 1 >= MIN_FIT else hy.zero_fit(hy.FEATURES)
        dens = {"band": dn.band_density(arise.ars_of(table, range(c.cr - 4, c.cr + 1)), lat, lon), "data_only": prior,
                "model": hc.emergence_density(c.ridge, lat, c.hemisphere_weights, params),
                "hybrid": hy.hybrid_density(prior, feats, fit)}
        for k in names:
            probs[k].append(cal.cell_probability(dens[k], rates))
        obs.append(cal.cell_observed(truth["lat"], truth["lon"]))
    o = np.stack(obs)
    tables = {k: cal.reliability(np.stack(v), o) for k, v in probs.items()}
    calib = {"brier": {k: cal.brier(np.stack(v), o) for k, v in probs.items()},
             "brier_skill_vs_data_only": {k: cal.brier_skill(np.stack(probs[k]), np.stack(probs["data_only"]), o)
                                          for k in names},
             "brier_skill_vs_band": {k: cal.brier_skill(np.stack(probs[k]), np.stack(probs["band"]), o) for k in names},
             "reliability": {k: t.to_dict(orient="records") for k, t in tables.items()}}
    save_figure(cal.plot_reliability(tables), out / "reliability.png", dpi=110)

    result.summary.update({"cases_dir": str(cases_dir), "counts": counts, "calibration": calib,
                           "seconds": round(time.time() - t0, 1)})
    hc.write_results(result, out)
    write_json(out / "summary.json", result.summary)
    s = result.summary
    print({k: round(v, 4) for k, v in s["mean_bits"].items()})
    for k, v in s["differences_bits"].items():
        print(f"{k}: {v['mean']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]")
    print(s["hybrid_betas_all_rotations"])
    print(counts, {k: calib[k] for k in ("brier", "brier_skill_vs_data_only")})


if __name__ == "__main__":
    main()
