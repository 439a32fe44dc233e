"""The hybrid fit stored in pinn/config/forecast.yaml: the causal fit for CR 2281 (rotations scored before it only).

    PYTHONPATH=. /work/main/.venv/bin/python experiments/hindcast/forecast_fit.py CASES_DIR

CASES_DIR holds the hindcast's ``cr*.nc`` (the cases of the ablation run pinn_bic_20kG for pinn/config/forecast.yaml). Priors are the
causal data-only choices recorded in experiments/baselines/choices.csv; prints the betas (equal to row CR 2281 of
experiments/hindcast/ablations/pinn_bic_20kG/per_rotation.csv), the scales, the data-only candidate and the rotations fitted.
"""
import json
import sys
from pathlib import Path

import pandas as pd

from pinn.chain import hindcast as hc
from pinn.config.schema import load_config
from pinn.data import arise
from pinn.data import bundled as paths
from pinn.emergence import baselines as bl
from pinn.emergence import data_only as do
from pinn.emergence import density as dn
from pinn.emergence import hybrid as hy
from pinn.emergence.ridge_model import density_grid

TARGET = 2281
config = load_config("pinn/config/forecast.yaml")
table = arise.load_arise(paths.arise_table())
choices = pd.read_csv("experiments/baselines/choices.csv", index_col="cr")
cases = sorted((hc.Case.load(p) for p in Path(sys.argv[1]).glob("cr*.nc")), key=lambda c: c.cr)
cases = [c for c in cases if c.cr + 1 < TARGET]
lat, _ = density_grid(config.forecast)
lon = cases[0].ridge["lon"].values

def prior(t):
    m = choices.loc[t, "choice_data_only"]
    past = table[table["cr"] < t]
    if m == do.BAND:
        return dn.band_density(bl.band_history(past, t), lat, lon)
    return do.candidate_density(past, t, lat, lon, choices.loc[t, f"choice_{m}"])

fcs = []
for c in cases:
    ars = arise.ars_of(table, c.cr + 1)
    fcs.append(hy.make_fit_case(c.cr + 1, prior(c.cr + 1), hy.ridge_features(c.ridge, c.static_ridge, lat, hy.FEATURES),
                                ars["lat"].values, ars["lon"].values))
fit = hy.fit_hybrid(fcs, hy.FEATURES)
m = choices.loc[TARGET, "choice_data_only"]
out = {"method": m, "candidate": choices.loc[TARGET, f"choice_{m}"], "names": fit.names, "beta": fit.beta.tolist(),
       "beta_sd": fit.beta_sd.tolist(), "scale": fit.scale.tolist(), "fitted_on": [min(fit.fitted_on), max(fit.fitted_on)],
       "n": len(fit.fitted_on), "crs": list(fit.fitted_on)}
print(json.dumps(out, indent=1))
