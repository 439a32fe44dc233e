"""Emergence densities on (lat, lon) grids: probability per steradian integrating to 1 over the sphere.

Normalisation, the uniform floor every density carries (so no AR scores minus infinity), and the reference
densities scored beside every model (docs/science.md section 5): uniform; persistence (the latest map's
smoothed |Br|); latitude band (per hemisphere a Gaussian in latitude at the mean/std of the last rotations'
AR latitudes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.ndimage import gaussian_filter

from pinn.data.grid import FOUR_PI, cell_areas
from pinn.errors import InputError


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


def uniform_density(lat_deg, lon_deg) -> xr.DataArray:
    return density_dataarray(np.full((len(lat_deg), len(lon_deg)), 1.0 / FOUR_PI), lat_deg, lon_deg)


def persistence_density(br: xr.DataArray, smoothing_deg: float = 5.0, floor: float = 0.05) -> xr.DataArray:
    """The latest map's |Br| smoothed with a Gaussian of ``smoothing_deg`` (periodic in longitude)."""
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

