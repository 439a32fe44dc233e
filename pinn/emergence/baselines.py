"""Data-only forecasts of AR emergence from the ARISE record alone, fitted causally (docs/science.md section 5).

A physics forecast must beat the strongest forecast that uses only the past AR catalogue. Every
function here forecasts rotation ``target`` (the rotation scored, N+1) from rows with ``cr < target``
only, so the forecast is the same whether or not the table holds later rows.

* nests: a kernel density (von Mises-Fisher in great-circle distance) of the ARs of the last K
  rotations, each carried in longitude by the surface differential rotation from its observation time
  to the time its longitude is seen in the target rotation, weighted by recency, mixed with the
  latitude band, plus a uniform floor;
* hemisphere split: the mass of a density per hemisphere set from recent per-hemisphere AR counts;
* climatology: the latitude distribution of ARs that followed earlier rotations whose recent mean
  |lat| (the phase of the cycle, Sporer's law) matched the current one;
* counts: expected new ARs per hemisphere from an exponentially weighted mean of recent counts,
  scored by the Poisson or negative-binomial log-likelihood.

Hyperparameters are chosen per target by maximum likelihood over rotations scored before it
(:func:`causal_choice`). Densities follow :mod:`pinn.scoring.scores`: per steradian, integrating to 1 over
the sphere on the evaluation grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import gammaln

from pinn.data import arise, grid
from pinn.emergence import density as dn
from pinn.physics.constants import CARRINGTON_SIDEREAL_URAD_S, HEMISPHERES

# Surface rotation of magnetic features, sidereal (Snodgrass 1983): omega = A + B sin^2 + C sin^4, urad/s.
SNODGRASS_URAD_S = (2.902, -0.464, -0.328)
CARRINGTON_URAD_S = CARRINGTON_SIDEREAL_URAD_S
URAD_S_TO_DEG_DAY = 1e-6 * 86400.0 * 180.0 / math.pi
BAND_ROTATIONS = 5  # history of the docs/science.md latitude-band baseline
BAND_FLOOR = 0.05  # floor of pinn.emergence.density.band_density


# ---------------------------------------------------------------------------------------------
# Time and differential rotation


_START_JD: dict[int, float] = {}  # rotation start times computed so far (sunpy is slow per call)


def rotation_start_jd(crs) -> np.ndarray:
    """Julian date at which Carrington rotation ``cr`` starts (longitude 360 at central meridian; sunpy).

    Rotations not seen before are computed in one vectorised sunpy call (elementwise the same values as
    one call per rotation) and remembered for the process.
    """
    from sunpy.coordinates.sun import carrington_rotation_time

    crs = np.atleast_1d(np.asarray(crs, int))
    new = [int(c) for c in np.unique(crs) if int(c) not in _START_JD]
    if new:
        _START_JD.update(zip(new, np.atleast_1d(carrington_rotation_time(np.array(new)).jd).astype(float).tolist()))
    return np.array([_START_JD[int(c)] for c in crs.ravel()], float).reshape(crs.shape)


def observed_jd(cr, lon_deg) -> np.ndarray:
    """Time (JD) Carrington longitude ``lon_deg`` of rotation ``cr`` is at central meridian.

    Longitude phi is seen at T_start + (360 - phi)/360 of the rotation (linear within one rotation).
    """
    cr = np.asarray(cr, int)
    start, end = rotation_start_jd(cr.ravel()).reshape(cr.shape), rotation_start_jd(cr.ravel() + 1).reshape(cr.shape)
    return start + (360.0 - np.mod(np.asarray(lon_deg, float), 360.0)) / 360.0 * (end - start)


def drift_deg_per_day(lat_deg, coeffs: tuple[float, float, float] = SNODGRASS_URAD_S) -> np.ndarray:
    """Rate (deg/day) at which a feature at ``lat_deg`` moves in Carrington longitude (positive: prograde)."""
    s2 = np.sin(np.radians(np.asarray(lat_deg, float))) ** 2
    a, b, c = coeffs
    return (a + b * s2 + c * s2**2 - CARRINGTON_URAD_S) * URAD_S_TO_DEG_DAY


def carry_lon(lon_deg, lat_deg, days) -> np.ndarray:
    """Carrington longitude (deg, [0, 360)) of a feature after ``days`` of differential rotation."""
    return np.mod(np.asarray(lon_deg, float) + drift_deg_per_day(lat_deg) * np.asarray(days, float), 360.0)


# ---------------------------------------------------------------------------------------------
# Nests: carried kernel density of recent ARs


def carried_cos_distance(history: pd.DataFrame, target: int, lat_deg, lon_deg) -> np.ndarray:
    """cos of the great-circle distance from each grid cell to each past AR carried into ``target``.

    Returns (n_ar, nlat, nlon). The AR centre moves rigidly at the rate of its own latitude from its
    observation time to the time each grid longitude is seen in ``target`` (see :func:`carried_kernels`).
    """
    lat = np.radians(np.asarray(lat_deg, float))
    lon_grid = np.asarray(lon_deg, float)
    t_grid = observed_jd(np.full(lon_grid.shape, target), lon_grid)
    la, lo = history["lat"].values.astype(float), history["lon"].values.astype(float)
    t_ar = observed_jd(history["cr"].values, lo)
    centre = np.radians(carry_lon(lo[:, None], la[:, None], t_grid[None, :] - t_ar[:, None]))  # (n_ar, nlon)
    cos_dlon = np.cos(np.radians(lon_grid)[None, :] - centre)
    la_r = np.radians(la)[:, None, None]
    return np.sin(lat)[None, :, None] * np.sin(la_r) + (np.cos(lat)[None, :, None] * np.cos(la_r)) * cos_dlon[:, None, :]


def _vmf(kappa: float, cos_minus_1: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """exp(kappa (cos d - 1)), the unnormalised kernel, with the exponent clipped at -700.

    Below -700 (a kernel under 1e-304 of its peak) exp underflows into subnormals, which are about ten
    times slower; the clip changes any kernel sum on a sphere grid by less than 1e-290 of it.
    """
    out = np.multiply(kappa, cos_minus_1, out=out)
    return np.exp(np.maximum(out, -700.0, out=out), out=out)


def carried_kernels(history: pd.DataFrame, target: int, lat_deg, lon_deg, width_deg: float) -> np.ndarray:
    """One von Mises-Fisher kernel per past AR, carried to when each grid longitude is seen in ``target``.

    Returns (n_ar, nlat, nlon), each slice a density per sr integrating to 1 on the grid. The kernel is
    exp(kappa (cos d - 1)) in great-circle distance d with kappa = 1 / width^2 (width in rad: about the
    Gaussian sigma for small widths). The AR centre moves rigidly at the rate of its own latitude.
    """
    areas = grid.cell_areas(lat_deg, lon_deg)
    out = np.empty((len(history), len(lat_deg), len(lon_deg)))
    for start in range(0, len(history), 16):  # 16 ARs at a time bounds the temporaries
        part = slice(start, min(start + 16, len(history)))
        kern = _vmf(1.0 / math.radians(width_deg) ** 2, carried_cos_distance(history.iloc[part], target, lat_deg, lon_deg)
                    - 1.0)
        out[part] = kern / np.sum(kern * areas, axis=(1, 2))[:, None, None]
    return out


def carried_kernels_at(history: pd.DataFrame, target: int, lat_deg, lon_deg, widths_deg, flat: np.ndarray,
                       chunk: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """:func:`carried_kernels` of several widths at the grid cells ``flat`` (flat indices) only, and their north masses.

    Returns (values (n_width, n_flat, n_ar) per sr, north (n_width, n_ar) mass in rows with lat > 0). The
    normalisation still sums every grid cell (exact, as :func:`carried_kernels`), but no kernel grid is kept
    and the distances are shared by the widths; ARs are processed ``chunk`` at a time to bound memory.
    """
    row_area = grid.cell_areas(lat_deg, lon_deg)[:, 0]  # cells of a row share its solid angle equally
    north_rows = np.asarray(lat_deg, float) > 0
    kappas = [1.0 / math.radians(w) ** 2 for w in widths_deg]
    values = np.empty((len(kappas), len(flat), len(history)))
    north = np.empty((len(kappas), len(history)))
    for start in range(0, len(history), chunk):
        part = slice(start, min(start + chunk, len(history)))
        cm1 = carried_cos_distance(history.iloc[part], target, lat_deg, lon_deg) - 1.0
        kern = np.empty_like(cm1)
        for i, kappa in enumerate(kappas):
            _vmf(kappa, cm1, out=kern)
            rows = kern.sum(axis=2) * row_area  # (n, nlat) mass per row before normalisation
            total = rows.sum(axis=1)
            values[i, :, part] = kern.reshape(len(total), -1)[:, flat].T / total
            north[i, part] = rows[:, north_rows].sum(axis=1) / total
    return values, north


def recency_weights(crs, target: int, n_rotations: int, decay: float) -> np.ndarray:
    """Weight decay^(rotations back - 1) for ARs of the last ``n_rotations`` before ``target``, else 0."""
    back = target - np.asarray(crs, int)
    return np.where((back >= 1) & (back <= n_rotations), decay ** (back - 1.0), 0.0)


def band_history(table: pd.DataFrame, target: int) -> pd.DataFrame:
    """The rows the docs/science.md band baseline uses for ``target``: the 5 rotations before it."""
    return arise.ars_of(table, range(target - BAND_ROTATIONS, target))


def unfloored_band(table: pd.DataFrame, target: int, lat_deg, lon_deg) -> np.ndarray:
    """The band of :func:`pinn.emergence.density.band_density` for ``target`` without its uniform floor (per sr)."""
    band = dn.band_density(band_history(table, target), lat_deg, lon_deg).values
    return (band - BAND_FLOOR / grid.FOUR_PI) / (1.0 - BAND_FLOOR)


@dataclass(frozen=True)
class NestParams:
    """Nests hyperparameters: kernel width (deg), rotations back, recency decay per rotation, kernel share, floor."""

    width_deg: float = 5.0
    n_rotations: int = 3
    decay: float = 1.0
    mix: float = 0.5
    floor: float = 0.05


def nests_density(table: pd.DataFrame, target: int, lat_deg, lon_deg, params: NestParams) -> xr.DataArray:
    """floor/4pi + (1 - floor) [(1 - mix) band + mix kernel density of carried recent ARs]."""
    band = unfloored_band(table, target, lat_deg, lon_deg)
    past = table[(table["cr"] < target) & (table["cr"] >= target - params.n_rotations)]
    w = recency_weights(past["cr"].values, target, params.n_rotations, params.decay)
    if params.mix > 0 and w.sum() > 0:
        kern = np.tensordot(w / w.sum(), carried_kernels(past, target, lat_deg, lon_deg, params.width_deg), 1)
        mixed = (1.0 - params.mix) * band + params.mix * kern
    else:
        mixed = band
    return dn.density_dataarray(dn.with_floor(mixed, params.floor), lat_deg, lon_deg)


# ---------------------------------------------------------------------------------------------
# Hemispheres and counts


def hemisphere_counts(table: pd.DataFrame, first: int, last: int, unobserved=()) -> pd.DataFrame:
    """New ARs per hemisphere for every rotation first..last (missing rows: 0) with an ``observed`` flag.

    ``unobserved`` lists rotations with no data (instrument gaps, rotations kept aside): their counts
    are unknown, not zero.
    """
    crs = np.arange(first, last + 1)
    rows = table[(table["cr"] >= first) & (table["cr"] <= last)]
    north = rows[rows["lat"] >= 0].groupby("cr").size().reindex(crs, fill_value=0)
    south = rows[rows["lat"] < 0].groupby("cr").size().reindex(crs, fill_value=0)
    observed = ~np.isin(crs, list(unobserved))
    return pd.DataFrame({"north": north.values, "south": south.values, "observed": observed}, index=crs)


def ew_mean(values: np.ndarray, decay: float) -> float:
    """Exponentially weighted mean of a series ordered oldest -> newest (newest has weight 1)."""
    values = np.asarray(values, float)
    w = decay ** np.arange(len(values))[::-1]
    return float(np.sum(w * values) / np.sum(w))


def count_rate(counts: pd.DataFrame, target: int, decay: float, n_back: int = 12,
               min_rate: float = 0.2) -> dict[str, float]:
    """Expected new ARs per hemisphere in ``target``: EW mean of the last ``n_back`` observed rotations before it."""
    past = counts[(counts.index < target) & counts["observed"]].tail(n_back)
    if len(past) == 0:
        return {"north": min_rate, "south": min_rate}
    return {h: max(ew_mean(past[h].values, decay), min_rate) for h in HEMISPHERES}


def north_share(counts: pd.DataFrame, target: int, decay: float, n_back: int = 12) -> float:
    """Expected share of the target's ARs in the north, from EW counts (one pseudo-AR per hemisphere)."""
    past = counts[(counts.index < target) & counts["observed"]].tail(n_back)
    if len(past) == 0:
        return 0.5
    n, s = ew_mean(past["north"].values, decay), ew_mean(past["south"].values, decay)
    w = np.sum(decay ** np.arange(len(past)))  # effective number of rotations, so the pseudo-AR is one AR
    return float((w * n + 1.0) / (w * (n + s) + 2.0))


def north_mass(density: np.ndarray, lat_deg, lon_deg) -> float:
    """Probability mass of a density in the rows with centre latitude > 0."""
    areas = grid.cell_areas(lat_deg, lon_deg)
    return float(np.sum((density * areas)[np.asarray(lat_deg) > 0]))


def split_hemispheres(density: np.ndarray, lat_deg, lon_deg, share: float) -> np.ndarray:
    """Rescale each hemisphere of a (floor-free) density so the north holds ``share`` of the mass."""
    mass = north_mass(density, lat_deg, lon_deg)
    north = (np.asarray(lat_deg) > 0)[:, None]
    return density * np.where(north, share / mass, (1.0 - share) / (1.0 - mass))


def poisson_log2pmf(n, rate) -> np.ndarray:
    """log2 P(n | Poisson(rate)) (bits)."""
    n, rate = np.asarray(n, float), np.asarray(rate, float)
    return (n * np.log(rate) - rate - gammaln(n + 1.0)) / math.log(2.0)


def negbin_log2pmf(n, rate, dispersion: float) -> np.ndarray:
    """log2 P(n) of a negative binomial with mean ``rate`` and variance rate + rate^2 / dispersion (bits)."""
    n, rate, r = np.asarray(n, float), np.asarray(rate, float), float(dispersion)
    logp = (gammaln(n + r) - gammaln(r) - gammaln(n + 1.0) + r * np.log(r / (r + rate))
            + n * np.log(rate / (r + rate)))
    return logp / math.log(2.0)


# ---------------------------------------------------------------------------------------------
# Climatology by phase of the cycle


def hemisphere_phase(table: pd.DataFrame, target: int) -> dict[str, float]:
    """Mean |lat| (deg) of each hemisphere's ARs in the 5 rotations before ``target`` (NaN if none)."""
    return _phase_of(band_history(table, target)["lat"].values)


def _phase_of(lat: np.ndarray) -> dict[str, float]:
    """Mean |lat| (deg) of the north (lat >= 0) and south latitudes ``lat`` (NaN if none)."""
    north, south = lat[lat >= 0], -lat[lat < 0]
    return {"north": float(np.mean(north)) if len(north) else math.nan,
            "south": float(np.mean(south)) if len(south) else math.nan}


def analog_library(table: pd.DataFrame, target: int) -> pd.DataFrame:
    """(cr, phase, |lat|) of every AR of an earlier rotation M < target, phase = its hemisphere's mean |lat| before M."""
    cr, lat = table["cr"].to_numpy(), table["lat"].to_numpy()
    rows = []
    for m in np.unique(cr[cr < target]):
        phase = _phase_of(lat[(cr >= m - BAND_ROTATIONS) & (cr < m)])  # band_history(table, m), in table order
        for la in lat[cr == m]:
            p = phase["north" if la >= 0 else "south"]
            if np.isfinite(p):
                rows.append((int(m), p, abs(la)))
    return pd.DataFrame(rows, columns=["cr", "phase", "abs_lat"])


def climatology_density(table: pd.DataFrame, target: int, lat_deg, lon_deg, match_deg: float = 1.5,
                        bandwidth_deg: float = 2.0, floor: float = 0.05,
                        library: pd.DataFrame | None = None) -> xr.DataArray:
    """Per hemisphere, the |lat| distribution of past ARs whose hemisphere had a similar recent mean |lat|.

    Analogs are weighted by a Gaussian (``match_deg``) in the phase difference; the latitudes are smoothed
    by a Gaussian (``bandwidth_deg``); uniform in longitude; the hemisphere split is the band's (recent
    counts plus one pseudo-AR each). A hemisphere with no recent ARs borrows the other's phase.
    ``library`` (from :func:`analog_library` of any later target) may be passed to save time; only its
    rows with cr < target are used.
    """
    lat = np.asarray(lat_deg, float)
    lib = analog_library(table, target) if library is None else library
    lib = lib[lib["cr"] < target]
    phase = hemisphere_phase(table, target)
    past = band_history(table, target)
    n_north = int(np.sum(past["lat"].values >= 0))
    shares = {"north": (n_north + 1.0) / (len(past) + 2.0), "south": (len(past) - n_north + 1.0) / (len(past) + 2.0)}
    row_area = grid.cell_areas(lat, [0.0])[:, 0]
    profile = np.zeros_like(lat)
    for hemi, sign in (("north", 1.0), ("south", -1.0)):
        p = phase[hemi] if np.isfinite(phase[hemi]) else phase["south" if hemi == "north" else "north"]
        if not np.isfinite(p) or len(lib) == 0:
            continue
        w = np.exp(-0.5 * ((lib["phase"].values - p) / match_deg) ** 2)
        shape = np.sum(w[None, :] * np.exp(-0.5 * ((sign * lat[:, None] - lib["abs_lat"].values[None, :])
                                                    / bandwidth_deg) ** 2), axis=1)
        shape = np.where(sign * lat > 0, shape, 0.0)
        if shape.sum() > 0:
            profile += shares[hemi] * shape / np.sum(shape * row_area)
    if not profile.sum() > 0:  # no analog yet (the start of the record): the band, with this density's floor
        return dn.density_dataarray(dn.with_floor(unfloored_band(table, target, lat, lon_deg), floor), lat, lon_deg)
    values = np.repeat(profile[:, None], len(lon_deg), axis=1)
    return dn.density_dataarray(dn.with_floor(dn.normalise(values, lat, lon_deg), floor), lat, lon_deg)


# ---------------------------------------------------------------------------------------------
# Causal choice


def causal_choice(scores: pd.DataFrame, target: int, min_rotations: int = 20, default=None):
    """The column of ``scores`` (rows: per-AR bits with a ``cr`` column) with the highest total before ``target``.

    Maximum likelihood over the rotations scored strictly before ``target``; ``default`` (or the first
    column) until ``min_rotations`` such rotations exist.
    """
    past = scores[scores["cr"] < target]
    columns = [c for c in scores.columns if c != "cr"]
    if past["cr"].nunique() < min_rotations:
        return columns[0] if default is None else default
    return past[columns].sum().idxmax()
