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

import numpy as np
import pandas as pd
import xarray as xr

from pinn.data import arise
from pinn.emergence import baselines as bl
from pinn.emergence.data_only import UNOBSERVED
from pinn.scoring import scores as ev

PRIOR_SD = 1.0
HEMIS = ("north", "south")


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
