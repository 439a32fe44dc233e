"""Honest scores for AR-emergence densities: log-likelihood per AR, ROC AUC, expected counts, bootstrap.

A forecast is a probability density per steradian over (lat, lon) that integrates to 1 over the
sphere (:mod:`pinn.emergence.density`). It is scored on the new ARs of the next rotation (ARISE, repeats
removed) by the mean log2-likelihood per AR (uniform density: log2(1/(4 pi)) = -3.65 bits), with paired
bootstrap intervals over rotations for differences between forecasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from pinn.data.grid import FOUR_PI, cell_areas

UNIFORM_BITS = -math.log2(FOUR_PI)


def cell_indices(lat_grid, lon_grid, lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the cell nearest each point (longitude wraps)."""
    lat_grid, lon_grid = np.asarray(lat_grid, float), np.asarray(lon_grid, float)
    lat_deg = np.asarray(lat_deg, float)
    lon_deg = np.mod(np.asarray(lon_deg, float), 360.0)
    i = np.abs(lat_grid[None, :] - lat_deg[:, None]).argmin(axis=1)
    dlon = np.abs(((lon_grid[None, :] - lon_deg[:, None]) + 180.0) % 360.0 - 180.0)
    return i, dlon.argmin(axis=1)


def sample(density: xr.DataArray, lat_deg, lon_deg) -> np.ndarray:
    """Density at points (nearest cell; longitude wraps)."""
    i, j = cell_indices(density["lat"].values, density["lon"].values, lat_deg, lon_deg)
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


def intensity(density: xr.DataArray, rates: dict) -> np.ndarray:
    """Expected new ARs per cell: rate_h x (density x area) / (the density's mass in hemisphere h)."""
    lat, lon = density["lat"].values, density["lon"].values
    mass = density.values * cell_areas(lat, lon)
    north = (lat > 0)[:, None]
    m_n = mass[lat > 0].sum()
    return np.where(north, rates["north"] * mass / m_n, rates["south"] * mass / (mass.sum() - m_n))


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
