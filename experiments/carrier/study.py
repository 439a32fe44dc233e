"""The carrier, measured: the rate at which AR nests are carried in Carrington longitude, on the ARISE record.

Every target rotation M (CR >= 1911 with new ARs and a band history) is forecast by the nests density of
pinn.emergence.carrier.nests_density with FIXED settings (a priori, as the earlier session's comparison): kernel
density of the ARs of the 3 rotations before M, 6 deg von Mises-Fisher kernels, equal recency weights,
kernel share 0.2 and latitude band 0.8, uniform floor 0.05. Only the carrier changes between rows:

* snodgrass: surface magnetic features, Snodgrass (1983), 2.902 - 0.464 sin^2 - 0.328 sin^4 urad/s sidereal;
* sunspots: recurrent sunspot groups, Newton & Nunn (1951, MNRAS 111, 413), 14.38 - 2.77 sin^2 deg/day sidereal;
* carrington: no carrying;
* core: rigid rotation at the radiative-core rate (physics.core_rate_nHz, 430 nHz) = the model frame;
* model: the model frame plus the default zonal flow u0 (physics.s0, s2, s4), the PINN/solver's advecting flow;
* fitted: Omega(lat) = A + B sin^2 + C sin^4 (deg/day, Carrington frame) fitted by maximum likelihood,
  CAUSALLY: the targets are taken in order and the profile is refitted every REFIT_EVERY targets on all
  targets scored strictly before the refit point (their new ARs under the same nests density, the ARs
  of the 3 rotations before each of them carried by the profile); until MIN_FIT_TARGETS targets exist
  the fitted row uses Snodgrass.

Scores are bits per new AR on the 1-deg evaluation grid (pinn.scoring.scores.log2_likelihood), per cycle
(23: CR 1911-2096, 24: 2097-2239, 25: 2240-), against the latitude band (pinn.emergence.density.band_density
of the 5 rotations before M) and paired against the carrington and snodgrass rows, with 95 % paired
bootstrap intervals over rotations. The whole-record profile (descriptive, not causal) is given with
a bootstrap over rotations.

    python experiments/carrier/study.py --out experiments/carrier
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import pinn
from pinn.config.physics import model_units
from pinn.config.schema import Config
from pinn.data import arise
from pinn.emergence import baselines as bl
from pinn.emergence import carrier as ca
from pinn.emergence import density as dn
from pinn.emergence.ridge_model import density_grid
from pinn.scoring import scores as ev

PARAMS = bl.NestParams(width_deg=6.0, n_rotations=3, decay=1.0, mix=0.2, floor=0.05)
FIRST_TARGET = 1911
CYCLES = {"23": (1911, 2096), "24": (2097, 2239), "25": (2240, 10**6)}
REFIT_EVERY = 5  # targets
MIN_FIT_TARGETS = 20
N_BOOT_FIT = 200
NEWTON_NUNN_DEG_DAY = (14.38, -2.77, 0.0)  # sidereal, recurrent sunspot groups 1878-1944
RATE_LATS = (0.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0)
HERE = Path(__file__).resolve().parent


def fixed_carriers(config: Config) -> dict[str, ca.Coeffs]:
    units = model_units(config.physics)
    phys = config.physics
    return {
        "snodgrass": ca.from_sidereal_urad_s(bl.SNODGRASS_URAD_S),
        "sunspots": ca.from_sidereal_deg_day(NEWTON_NUNN_DEG_DAY),
        "carrington": ca.NO_CARRYING,
        "core": (units.frame_drift_deg_per_day(), 0.0, 0.0),
        "model": ca.model_carrier(units.frame_drift_deg_per_day(), phys.core_rate_nHz, (phys.s0, phys.s2, phys.s4)),
    }


def causal_fits(data: ca.PairData, targets: list[int], start: ca.Coeffs) -> dict[int, ca.Coeffs]:
    """Profile used for each target: refitted every REFIT_EVERY targets on the targets before the refit point."""
    used, current, prev = {}, start, None
    for i, t in enumerate(targets):
        if i >= MIN_FIT_TARGETS and (i - MIN_FIT_TARGETS) % REFIT_EVERY == 0:
            starts = (ca.NO_CARRYING, start) + ((prev,) if prev is not None else ())
            current = prev = ca.fit_profile(data.select(targets[:i]), PARAMS, starts)
        used[t] = current
    return used


def interval(diff, rot) -> dict:
    iv = ev.paired_bootstrap(diff, rot)
    return {"mean": iv.mean, "low": iv.low, "high": iv.high, "n_rotations": iv.n_rotations, "n_ars": iv.n_ars}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--arise", type=Path, default=None, help="ARISE CSV (default: the bundled table)")
    args = ap.parse_args()
    t0 = time.time()
    table = pinn.load_arise(args.arise or pinn.arise_table())
    config = Config()
    lat, lon = density_grid(config.forecast)
    targets = [int(m) for m in np.unique(table["cr"]) if m >= FIRST_TARGET and len(bl.band_history(table, int(m))) > 0]
    carriers = fixed_carriers(config)
    data = ca.pair_data(table, targets, lat, lon, PARAMS)
    used = causal_fits(data, targets, carriers["snodgrass"])
    t_fit = time.time() - t0

    rows = []
    for t in targets:
        truth = arise.ars_of(table, t)
        la, lo = truth["lat"].values, truth["lon"].values
        rec = {"cr": np.full(len(truth), t), "lat": la, "lon": lo,
               "band": ev.log2_likelihood(dn.band_density(bl.band_history(table, t), lat, lon), la, lo)}
        for name, coeffs in {**carriers, "fitted": used[t]}.items():
            rec[name] = ev.log2_likelihood(ca.nests_density(table, t, lat, lon, PARAMS, coeffs), la, lo)
        rows.append(pd.DataFrame(rec))
    per_ar = pd.concat(rows, ignore_index=True)
    t_score = time.time() - t0 - t_fit
    names = [*carriers, "fitted"]

    report = {}
    for cyc, (c0, c1) in CYCLES.items():
        sel = per_ar[(per_ar["cr"] >= c0) & (per_ar["cr"] <= c1)]
        report[cyc] = {
            "crs": [int(sel["cr"].min()), int(sel["cr"].max())], "n_rotations": int(sel["cr"].nunique()),
            "n_ars": len(sel), "mean_bits": {k: float(sel[k].mean()) for k in ["band", *names]},
            "minus_band": {k: interval(sel[k] - sel["band"], sel["cr"]) for k in names},
            "minus_carrington": {k: interval(sel[k] - sel["carrington"], sel["cr"]) for k in names if k != "carrington"},
            "minus_snodgrass": {k: interval(sel[k] - sel["snodgrass"], sel["cr"]) for k in names if k != "snodgrass"},
        }

    # whole-record profile (descriptive) and its bootstrap over rotations
    full = ca.fit_profile(data, PARAMS, (ca.NO_CARRYING, carriers["snodgrass"], used[targets[-1]]))
    rng = np.random.default_rng(0)
    boot = np.array([ca.fit_profile(data.select(rng.choice(targets, len(targets))), PARAMS, (full,))
                     for _ in range(N_BOOT_FIT)])
    boot_rates = np.array([ca.rate_deg_per_day(RATE_LATS, tuple(b)) for b in boot])
    per_cycle_fit = {cyc: ca.fit_profile(data.select([t for t in targets if c0 <= t <= c1]), PARAMS,
                                         (ca.NO_CARRYING, carriers["snodgrass"], full))
                     for cyc, (c0, c1) in CYCLES.items()}
    last = used[targets[-1]]
    profiles = {**carriers, "fitted_whole_record": full, "fitted_causal_last": last,
                **{f"fitted_cycle{c}": v for c, v in per_cycle_fit.items()}}
    fit_report = {
        "whole_record": {"A": full[0], "B": full[1], "C": full[2],
                         "interval95": {k: [float(np.quantile(boot[:, i], 0.025)), float(np.quantile(boot[:, i], 0.975))]
                                        for i, k in enumerate("ABC")},
                         "rate_interval95": {str(la): [float(np.quantile(boot_rates[:, j], 0.025)),
                                                       float(np.quantile(boot_rates[:, j], 0.975))]
                                             for j, la in enumerate(RATE_LATS)},
                         "n_boot": N_BOOT_FIT},
        "per_cycle": {c: dict(zip("ABC", v)) for c, v in per_cycle_fit.items()},
        "causal_refits": {str(t): list(used[t]) for i, t in enumerate(targets)
                          if i >= MIN_FIT_TARGETS and (i - MIN_FIT_TARGETS) % REFIT_EVERY == 0},
    }
    rates = {k: dict(zip(map(str, RATE_LATS), map(float, ca.rate_deg_per_day(RATE_LATS, v)))) for k, v in profiles.items()}

    args.out.mkdir(parents=True, exist_ok=True)
    summary = {
        "command": "python experiments/carrier/study.py --out experiments/carrier"
                   + (f" --arise {args.arise}" if args.arise else ""),
        "machine": f"{platform.machine()} CPU, 2 cores shared (Python {platform.python_version()})",
        "seconds_fits": round(t_fit, 1), "seconds_scores": round(t_score, 1), "seconds_total": round(time.time() - t0, 1),
        "arise_crs": [int(table["cr"].min()), int(table["cr"].max())], "n_targets": len(targets),
        "nest_params": PARAMS.__dict__, "refit_every_targets": REFIT_EVERY, "min_fit_targets": MIN_FIT_TARGETS,
        "coeffs_deg_day_carrington": {k: list(v) for k, v in profiles.items()},
        "rates_deg_day": rates, "fit": fit_report, "cycles": report,
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))
    per_ar.to_csv(args.out / "per_ar.csv", index=False, float_format="%.6g")
    (args.out / "table.md").write_text(table_md(summary, names))
    print((args.out / "table.md").read_text())


def fmt(iv: dict) -> str:
    return f"{iv['mean']:+.3f} [{iv['low']:+.3f}, {iv['high']:+.3f}]"


def table_md(s: dict, names: list[str]) -> str:
    out = ["## Bits per new AR against the latitude band (95 % paired bootstrap over rotations)", ""]
    cyc = s["cycles"]
    out.append("| carrier | " + " | ".join(f"cycle {c} (CR {v['crs'][0]}-{v['crs'][1]}, {v['n_rotations']} rot, "
                                             f"{v['n_ars']} ARs)" for c, v in cyc.items()) + " |")
    out.append("| --- |" + " --- |" * len(cyc))
    out.append("| band (bits/AR) | " + " | ".join(f"{v['mean_bits']['band']:.3f}" for v in cyc.values()) + " |")
    for k in names:
        out.append(f"| {k} | " + " | ".join(fmt(v["minus_band"][k]) for v in cyc.values()) + " |")
    for ref in ("carrington", "snodgrass"):
        out += ["", f"## Paired differences against {ref}", ""]
        out.append("| carrier | " + " | ".join(f"cycle {c}" for c in cyc) + " |")
        out.append("| --- |" + " --- |" * len(cyc))
        for k in names:
            if k != ref:
                out.append(f"| {k} - {ref} | " + " | ".join(fmt(v[f"minus_{ref}"][k]) for v in cyc.values()) + " |")
    f = s["fit"]["whole_record"]
    out += ["", "## Fitted profile Omega = A + B sin^2 + C sin^4 (deg/day, Carrington frame)", "",
            "| fit | A | B | C |", "| --- | --- | --- | --- |",
            "| whole record (95 % bootstrap over rotations) | "
            + " | ".join(f"{f[k]:+.3f} [{f['interval95'][k][0]:+.3f}, {f['interval95'][k][1]:+.3f}]" for k in "ABC") + " |"]
    for c, v in s["fit"]["per_cycle"].items():
        out.append(f"| cycle {c} | " + " | ".join(f"{v[k]:+.3f}" for k in "ABC") + " |")
    lats = list(next(iter(s["rates_deg_day"].values())))
    out += ["", "## Carrying rate Omega(lat), deg/day in the Carrington frame", "",
            "| carrier | " + " | ".join(f"{la} deg" for la in lats) + " |", "| --- |" + " --- |" * len(lats)]
    for k, v in s["rates_deg_day"].items():
        out.append(f"| {k} | " + " | ".join(f"{v[la]:+.3f}" for la in lats) + " |")
    ri = f["rate_interval95"]
    out.append("| whole-record fit 95 % | " + " | ".join(f"[{ri[la][0]:+.2f}, {ri[la][1]:+.2f}]" for la in lats) + " |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
