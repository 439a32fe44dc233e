"""The emergence model: predicted toroids -> probability density of new-AR emergence (docs/science.md section 5).

Documented, few parameters, fitted out of sample in the hindcast. Per hemisphere a Gaussian in latitude
about the predicted ridge, sigma = width_scale * sqrt(2) * (the ridge's |a|^2 second moment) (the
sqrt(2) maps a field band exp(-(x/w)^2) to the AR-pixel spread of the toroid fit), weighted along
longitude by (local ridge strength / its longitudinal mean)^strength_power and between hemispheres by
the hemisphere weights; normalised over the sphere, then mixed with a uniform ``floor``.

Pure functions of the ridge dataset (:func:`pinn.emergence.ridges.toroids_at_observation`): no training, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from pinn.config.schema import EmergenceConfig, ForecastConfig
from pinn.emergence import density as dn
from pinn.emergence.ridges import HEMISPHERES
from pinn.scoring import scores as ev


@dataclass(frozen=True)
class EmergenceParams:
    """Parameters of the emergence model (floor: uniform share; min_sigma_deg: narrowest band, deg)."""

    floor: float = 0.1
    width_scale: float = 1.0
    strength_power: float = 1.0
    min_sigma_deg: float = 2.0

    @classmethod
    def from_config(cls, ec: EmergenceConfig) -> EmergenceParams:
        """The ridge model's start values (``emergence.floor``, ...)."""
        return cls(ec.floor, ec.width_scale, ec.strength_power, ec.min_sigma_deg)


def density_grid(fc: ForecastConfig) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre latitudes and Carrington longitudes (deg) of the emergence density."""
    lat = -90.0 + (np.arange(fc.output_nlat) + 0.5) * 180.0 / fc.output_nlat
    lon = (np.arange(fc.output_nlon) + 0.5) * 360.0 / fc.output_nlon
    return lat, lon


def emergence_density(
    ridge: xr.Dataset, lat_deg: np.ndarray, hemisphere_weights: dict, params: EmergenceParams
) -> xr.DataArray:
    """Probability density per steradian of new-AR emergence on (lat, lon); integrates to 1.

    ``ridge`` is :func:`pinn.emergence.ridges.toroids_at_observation` output on the density's longitudes.
    """
    lat = np.asarray(lat_deg, float)[:, None]
    lon = ridge["lon"].values
    total = np.zeros((lat.shape[0], lon.size))
    for hemi in HEMISPHERES:
        r = ridge.sel(hemisphere=hemi)
        centre = r["ridge_lat"].values[None, :]
        sigma = np.maximum(params.width_scale * math.sqrt(2.0) * r["ridge_sigma"].values, params.min_sigma_deg)[None, :]
        rel = r["ridge_strength"].values / np.maximum(r["mean_strength"].values, 1e-30)
        along = np.power(np.maximum(rel, 1e-6), params.strength_power)[None, :]
        # Gaussian in latitude (per steradian; no 1/cos(lat), which would blow up wide bands at the poles)
        gauss = np.exp(-0.5 * ((lat - centre) / sigma) ** 2) / (np.radians(sigma) * math.sqrt(2 * math.pi))
        on_hemi = (lat > 0) if hemi == "north" else (lat < 0)
        total += hemisphere_weights[hemi] * along * gauss * on_hemi
    density = dn.with_floor(dn.normalise(total, lat[:, 0], lon), params.floor)
    return dn.density_dataarray(density, lat[:, 0], lon)


def fit_emergence_params(cases: Sequence[tuple], lat_deg: np.ndarray, start: EmergenceParams | None = None,
                         ) -> EmergenceParams:
    """Maximum-likelihood (floor, width_scale, strength_power) over past cases, bounded.

    Each case is ``(ridge, hemisphere_weights, ar_lat, ar_lon)`` from rotations BEFORE the one to be
    scored (the caller guarantees this; see :mod:`pinn.chain.hindcast`).
    """
    from scipy.optimize import minimize

    start = start or EmergenceParams()
    if not cases:
        return start

    def nll(x):
        p = EmergenceParams(float(x[0]), float(x[1]), float(x[2]), start.min_sigma_deg)
        total = 0.0
        for ridge, weights, ar_lat, ar_lon in cases:
            d = emergence_density(ridge, lat_deg, weights, p)
            total -= float(np.sum(ev.log2_likelihood(d, ar_lat, ar_lon)))
        return total

    x0 = np.array([start.floor, start.width_scale, start.strength_power])
    res = minimize(nll, x0, method="L-BFGS-B", bounds=[(0.01, 0.9), (0.2, 4.0), (0.0, 4.0)],
                   options={"maxiter": 60})
    return EmergenceParams(float(res.x[0]), float(res.x[1]), float(res.x[2]), start.min_sigma_deg)


MIN_SEPARATION_DEG = 20.0  # great-circle distance between reported hotspots


def great_circle_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Angular distance (deg) between two points given in degrees."""
    a1, a2, dlon = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    c = math.sin(a1) * math.sin(a2) + math.cos(a1) * math.cos(a2) * math.cos(dlon)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def hotspots(density: xr.DataArray, n: int = 5, min_separation_deg: float = MIN_SEPARATION_DEG) -> list[dict]:
    """The ``n`` highest-density cells, each at least ``min_separation_deg`` (great circle) from those before
    it, so that they are distinct places rather than neighbouring cells of one band."""
    values = density.values
    lats, lons = density["lat"].values, density["lon"].values
    picked: list[dict] = []
    for flat in np.argsort(values, axis=None)[::-1]:
        i, j = np.unravel_index(flat, values.shape)
        lat, lon = float(lats[i]), float(lons[j])
        if all(great_circle_deg(lat, lon, p["lat_deg"], p["lon_deg"]) >= min_separation_deg for p in picked):
            picked.append({"lat_deg": lat, "lon_deg": lon, "density_per_sr": float(values[i, j]),
                           "vs_uniform": float(values[i, j] * 4 * math.pi)})
        if len(picked) == n:
            break
    return picked
