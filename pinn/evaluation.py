"""Honest scores for AR-emergence densities: log-likelihood per AR, ROC AUC, baselines, bootstrap.

A forecast is a probability density per steradian over (lat, lon) that integrates to 1 over the
sphere. It is scored on the new ARs of the next rotation (ARISE, repeats removed) by the mean
log2-likelihood per AR (uniform density: log2(1/(4 pi)) = -3.65 bits). Baselines are computed the same
way (docs/science.md section 5): uniform; persistence (the latest map's smoothed |Br|); latitude band (per
hemisphere a Gaussian in latitude at the mean/std of the last rotations' AR latitudes). Every density
carries a uniform floor so no AR scores minus infinity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from pinn.errors import InputError
from pinn.observations import row_edges_deg

FOUR_PI = 4.0 * math.pi
UNIFORM_BITS = -math.log2(FOUR_PI)

ARISE_COLUMNS = {
    "CR": "cr",
    "Lat(whole)": "lat",
    "Lon(whole)": "lon",
    "Flux(pos, Mx)": "flux_pos",
    "Flux(neg, Mx)": "flux_neg",
}


# ---------------------------------------------------------------------------------------------
# Truth: the ARISE table


def load_arise(path: str | Path) -> pd.DataFrame:
    """Read an ARISE CSV into columns cr, lat, lon (deg, Carrington), flux (|pos| + |neg|, Mx)."""
    path = Path(path)
    try:
        raw = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(path, "ARISE table not found") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, f"not a readable CSV table ({exc.__class__.__name__})") from None
    missing = [c for c in ARISE_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(path, f"not an ARISE table: missing column(s) {', '.join(missing)}")
    table = raw[list(ARISE_COLUMNS)].rename(columns=ARISE_COLUMNS)
    table = table.apply(pd.to_numeric, errors="coerce").dropna(subset=["cr", "lat", "lon"])
    table["cr"] = table["cr"].astype(int)
    table["flux"] = table["flux_pos"].abs() + table["flux_neg"].abs()
    return table[["cr", "lat", "lon", "flux"]].reset_index(drop=True)


def ars_of(table: pd.DataFrame, crs) -> pd.DataFrame:
    """Rows of the given rotation(s)."""
    crs = [crs] if np.isscalar(crs) else list(crs)
    return table[table["cr"].isin(crs)]


# ---------------------------------------------------------------------------------------------
# Densities on (lat, lon) grids


def cell_areas(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Solid angle (sr) of each cell of a regular (lat, lon) grid of cell centres; a full-sphere grid sums to 4 pi.

    Row edges follow :func:`pinn.observations.row_edges_deg` (sine-latitude or uniform rows); longitude
    cells share 2 pi equally.
    """
    band = np.diff(np.sin(np.radians(row_edges_deg(lat_deg))))  # integral of cos(lat) dlat over each row
    nlon = len(lon_deg)
    return np.outer(band, np.full(nlon, 2 * math.pi / nlon))


def normalise(values: np.ndarray, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Scale a non-negative field to a density per steradian integrating to 1."""
    values = np.nan_to_num(np.asarray(values, float), nan=0.0)
    if np.any(values < 0):
        raise ValueError("a density must be non-negative")
    total = float(np.sum(values * cell_areas(lat_deg, lon_deg)))
    if not total > 0:
        raise ValueError("a density must have positive total mass")
    return values / total


def with_floor(density: np.ndarray, floor: float) -> np.ndarray:
    """Mix in a uniform density: (1 - floor) p + floor / (4 pi). Keeps the normalisation."""
    if not 0.0 < floor < 1.0:
        raise ValueError(f"floor must be in (0, 1), got {floor}")
    return (1.0 - floor) * np.asarray(density) + floor / FOUR_PI


def density_dataarray(density: np.ndarray, lat_deg, lon_deg, name: str = "emergence_density") -> xr.DataArray:
    return xr.DataArray(
        density,
        dims=("lat", "lon"),
        coords={"lat": np.asarray(lat_deg, float), "lon": np.asarray(lon_deg, float)},
        name=name,
        attrs={"units": "sr-1", "long_name": "probability density of new AR emergence per steradian"},
    )


def integral(density: xr.DataArray) -> float:
    """Integral of a density over the sphere (1 for a normalised one)."""
    return float(np.sum(density.values * cell_areas(density["lat"].values, density["lon"].values)))


def sample(density: xr.DataArray, lat_deg, lon_deg) -> np.ndarray:
    """Density at points (nearest cell; longitude wraps)."""
    lat_grid = density["lat"].values
    lon_grid = density["lon"].values
    lat_deg = np.asarray(lat_deg, float)
    lon_deg = np.mod(np.asarray(lon_deg, float), 360.0)
    i = np.abs(lat_grid[None, :] - lat_deg[:, None]).argmin(axis=1)
    dlon = np.abs(((lon_grid[None, :] - lon_deg[:, None]) + 180.0) % 360.0 - 180.0)
    j = dlon.argmin(axis=1)
    return density.values[i, j]


def log2_likelihood(density: xr.DataArray, lat_deg, lon_deg) -> np.ndarray:
    """log2 density (per sr) at each AR: the per-AR score in bits."""
    return np.log2(sample(density, lat_deg, lon_deg))


def roc_auc(density: xr.DataArray, lat_deg, lon_deg) -> float:
    """Probability that the density at an AR exceeds that at an area-uniform random location.

    Exact for the gridded density: random locations are the cells weighted by solid angle; ties
    count one half. 0.5 means no skill over uniform.
    """
    values = density.values.ravel()
    weights = cell_areas(density["lat"].values, density["lon"].values).ravel()
    weights = weights / weights.sum()
    order = np.argsort(values)
    v_sorted, w_sorted = values[order], weights[order]
    cum = np.concatenate([[0.0], np.cumsum(w_sorted)])
    at_ars = sample(density, lat_deg, lon_deg)
    below = cum[np.searchsorted(v_sorted, at_ars, side="left")]
    upto = cum[np.searchsorted(v_sorted, at_ars, side="right")]
    return float(np.mean(below + 0.5 * (upto - below)))


# ---------------------------------------------------------------------------------------------
# Baselines


def uniform_density(lat_deg, lon_deg) -> xr.DataArray:
    return density_dataarray(np.full((len(lat_deg), len(lon_deg)), 1.0 / FOUR_PI), lat_deg, lon_deg)


def persistence_density(br: xr.DataArray, smoothing_deg: float = 5.0, floor: float = 0.05) -> xr.DataArray:
    """The latest map's |Br| smoothed with a Gaussian of ``smoothing_deg`` (periodic in longitude)."""
    from scipy.ndimage import gaussian_filter

    lat = br["lat"].values
    lon = br["lon"].values
    field = np.nan_to_num(np.abs(br.values), nan=0.0)
    dlat = float(np.median(np.diff(lat)))
    dlon = float(np.median(np.diff(lon)))
    smooth = gaussian_filter(field, sigma=(smoothing_deg / dlat, smoothing_deg / dlon), mode=("nearest", "wrap"))
    return density_dataarray(with_floor(normalise(smooth, lat, lon), floor), lat, lon)


def band_density(
    history: pd.DataFrame, lat_deg, lon_deg, min_std_deg: float = 3.0, floor: float = 0.05
) -> xr.DataArray:
    """Per hemisphere a Gaussian in latitude at the mean/std of past AR latitudes, uniform in longitude.

    Each hemisphere's weight is its share of the past ARs (with one pseudo-AR each, so an empty
    hemisphere still gets a small band at its mirror latitude).
    """
    lat = np.asarray(lat_deg, float)
    if len(history) == 0:
        raise InputError(None, "latitude-band baseline needs at least one past AR (empty ARISE selection)")
    profile = np.zeros_like(lat)
    row_area = cell_areas(lat, [0.0])[:, 0]
    north = history["lat"].values[history["lat"].values >= 0]
    south = history["lat"].values[history["lat"].values < 0]
    for lats, sign in ((north, 1.0), (south, -1.0)):
        other = south if sign > 0 else north
        pool = lats if len(lats) >= 2 else np.abs(np.concatenate([lats, other])) * sign
        if len(pool) == 0:
            continue
        mean = float(np.mean(pool))
        std = max(float(np.std(pool)), min_std_deg)
        weight = (len(lats) + 1.0) / (len(history) + 2.0)
        gauss = np.exp(-0.5 * ((lat - mean) / std) ** 2)
        profile += weight * gauss / np.sum(gauss * row_area)
    values = np.repeat(profile[:, None], len(lon_deg), axis=1)
    return density_dataarray(with_floor(normalise(values, lat, lon_deg), floor), lat, lon_deg)


# ---------------------------------------------------------------------------------------------
# Paired bootstrap over rotations


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n_rotations: int
    n_ars: int


def paired_bootstrap(
    diff_bits: np.ndarray, rotation: np.ndarray, n_boot: int = 5000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Bootstrap interval of the mean per-AR difference of two scores, resampling whole rotations.

    ARs of one rotation share the same forecast, so rotations (clusters) are resampled, not ARs.
    """
    diff_bits = np.asarray(diff_bits, float)
    rotation = np.asarray(rotation)
    groups = [diff_bits[rotation == r] for r in np.unique(rotation)]
    sums = np.array([g.sum() for g in groups])
    counts = np.array([len(g) for g in groups])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(groups), size=(n_boot, len(groups)))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    return Interval(
        mean=float(diff_bits.mean()),
        low=float(np.quantile(means, alpha)),
        high=float(np.quantile(means, 1.0 - alpha)),
        n_rotations=len(groups),
        n_ars=len(diff_bits),
    )
