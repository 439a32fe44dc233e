"""The twin experiment's emergence law and synthetic ARs (observing-system simulation, experiments/twin).

A known toroidal field |a|(lat, lon) (model units) is turned into new ARs by a stated law: the intensity
of emergence is proportional to the field above a threshold,

    lambda(lat, lon) proportional to max(|a| - threshold, 0),

a density per steradian on the forecast grid (:func:`law_density`), and each rotation's new ARs are a
Poisson number (fixed expected count) of independent draws from it (:func:`sample_ars`). Because the
field of one rotation is seen one longitude at a time, :func:`field_at_observation` samples a time series
of model-frame fields at the time each Carrington longitude is at central meridian. :func:`carry_field`
moves a Carrington-frame field rigidly along each latitude at a rate profile (the kinematic forecast).

Pure functions (numpy, seeded generators); angles in degrees; densities follow :mod:`pinn.scoring.scores`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from pinn.data.grid import cell_areas
from pinn.emergence import density as dn


def law_density(field: np.ndarray, lat_deg, lon_deg, threshold: float, floor: float | None = None) -> xr.DataArray:
    """Density per sr proportional to max(field - threshold, 0) on (lat, lon); mixed with ``floor`` if given.

    ``field``: (nlat, nlon) non-negative field strength (any unit, the threshold's). Raises ValueError
    when no cell exceeds the threshold (the law then has no emergence anywhere).
    """
    excess = np.maximum(np.asarray(field, float) - float(threshold), 0.0)
    if not np.any(excess > 0):
        raise ValueError(f"no field above the threshold {threshold:g}: the emergence law has no support")
    values = dn.normalise(excess, lat_deg, lon_deg)
    if floor is not None:
        values = dn.with_floor(values, floor)
    return dn.density_dataarray(values, lat_deg, lon_deg)


def sample_ars(density: xr.DataArray, expected_count: float, rng: np.random.Generator) -> pd.DataFrame:
    """New ARs drawn from ``density``: a Poisson(``expected_count``) number of independent positions.

    Each AR falls in a cell with probability density x cell area and uniformly within that cell (cells of
    a regular grid: edges halfway between centres). Returns columns ``lat``, ``lon`` (deg, lon in [0, 360)).
    """
    lat, lon = density["lat"].values, density["lon"].values
    mass = np.asarray(density.values, float) * cell_areas(lat, lon)
    n = int(rng.poisson(expected_count))
    cells = rng.choice(mass.size, size=n, p=(mass / mass.sum()).ravel())
    i, j = np.unravel_index(cells, mass.shape)
    dlat, dlon = float(np.median(np.diff(lat))), float(np.median(np.diff(lon)))
    ar_lat = np.clip(lat[i] + (rng.random(n) - 0.5) * dlat, -90.0, 90.0)
    ar_lon = np.mod(lon[j] + (rng.random(n) - 0.5) * dlon, 360.0)
    return pd.DataFrame({"lat": ar_lat, "lon": ar_lon})


def periodic_interp(values: np.ndarray, src_lon_deg, lon_deg) -> np.ndarray:
    """Linear interpolation along the last axis (longitude, periodic 360) of ``values`` from ``src_lon_deg``
    (increasing, one period) to ``lon_deg`` (any shape broadcast against the leading axes' trailing one)."""
    src = np.asarray(src_lon_deg, float)
    step = 360.0 / src.size
    x = np.mod(np.asarray(lon_deg, float) - src[0], 360.0) / step
    j0 = np.floor(x).astype(int) % src.size
    w = x - np.floor(x)
    return values[..., j0] * (1.0 - w) + values[..., (j0 + 1) % src.size] * w


def field_at_observation(times_days, fields: np.ndarray, src_lon_deg, lon_deg, t_obs_days,
                         frame_drift_deg_day: float) -> np.ndarray:
    """A synoptic view of a model-frame time series: each Carrington longitude at its own observation time.

    ``fields``: (time, nlat, nlon_src) in the model frame at ``times_days`` (increasing); ``src_lon_deg``
    its longitudes (regular). The model frame drifts against Carrington at ``frame_drift_deg_day``
    (Carrington longitude = model longitude + drift t). Returns (nlat, len(lon_deg)): the field at Carrington
    longitude ``lon_deg[j]`` at time ``t_obs_days[j]`` (linear in time, clamped to the series' ends).
    """
    times = np.asarray(times_days, float)
    t = np.clip(np.asarray(t_obs_days, float), times[0], times[-1])
    i0 = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    w = (t - times[i0]) / (times[i0 + 1] - times[i0])
    src = np.asarray(src_lon_deg, float)
    x = np.mod(np.asarray(lon_deg, float) - frame_drift_deg_day * t - src[0], 360.0) / (360.0 / src.size)
    j0 = np.floor(x).astype(int) % src.size
    j1 = (j0 + 1) % src.size
    wx = (x - np.floor(x))[:, None]

    def at(i):  # (nlon, nlat): snapshot i[k] at the model longitude of target column k
        return fields[i, :, j0] * (1.0 - wx) + fields[i, :, j1] * wx

    a, b = at(i0), at(i0 + 1)
    return ((1.0 - w)[:, None] * a + w[:, None] * b).T


def carry_field(field: np.ndarray, lat_deg, lon_deg, rate_deg_day, days) -> np.ndarray:
    """A Carrington-frame field (nlat, nlon) with each latitude row moved by rate(lat) x days (deg, prograde +).

    ``rate_deg_day``: (nlat,) rate against Carrington; ``days``: scalar or (nlon,) elapsed time at each
    target longitude. Periodic linear interpolation; the value at longitude phi is the source's at
    phi - rate days.
    """
    rate = np.asarray(rate_deg_day, float)[:, None]
    src = np.asarray(lon_deg, float)[None, :] - rate * np.asarray(days, float)
    out = np.empty_like(np.asarray(field, float))
    for k in range(out.shape[0]):
        out[k] = periodic_interp(np.asarray(field, float)[k], lon_deg, src[k])
    return out
