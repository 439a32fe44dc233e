"""Expected numbers of new ARs per hemisphere in N+1, and the chance of at least one near a hotspot.

The count forecasts are those of :mod:`pinn.emergence.baselines` (EW mean, mean of the last 5 rotations), from the
ARISE rows of rotations before the target only. Tilts, log mu = log(EW rate) + sum_k gamma_k z_k with z_k
standardised per-hemisphere features known at N (the predicted ridge growth of the toroids; the latest map's
strong-field flux per expected AR), are fitted causally by MAP (independent Gaussian priors of sd ``PRIOR_SD``
on the gammas, fixed a priori) with Laplace intervals. New ARs are taken as a Poisson process
whose intensity is rate_h x (the density in hemisphere h / its mass there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import minimize_scalar

from pinn.data import arise
from pinn.emergence import baselines as bl
from pinn.emergence.data_only import UNOBSERVED
from pinn.physics.constants import HEMISPHERES
from pinn.scoring import scores as ev

PRIOR_SD = 1.0
HEMIS = HEMISPHERES
FLUX_FLOOR_MX = 1e20  # a hemisphere without strong field counts as this much flux (an ephemeral region's order)
NEWTON_ITERATIONS, NEWTON_TOL = 100, 1e-12  # the several-feature MAP fit (gamma steps, standardised units)
# the tilted count forecasts: name -> the features that tilt the EW rate (columns <feature>_<hemisphere>)
TILTS: dict[str, tuple[str, ...]] = {"ew_growth": ("growth",), "ew_flux": ("flux_per_ar",),
                                     "ew_flux_growth": ("flux_per_ar", "growth")}


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


def flux_feature(flux: Mapping[str, float], ew: Mapping[str, float]) -> dict[str, float]:
    """log(map flux of N per expected new AR), per hemisphere: log(max(flux_h, ``FLUX_FLOOR_MX``) / ew_h), ``flux`` in
    Mx (:func:`pinn.emergence.map_channel.hemisphere_flux`), ``ew`` the EW mean count known at N.

    Chosen a priori over the level log flux: the EW mean already carries the level of past counts (and the flux
    of a hemisphere tracks it over the cycle), so the level would mostly refit the EW's own scale; what the map
    adds is whether the strong flux present now is above or below what that count level implies (fresh and
    growing regions not yet in the rolling mean, or a hemisphere quieter than its memory). With gamma = 0 the
    forecast is the EW mean itself.
    """
    return {h: float(math.log(max(flux[h], FLUX_FLOOR_MX) / ew[h])) for h in HEMIS}


@dataclass(frozen=True)
class CountTilt:
    """A fitted tilt log mu = log base + sum_k gamma_k (x_k - centre_k) / scale_k, one entry per feature."""

    gamma: tuple[float, ...]  # MAP gamma per standardised feature (0 where the feature was constant)
    sd: tuple[float, ...]  # marginal Laplace sd of each gamma (the prior sd where not fitted)
    scale: tuple[float, ...]  # sd of each feature over the fit entries (0: constant, not fitted)
    centre: tuple[float, ...]  # mean of each feature over the fit entries

    def rates(self, base: Mapping[str, float], features: Sequence[Mapping[str, float]]) -> dict[str, float]:
        """base_h exp(sum_k gamma_k (feature_k,h - centre_k) / scale_k) (features with scale 0 left out)."""
        return {h: float(base[h] * math.exp(sum(g * (f[h] - c) / s for g, f, c, s in
                                                zip(self.gamma, features, self.centre, self.scale) if s > 0)))
                for h in HEMIS}


def _scalar_map(base: np.ndarray, z: np.ndarray, n: np.ndarray, prior_sd: float) -> tuple[float, float]:
    """MAP gamma of one standardised feature ``z`` (bounded scalar search in [-5, 5]) and its Laplace sd."""
    def nll(g):
        mu = base * np.exp(g * z)
        return float(np.sum(mu - n * np.log(mu))) + 0.5 * g * g / prior_sd**2

    g = float(minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x)
    hess = float(np.sum(base * np.exp(g * z) * z * z)) + 1.0 / prior_sd**2
    return g, 1.0 / math.sqrt(hess)


def _newton_map(base: np.ndarray, z: np.ndarray, n: np.ndarray, prior_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """MAP gammas of the standardised features ``z`` (k, m) by damped Newton steps (the negative log posterior is
    strictly convex), and their marginal Laplace sds (sqrt of the diagonal of the inverse Hessian)."""
    prior = np.eye(z.shape[0]) / prior_sd**2

    def objective(g: np.ndarray) -> float:
        eta = g @ z
        with np.errstate(over="ignore"):
            return float(np.sum(base * np.exp(eta) - n * eta)) + 0.5 * float(g @ g) / prior_sd**2

    def hessian(g: np.ndarray) -> np.ndarray:
        return (z * (base * np.exp(g @ z))) @ z.T + prior

    g = np.zeros(z.shape[0])
    for _ in range(NEWTON_ITERATIONS):
        grad = z @ (base * np.exp(g @ z) - n) + g / prior_sd**2
        step, t, now = np.linalg.solve(hessian(g), grad), 1.0, objective(g)
        while not objective(g - t * step) <= now and t > 1e-12:  # backtrack (also past an overflow)
            t /= 2
        g = g - t * step
        if float(np.max(np.abs(t * step))) < NEWTON_TOL:
            break
    return g, np.sqrt(np.diag(np.linalg.inv(hessian(g))))


def fit_count_tilts(base: Sequence[float], features: Sequence[Sequence[float]], observed: Sequence[int],
                    prior_sd: float = PRIOR_SD) -> CountTilt:
    """MAP gammas of log mu = log base + sum_k gamma_k z_k (z_k = (feature_k - its mean) / its sd), each with an
    independent N(0, ``prior_sd``^2) prior, for Poisson counts ``observed``.

    One entry per (rotation, hemisphere) scored before the target (the caller guarantees it). A constant feature
    is left out (gamma 0). One feature left: the bounded scalar search of :func:`fit_count_tilt` (its results
    unchanged); several: Newton's method (:func:`_newton_map`).
    """
    base, n = np.asarray(base, float), np.asarray(observed, float)
    x = np.asarray(features, float).reshape(len(features), -1)
    scale = np.array([float(np.std(row)) if row.size > 1 else 0.0 for row in x])
    active = scale >= 1e-12
    scale = np.where(active, scale, 0.0)
    centre = x.mean(axis=1) if x.shape[1] else np.zeros(len(x))
    gamma, sd = np.zeros(len(x)), np.full(len(x), prior_sd)
    z = (x[active] - centre[active, None]) / scale[active, None]
    if len(z) == 1:
        gamma[active], sd[active] = _scalar_map(base, z[0], n, prior_sd)
    elif len(z) > 1:
        gamma[active], sd[active] = _newton_map(base, z, n, prior_sd)
    return CountTilt(*(tuple(float(v) for v in a) for a in (gamma, sd, scale, centre)))


def fit_count_tilt(base: Sequence[float], feature: Sequence[float], observed: Sequence[int],
                   prior_sd: float = PRIOR_SD) -> tuple[float, float, float]:
    """MAP gamma of log mu = log base + gamma z (z = feature / its sd), its Laplace sd, and the sd used
    (:func:`fit_count_tilts` of one feature)."""
    tilt = fit_count_tilts(base, [feature], observed, prior_sd)
    return tilt.gamma[0], tilt.sd[0], tilt.scale[0]


def tilted_rates(base: dict, feature: dict, gamma: float, scale: float, centre: float) -> dict[str, float]:
    """base_h exp(gamma (feature_h - centre) / scale) (the base itself where scale is 0)."""
    return CountTilt((gamma,), (0.0,), (scale,), (centre,)).rates(base, [feature])


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


def count_record(ridges: Sequence[tuple[int, xr.Dataset]], table: pd.DataFrame, min_fit_rotations: int = 5,
                 fluxes: Sequence[Mapping[str, float]] | None = None) -> pd.DataFrame:
    """Per scored rotation (``ridges``: (target N+1, predicted ridge of its case), ascending): observed counts per
    hemisphere, the mean-of-5 and EW rates, the ridge-growth feature, and Poisson bits of each count forecast.

    ``fluxes``: per rotation the strong-field flux of its latest map per hemisphere (Mx,
    :func:`pinn.emergence.map_channel.hemisphere_flux`), recorded as ``flux_<h>`` with the feature
    ``flux_per_ar_<h>`` (:func:`flux_feature`); None: no map, no flux tilts. Each tilt of :data:`TILTS`
    (``bits_ew_growth``, ``bits_ew_flux``, ``bits_ew_flux_growth``) tilts the EW rate by its features
    (:func:`fit_count_tilts`), fitted on the rotations scored before each one only (the EW rate itself until
    ``min_fit_rotations`` are scored). Its gammas: ``gamma``, ``gamma_sd`` for ew_growth;
    ``gamma_<tilt>_<feature>``, ``gamma_sd_<tilt>_<feature>`` for the others.
    """
    if fluxes is not None and len(fluxes) != len(ridges):
        raise ValueError(f"count_record: {len(fluxes)} map fluxes for {len(ridges)} rotations")
    rows = []
    for k, (target, ridge) in enumerate(ridges):
        obs, m5, ew, g = observed_counts(table, target), mean5_rates(table, target), ew_rates(table, target), \
            ridge_growth(ridge)
        row = {"cr": target, **{f"n_{h}": obs[h] for h in HEMIS}, **{f"mean5_{h}": m5[h] for h in HEMIS},
               **{f"ew_{h}": ew[h] for h in HEMIS}, **{f"growth_{h}": g[h] for h in HEMIS}}
        if fluxes is not None:
            feature = flux_feature(fluxes[k], ew)
            row |= {**{f"flux_{h}": float(fluxes[k][h]) for h in HEMIS}, **{f"flux_per_ar_{h}": feature[h] for h in HEMIS}}
        rows.append(row | {"bits_mean5": poisson_bits(obs, m5), "bits_ew": poisson_bits(obs, ew)})
    df = pd.DataFrame(rows)
    for name, features in TILTS.items():
        if fluxes is not None or "flux_per_ar" not in features:
            df = df.join(_tilt_columns(df, name, features, min_fit_rotations))
    return df


def _tilt_columns(df: pd.DataFrame, name: str, features: tuple[str, ...], min_fit_rotations: int) -> pd.DataFrame:
    """Bits of the EW rate tilted by ``features``, and its gammas, per rotation of ``df``: each fitted on the
    rows before it only (untilted until ``min_fit_rotations`` rows are before it)."""
    rows = []
    for i, r in df.iterrows():
        past = df.iloc[:i]
        ew_now = {h: r[f"ew_{h}"] for h in HEMIS}
        if len(past) >= min_fit_rotations:
            base = np.concatenate([past[f"ew_{h}"] for h in HEMIS])
            feats = [np.concatenate([past[f"{f}_{h}"] for h in HEMIS]) for f in features]
            n = np.concatenate([past[f"n_{h}"] for h in HEMIS])
            tilt = fit_count_tilts(base, feats, n)
            rates = tilt.rates(ew_now, [{h: r[f"{f}_{h}"] for h in HEMIS} for f in features])
            gamma, sd = tilt.gamma, tilt.sd
        else:
            gamma, sd, rates = (0.0,) * len(features), (PRIOR_SD,) * len(features), ew_now
        row = {f"bits_{name}": poisson_bits({h: r[f"n_{h}"] for h in HEMIS}, rates)}
        for f, g, s in zip(features, gamma, sd):
            row |= ({"gamma": g, "gamma_sd": s} if name == "ew_growth" else
                    {f"gamma_{name}_{f}": g, f"gamma_sd_{name}_{f}": s})
        rows.append(row)
    return pd.DataFrame(rows, index=df.index)


def count_summary(record: pd.DataFrame) -> dict:
    """Mean Poisson bits per rotation of each count forecast in ``record``, paired intervals against the mean of the
    last 5, and the last rotation's gammas (``gamma_last``: ew_growth's; ``gamma_last_tilts``: the others')."""
    tilts = [k for k in TILTS if f"bits_{k}" in record]
    return {"bits_per_rotation": {k: float(record[f"bits_{k}"].mean()) for k in ("mean5", "ew", *tilts)},
            "minus_mean5": {k: asdict(ev.paired_bootstrap(record[f"bits_{k}"] - record["bits_mean5"], record["cr"]))
                            for k in ("ew", *tilts)},
            "gamma_last": {"gamma": float(record["gamma"].iloc[-1]), "sd": float(record["gamma_sd"].iloc[-1])},
            "gamma_last_tilts": {k: {f: {"gamma": float(record[f"gamma_{k}_{f}"].iloc[-1]),
                                         "sd": float(record[f"gamma_sd_{k}_{f}"].iloc[-1])} for f in TILTS[k]}
                                 for k in tilts if k != "ew_growth"}}
