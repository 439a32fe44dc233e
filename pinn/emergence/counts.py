"""Expected numbers of new ARs per hemisphere in N+1, and the chance of at least one near a hotspot.

The count forecasts are those of :mod:`pinn.emergence.baselines` (EW mean, mean of the last 5 rotations), from the
ARISE rows of rotations before the target only. A physics tilt, log mu = log(base rate) + gamma z with z
a standardised per-hemisphere feature of the predicted toroids, is fitted causally by MAP (Gaussian prior
sd ``PRIOR_SD`` on gamma, fixed a priori) with a Laplace interval. New ARs are taken as a Poisson process
whose intensity is rate_h x (the density in hemisphere h / its mass there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd
import xarray as xr

from pinn.data import arise
from pinn.emergence import baselines as bl
from pinn.emergence.data_only import UNOBSERVED
from pinn.physics.constants import HEMISPHERES
from pinn.scoring import scores as ev

PRIOR_SD = 1.0
HEMIS = HEMISPHERES


def past_counts(table: pd.DataFrame, target: int) -> pd.DataFrame:
    """Per-hemisphere counts of the rotations before ``target`` (unobserved ones flagged)."""
    past = table[table["cr"] < target]
    return bl.hemisphere_counts(past, int(table["cr"].min()), target - 1, UNOBSERVED)


def mean5_rates(table: pd.DataFrame, target: int) -> dict[str, float]:
    """Mean count of the last 5 observed rotations before ``target`` per hemisphere (floored at 0.2)."""
    return bl.count_rate(past_counts(table, target), target, 1.0, n_back=5)


def ew_rates(table: pd.DataFrame, target: int, decay: float = 0.8) -> dict[str, float]:
    """EW mean count (last 12 observed rotations) per hemisphere before ``target``."""
    return bl.count_rate(past_counts(table, target), target, decay)


def observed_counts(table: pd.DataFrame, target: int) -> dict[str, int]:
    """New ARs of ``target`` per hemisphere."""
    rows = arise.ars_of(table, target)
    return {"north": int((rows["lat"] >= 0).sum()), "south": int((rows["lat"] < 0).sum())}


def poisson_bits(n: dict, rate: dict) -> float:
    """log2 P(counts) summed over both hemispheres."""
    return float(sum(bl.poisson_log2pmf(n[h], rate[h]) for h in HEMIS))


def ridge_growth(ridge: xr.Dataset) -> dict[str, float]:
    """log of the predicted mean ridge strength at the latest over the earliest lead, per hemisphere.

    A physics feature for the counts: whether the integration strengthens (positive) or weakens the toroid
    over rotation N+1.
    """
    lead = ridge["lead_days"].values
    last, first = int(np.argmax(lead)), int(np.argmin(lead))
    ms = ridge["mean_strength"]
    return {h: float(np.log(max(ms.sel(hemisphere=h).values[last], 1e-30) / max(ms.sel(hemisphere=h).values[first], 1e-30)))
            for h in HEMIS}


def fit_count_tilt(base: Sequence[float], feature: Sequence[float], observed: Sequence[int],
                   prior_sd: float = PRIOR_SD) -> tuple[float, float, float]:
    """MAP gamma of log mu = log base + gamma z (z = feature / its sd), its Laplace sd, and the sd used.

    One entry per (rotation, hemisphere) scored before the target (the caller guarantees it).
    """
    from scipy.optimize import minimize_scalar

    base, x, n = (np.asarray(v, float) for v in (base, feature, observed))
    scale = float(np.std(x)) if x.size > 1 else 0.0
    if scale < 1e-12:
        return 0.0, prior_sd, 0.0
    z = (x - x.mean()) / scale

    def nll(g):
        mu = base * np.exp(g * z)
        return float(np.sum(mu - n * np.log(mu))) + 0.5 * g * g / prior_sd**2

    g = float(minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x)
    hess = float(np.sum(base * np.exp(g * z) * z * z)) + 1.0 / prior_sd**2
    return g, 1.0 / math.sqrt(hess), scale


def tilted_rates(base: dict, feature: dict, gamma: float, scale: float, centre: float) -> dict[str, float]:
    """base_h exp(gamma (feature_h - centre) / scale) (the base itself where scale is 0)."""
    if scale <= 0:
        return dict(base)
    return {h: float(base[h] * math.exp(gamma * (feature[h] - centre) / scale)) for h in HEMIS}


def expected_near(density: xr.DataArray, rates: dict, lat_deg: float, lon_deg: float,
                  radius_deg: float = 10.0) -> float:
    """Expected new ARs within ``radius_deg`` great-circle degrees of (lat, lon)."""
    lat, lon = np.radians(density["lat"].values)[:, None], np.radians(density["lon"].values)[None, :]
    la, lo = math.radians(lat_deg), math.radians(lon_deg)
    cosd = np.sin(lat) * math.sin(la) + np.cos(lat) * math.cos(la) * np.cos(lon - lo)
    return float(np.sum(ev.intensity(density, rates)[cosd >= math.cos(math.radians(radius_deg))]))


def prob_at_least_one_near(density: xr.DataArray, rates: dict, spots: Sequence[dict],
                           radius_deg: float = 10.0) -> list[float]:
    """P(>= 1 new AR within ``radius_deg`` of each hotspot ({"lat_deg", "lon_deg"})) = 1 - exp(-mu)."""
    return [1.0 - math.exp(-expected_near(density, rates, s["lat_deg"], s["lon_deg"], radius_deg)) for s in spots]


def count_record(ridges: Sequence[tuple[int, xr.Dataset]], table: pd.DataFrame,
                 min_fit_rotations: int = 5) -> pd.DataFrame:
    """Per scored rotation (``ridges``: (target N+1, predicted ridge of its case), ascending): observed counts per
    hemisphere, the mean-of-5 and EW rates, the ridge-growth feature, and Poisson bits of each count forecast.

    ``bits_ew_growth`` tilts the EW rate by the ridge growth (:func:`fit_count_tilt`), fitted on the rotations
    scored before each one only (the EW rate itself until ``min_fit_rotations`` are scored).
    """
    rows = []
    for target, ridge in ridges:
        obs, m5, ew, g = observed_counts(table, target), mean5_rates(table, target), ew_rates(table, target), \
            ridge_growth(ridge)
        rows.append({"cr": target, **{f"n_{h}": obs[h] for h in HEMIS}, **{f"mean5_{h}": m5[h] for h in HEMIS},
                     **{f"ew_{h}": ew[h] for h in HEMIS}, **{f"growth_{h}": g[h] for h in HEMIS},
                     "bits_mean5": poisson_bits(obs, m5), "bits_ew": poisson_bits(obs, ew)})
    df = pd.DataFrame(rows)
    tilt, gammas = [], []
    for i, r in df.iterrows():
        past = df.iloc[:i]
        ew_now = {h: r[f"ew_{h}"] for h in HEMIS}
        if len(past) >= min_fit_rotations:
            base = np.concatenate([past[f"ew_{h}"] for h in HEMIS])
            feat = np.concatenate([past[f"growth_{h}"] for h in HEMIS])
            n = np.concatenate([past[f"n_{h}"] for h in HEMIS])
            gamma, sd, scale = fit_count_tilt(base, feat, n)
            rates = tilted_rates(ew_now, {h: r[f"growth_{h}"] for h in HEMIS}, gamma, scale, float(feat.mean()))
        else:
            gamma, sd, rates = 0.0, PRIOR_SD, ew_now
        tilt.append(poisson_bits({h: r[f"n_{h}"] for h in HEMIS}, rates))
        gammas.append((gamma, sd))
    df["bits_ew_growth"] = tilt
    df["gamma"], df["gamma_sd"] = [g for g, _ in gammas], [s for _, s in gammas]
    return df


def count_summary(record: pd.DataFrame) -> dict:
    """Mean Poisson bits per rotation of each count forecast, paired intervals against the mean of the last 5."""
    return {"bits_per_rotation": {k: float(record[f"bits_{k}"].mean()) for k in ("mean5", "ew", "ew_growth")},
            "minus_mean5": {k: asdict(ev.paired_bootstrap(record[f"bits_{k}"] - record["bits_mean5"], record["cr"]))
                            for k in ("ew", "ew_growth")},
            "gamma_last": {"gamma": float(record["gamma"].iloc[-1]), "sd": float(record["gamma_sd"].iloc[-1])}}
