"""The carrier of AR nests: the rate Omega(lat) at which a longitude pattern of ARs moves in the Carrington frame.

A carrier is a rate profile Omega(lat) = A + B sin^2(lat) + C sin^4(lat) in deg/day *relative to the
Carrington frame* (positive: prograde), given by its coefficients ``(A, B, C)``. This module

* converts published sidereal profiles (urad/s, deg/day, nHz) and the model's own frame + zonal flow to
  that form;
* builds the nests density of :func:`pinn.emergence.baselines.nests_density` with the recent ARs carried by an
  arbitrary profile (the baselines carry them by Snodgrass 1983 only);
* fits ``(A, B, C)`` by maximum likelihood of later ARs under that density, evaluated at the ARs
  themselves with the kernels normalised analytically (:class:`PairData`), fast enough to refit
  causally and to bootstrap.

Densities follow :mod:`pinn.scoring.scores`: per steradian, integrating to 1 over the sphere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import minimize

from pinn.data import arise, grid
from pinn.emergence import baselines as bl
from pinn.emergence import density as dn
from pinn.scoring import scores as ev

Coeffs = tuple[float, float, float]  # (A, B, C) deg/day relative to the Carrington frame
CARRINGTON_DEG_DAY = bl.CARRINGTON_URAD_S * bl.URAD_S_TO_DEG_DAY  # sidereal rate of the Carrington frame, deg/day
NO_CARRYING: Coeffs = (0.0, 0.0, 0.0)


# ---------------------------------------------------------------------------------------------
# Profiles


def rate_deg_per_day(lat_deg, coeffs: Coeffs) -> np.ndarray:
    """Omega(lat) = A + B sin^2 + C sin^4 (deg/day, relative to the Carrington frame)."""
    s2 = np.sin(np.radians(np.asarray(lat_deg, float))) ** 2
    a, b, c = coeffs
    return a + b * s2 + c * s2 * s2


def from_sidereal_deg_day(coeffs_sidereal: Coeffs) -> Coeffs:
    """(A, B, C) relative to Carrington of a sidereal profile given in deg/day."""
    a, b, c = (float(x) for x in coeffs_sidereal)
    return (a - CARRINGTON_DEG_DAY, b, c)


def from_sidereal_urad_s(coeffs_urad_s: Coeffs) -> Coeffs:
    """(A, B, C) relative to Carrington of a sidereal profile given in urad/s (e.g. Snodgrass 1983)."""
    return from_sidereal_deg_day(tuple(float(x) * bl.URAD_S_TO_DEG_DAY for x in coeffs_urad_s))


def from_sidereal_nHz(rate_nHz: float) -> Coeffs:
    """(A, 0, 0) of a rigid sidereal rotation given in nHz (e.g. the radiative core)."""
    return from_sidereal_deg_day((float(rate_nHz) * 1e-9 * 360.0 * 86400.0, 0.0, 0.0))


def model_carrier(frame_drift_deg_day: float, frame_rate_nHz: float, s: Coeffs) -> Coeffs:
    """(A, B, C) of a pattern advected by the model's zonal flow u0 = cos(lat)(s0 + s2 sin^2 + s4 sin^4).

    ``frame_drift_deg_day``: drift of the model frame against Carrington
    (:meth:`pinn.physics.units.ModelUnits.frame_drift_deg_per_day`); ``frame_rate_nHz``: the frame rate
    Omega (the velocity unit is r0 Omega, so u0 / cos is an angular velocity in units of Omega);
    ``s``: (s0, s2, s4) in model units.
    """
    omega = float(frame_rate_nHz) * 1e-9 * 360.0 * 86400.0  # deg/day
    s0, s2, s4 = (float(x) for x in s)
    return (frame_drift_deg_day + s0 * omega, s2 * omega, s4 * omega)


# ---------------------------------------------------------------------------------------------
# Nests carried by a profile


def carry_lon(lon_deg, lat_deg, days, coeffs: Coeffs) -> np.ndarray:
    """Carrington longitude (deg, [0, 360)) of a feature at ``lat_deg`` after ``days`` at rate Omega(lat)."""
    return np.mod(np.asarray(lon_deg, float) + rate_deg_per_day(lat_deg, coeffs) * np.asarray(days, float), 360.0)


def carried_kernels(history: pd.DataFrame, target: int, lat_deg, lon_deg, width_deg: float,
                    coeffs: Coeffs) -> np.ndarray:
    """:func:`pinn.emergence.baselines.carried_kernels` with the AR centres carried by the profile ``coeffs``.

    Returns (n_ar, nlat, nlon), each slice a von Mises-Fisher kernel (kappa = 1 / width^2, width in rad)
    per sr normalised on the grid, its centre carried from the AR's observation time to the time each
    grid longitude is seen in ``target``.
    """
    lat = np.radians(np.asarray(lat_deg, float))
    lon_grid = np.asarray(lon_deg, float)
    areas = grid.cell_areas(lat_deg, lon_deg)
    t_grid = bl.observed_jd(np.full(lon_grid.shape, target), lon_grid)
    kappa = 1.0 / math.radians(width_deg) ** 2
    t_ar = bl.observed_jd(history["cr"].values, history["lon"].values)
    out = np.empty((len(history), len(lat), len(lon_grid)))
    for k, (la, lo, t0) in enumerate(zip(history["lat"].values, history["lon"].values, t_ar)):
        centre = np.radians(carry_lon(lo, la, t_grid - t0, coeffs))
        la_r = math.radians(la)
        cosd = np.sin(lat)[:, None] * math.sin(la_r) + np.cos(lat)[:, None] * math.cos(la_r) * np.cos(
            np.radians(lon_grid) - centre)[None, :]
        kern = np.exp(kappa * (cosd - 1.0))
        out[k] = kern / np.sum(kern * areas)
    return out


def nests_density(table: pd.DataFrame, target: int, lat_deg, lon_deg, params: bl.NestParams,
                  coeffs: Coeffs) -> xr.DataArray:
    """:func:`pinn.emergence.baselines.nests_density` (band, recency weights, floor) with the kernels carried by ``coeffs``."""
    band = bl.unfloored_band(table, target, lat_deg, lon_deg)
    past = table[(table["cr"] < target) & (table["cr"] >= target - params.n_rotations)]
    w = bl.recency_weights(past["cr"].values, target, params.n_rotations, params.decay)
    mixed = band
    if params.mix > 0 and w.sum() > 0:
        kern = np.tensordot(w / w.sum(), carried_kernels(past, target, lat_deg, lon_deg, params.width_deg, coeffs), 1)
        mixed = (1.0 - params.mix) * band + params.mix * kern
    return dn.density_dataarray(dn.with_floor(mixed, params.floor), lat_deg, lon_deg)


# ---------------------------------------------------------------------------------------------
# Likelihood of a profile at the ARs


def vmf_norm(width_deg: float) -> float:
    """Normaliser (per sr) of exp(kappa (cos d - 1)) on the unit sphere, kappa = 1 / width^2 (width in rad)."""
    kappa = 1.0 / math.radians(width_deg) ** 2
    return kappa / (2.0 * math.pi * -math.expm1(-2.0 * kappa))


@dataclass(frozen=True)
class PairData:
    """Every (scored AR, recent AR) pair of a set of target rotations, for the likelihood of a carrier.

    Per scored AR i (arrays of length n_ar): ``cr``, its rotation; ``band``, the unfloored band at it
    (per sr); ``period``, the target rotation's length (days); ``has_kernel``, whether any recent AR
    exists. Per pair (length n_pair): ``ar`` (index of the scored AR), ``lat_i, lon_i`` (deg) and ``t_i``
    (JD) of the scored AR, ``lat_k, lon_k, t_k`` of the recent AR, ``w`` its normalised recency weight.
    """

    cr: np.ndarray
    band: np.ndarray
    period: np.ndarray
    has_kernel: np.ndarray
    ar: np.ndarray
    lat_i: np.ndarray
    lon_i: np.ndarray
    t_i: np.ndarray
    lat_k: np.ndarray
    lon_k: np.ndarray
    t_k: np.ndarray
    w: np.ndarray

    def select(self, crs) -> PairData:
        """The scored ARs of rotations ``crs`` and their pairs (repeats allowed: a bootstrap resample).

        Needs ``cr`` and ``ar`` sorted (as :func:`pair_data` builds them).
        """
        ar_parts, pair_parts, ar_new = [], [], []
        n = 0
        for c in np.asarray(list(crs), int):
            a0, a1 = np.searchsorted(self.cr, c, "left"), np.searchsorted(self.cr, c, "right")
            p0, p1 = np.searchsorted(self.ar, a0, "left"), np.searchsorted(self.ar, a1, "left")
            ar_parts.append(np.arange(a0, a1))
            pair_parts.append(np.arange(p0, p1))
            ar_new.append(self.ar[p0:p1] - a0 + n)
            n += a1 - a0
        ar_idx = np.concatenate(ar_parts) if ar_parts else np.array([], int)
        pairs = np.concatenate(pair_parts) if pair_parts else np.array([], int)
        per_pair = {k: getattr(self, k)[pairs] for k in ("lat_i", "lon_i", "t_i", "lat_k", "lon_k", "t_k", "w")}
        return PairData(self.cr[ar_idx], self.band[ar_idx], self.period[ar_idx], self.has_kernel[ar_idx],
                        (np.concatenate(ar_new) if ar_new else np.array([], int)).astype(int), **per_pair)


def pair_data(table: pd.DataFrame, targets, lat_deg, lon_deg, params: bl.NestParams) -> PairData:
    """:class:`PairData` of the new ARs of ``targets`` and the ARs of the ``params.n_rotations`` before each.

    The band is sampled from the evaluation grid (``lat_deg, lon_deg``) as in scoring; the kernels are
    left to :func:`log2_density_at_ars`. Only rows with cr < target enter a target's history.
    """
    index_da = dn.density_dataarray(np.arange(len(lat_deg) * len(lon_deg), dtype=float).reshape(
        len(lat_deg), len(lon_deg)), lat_deg, lon_deg)
    cr, band, period, has_k = [], [], [], []
    pairs: dict[str, list] = {k: [] for k in ("ar", "lat_i", "lon_i", "t_i", "lat_k", "lon_k", "t_k", "w")}
    n_ar = 0
    for target in sorted(int(t) for t in targets):
        truth = arise.ars_of(table, target)
        if len(truth) == 0:
            continue
        flat = ev.sample(index_da, truth["lat"], truth["lon"]).astype(int)
        band_grid = bl.unfloored_band(table, target, lat_deg, lon_deg)
        past = table[(table["cr"] < target) & (table["cr"] >= target - params.n_rotations)]
        w = bl.recency_weights(past["cr"].values, target, params.n_rotations, params.decay)
        keep = w > 0
        past, w = past[keep], w[keep]
        start, end = bl.rotation_start_jd([target, target + 1])
        t_i = bl.observed_jd(np.full(len(truth), target), truth["lon"].values)
        t_k = bl.observed_jd(past["cr"].values, past["lon"].values)
        cr += [target] * len(truth)
        band.append(band_grid.ravel()[flat])
        period += [end - start] * len(truth)
        has_k += [len(past) > 0] * len(truth)
        for j, (la, lo, ti) in enumerate(zip(truth["lat"].values, truth["lon"].values, t_i)):
            m = len(past)
            pairs["ar"].append(np.full(m, n_ar + j))
            pairs["lat_i"].append(np.full(m, la))
            pairs["lon_i"].append(np.full(m, lo))
            pairs["t_i"].append(np.full(m, ti))
            pairs["lat_k"].append(past["lat"].values.astype(float))
            pairs["lon_k"].append(past["lon"].values.astype(float))
            pairs["t_k"].append(t_k)
            pairs["w"].append(w / w.sum() if m else w)
        n_ar += len(truth)
    cat = {k: (np.concatenate(v) if v else np.array([])) for k, v in pairs.items()}
    cat["ar"] = cat["ar"].astype(int)
    return PairData(np.asarray(cr, int), np.concatenate(band) if band else np.array([]), np.asarray(period, float),
                    np.asarray(has_k, bool), **cat)


def log2_density_at_ars(data: PairData, coeffs: Coeffs, params: bl.NestParams) -> np.ndarray:
    """log2 of the nests density (per sr) at each scored AR, the kernels carried by ``coeffs``.

    Continuous form of :func:`nests_density` at the ARs' exact positions: each kernel is the analytic
    von Mises-Fisher density times the Jacobian 1 + Omega P / 360 of its carried centre (the centre moves
    by -Omega P / 360 deg per deg of longitude seen later in the rotation of length P days), so it
    integrates to 1 like the grid kernels away from the 0/360 seam of the target rotation.
    """
    rate = rate_deg_per_day(data.lat_k, coeffs)
    centre = np.radians(data.lon_k + rate * (data.t_i - data.t_k))
    la_i, la_k = np.radians(data.lat_i), np.radians(data.lat_k)
    cosd = np.sin(la_i) * np.sin(la_k) + np.cos(la_i) * np.cos(la_k) * np.cos(np.radians(data.lon_i) - centre)
    kappa = 1.0 / math.radians(params.width_deg) ** 2
    jac = 1.0 + rate * data.period[data.ar] / 360.0
    kern = np.bincount(data.ar, weights=data.w * vmf_norm(params.width_deg) * jac * np.exp(kappa * (cosd - 1.0)),
                       minlength=len(data.cr))
    mixed = np.where(data.has_kernel, (1.0 - params.mix) * data.band + params.mix * kern, data.band)
    return np.log2(dn.with_floor(mixed, params.floor))


def fit_profile(data: PairData, params: bl.NestParams, starts: tuple[Coeffs, ...] = (NO_CARRYING,)) -> Coeffs:
    """(A, B, C) deg/day maximising the total log-likelihood of the scored ARs in ``data``.

    Nelder-Mead from each of ``starts`` (the likelihood can have several maxima: a kernel carried a
    whole nest spacing also fits); the best optimum is returned.
    """
    if len(data.cr) == 0:
        return tuple(float(x) for x in starts[0])

    def loss(x):
        return -float(np.sum(log2_density_at_ars(data, tuple(x), params)))

    step = np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.0], [0.0, 1.5, 0.0], [0.0, 0.0, 1.5]])
    best = None
    for s0 in starts:
        res = minimize(loss, np.asarray(s0, float), method="Nelder-Mead",
                       options={"xatol": 1e-3, "fatol": 1e-3, "maxiter": 3000,
                                "initial_simplex": np.asarray(s0, float) + step})
        if best is None or res.fun < best.fun:
            best = res
    return tuple(float(x) for x in best.x)
