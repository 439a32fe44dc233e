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
from functools import cached_property

import numpy as np
import xarray as xr

from pinn.config.schema import EmergenceConfig, ForecastConfig
from pinn.data import grid
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


def band_sigma_deg(ridge_sigma_deg, params: EmergenceParams) -> np.ndarray:
    """Latitude sd (deg) of the emergence band about a ridge of AR-pixel sd ``ridge_sigma_deg``."""
    return np.maximum(params.width_scale * math.sqrt(2.0) * np.asarray(ridge_sigma_deg), params.min_sigma_deg)


def strength_weight(relative_strength, params: EmergenceParams) -> np.ndarray:
    """Weight along the ridge: (local strength / its longitudinal mean) ** strength_power."""
    return np.power(np.maximum(relative_strength, 1e-6), params.strength_power)


def latitude_gaussian(lat_deg, centre_deg, sigma_deg) -> np.ndarray:
    """Gaussian in latitude per steradian (no 1/cos(lat), which would blow up wide bands at the poles)."""
    return np.exp(-0.5 * ((lat_deg - centre_deg) / sigma_deg) ** 2) / (np.radians(sigma_deg) * math.sqrt(2 * math.pi))


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
        sigma = band_sigma_deg(r["ridge_sigma"].values, params)[None, :]
        rel = r["ridge_strength"].values / np.maximum(r["mean_strength"].values, 1e-30)
        along = strength_weight(rel, params)[None, :]
        gauss = latitude_gaussian(lat, centre, sigma)
        on_hemi = (lat > 0) if hemi == "north" else (lat < 0)
        total += hemisphere_weights[hemi] * along * gauss * on_hemi
    density = dn.with_floor(dn.normalise(total, lat[:, 0], lon), params.floor)
    return dn.density_dataarray(density, lat[:, 0], lon)


def fit_emergence_params(cases: Sequence[tuple], lat_deg: np.ndarray, start: EmergenceParams | None = None,
                         ) -> EmergenceParams:
    """Maximum-likelihood (floor, width_scale, strength_power) over past cases, bounded.

    Each case is ``(ridge, hemisphere_weights, ar_lat, ar_lon)`` from rotations BEFORE the one to be
    scored (the caller guarantees this; see :mod:`pinn.chain.hindcast`). The likelihood is
    :func:`emergence_density` at the ARs, evaluated for all cases at once (:class:`StackedCases`).
    """
    from scipy.optimize import minimize

    start = start or EmergenceParams()
    if not cases:
        return start
    stacked = StackedCases.of(cases, lat_deg)

    def nll(x):
        return -float(np.sum(stacked.log2_likelihood(EmergenceParams(float(x[0]), float(x[1]), float(x[2]),
                                                                      start.min_sigma_deg))))

    x0 = np.array([start.floor, start.width_scale, start.strength_power])
    res = minimize(nll, x0, method="L-BFGS-B", bounds=[(0.01, 0.9), (0.2, 4.0), (0.0, 4.0)],
                   options={"maxiter": 60})
    return EmergenceParams(float(res.x[0]), float(res.x[1]), float(res.x[2]), start.min_sigma_deg)


@dataclass(frozen=True)
class StackedCases:
    """Ridges of several cases as arrays, for the likelihood of :func:`emergence_density` at their ARs.

    The same density, evaluated without building each case's grid as an xarray object: per hemisphere only
    the rows of that hemisphere (the density is zero elsewhere), all cases in one array operation, and the
    normalised, floored density read at the ARs' cells (nearest cell, as :func:`pinn.scoring.scores.sample`).
    Arrays: centre, sigma, rel (case, hemisphere, lon); weights (case, hemisphere); per AR its case,
    hemisphere, row within the hemisphere's rows and column.
    """

    lat: np.ndarray
    rows: tuple[np.ndarray, np.ndarray]  # row indices of the north (lat > 0) and south (lat < 0) cells
    row_areas: tuple[np.ndarray, np.ndarray]  # solid angle of one cell in each of those rows (sr)
    centre: np.ndarray
    sigma: np.ndarray
    rel: np.ndarray
    weights: np.ndarray
    ar_case: np.ndarray
    ar_hemi: np.ndarray
    ar_row: np.ndarray
    ar_col: np.ndarray

    @classmethod
    def of(cls, cases: Sequence[tuple], lat_deg: np.ndarray) -> StackedCases:
        lat = np.asarray(lat_deg, float)
        lon = cases[0][0]["lon"].values
        areas = grid.cell_areas(lat, lon)[:, 0]
        rows = (np.flatnonzero(lat > 0), np.flatnonzero(lat < 0))
        centre, sigma, rel, weights, ar = [], [], [], [], []
        for k, (ridge, hemisphere_weights, ar_lat, ar_lon) in enumerate(cases):
            if not np.array_equal(ridge["lon"].values, lon):
                raise ValueError("the cases' ridges must share one longitude grid")
            r = [ridge.sel(hemisphere=h) for h in HEMISPHERES]
            centre.append([x["ridge_lat"].values for x in r])
            sigma.append([x["ridge_sigma"].values for x in r])
            rel.append([x["ridge_strength"].values / np.maximum(x["mean_strength"].values, 1e-30) for x in r])
            weights.append([hemisphere_weights[h] for h in HEMISPHERES])
            i, j = ev.cell_indices(lat, lon, ar_lat, ar_lon)
            ar.append(np.stack([np.full(i.size, k), i, j]))
        case_, i, j = np.concatenate(ar, axis=1) if ar else np.zeros((3, 0), int)
        hemi = np.where(lat[i] > 0, 0, np.where(lat[i] < 0, 1, -1))
        row = np.array([np.searchsorted(rows[h], ii) if h >= 0 else 0 for h, ii in zip(hemi, i)], int)
        return cls(lat, rows, (areas[rows[0]], areas[rows[1]]), np.asarray(centre, float), np.asarray(sigma, float),
                   np.asarray(rel, float), np.asarray(weights, float), case_.astype(int), hemi, row, j.astype(int))

    def log2_likelihood(self, params: EmergenceParams) -> np.ndarray:
        """log2 of each case's density at each of its ARs (bits), in the order the cases and ARs were given."""
        mass, at_ars = self.unfloored(params.width_scale, params.strength_power, params.min_sigma_deg)
        density = dn.with_floor(at_ars / mass[self.ar_case], params.floor)
        return np.log2(density)

    def unfloored(self, width_scale: float, strength_power: float, min_sigma_deg: float
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Each case's total mass (sr) and its unnormalised density at its ARs, before the floor.

        The band's latitude Gaussian enters the mass only through its sum over each column's rows (times the row
        areas), so that sum is made once per width (:meth:`_columns`) and a change of the strength power or the
        floor costs one pass over (case, hemisphere, longitude) instead of over the whole grid."""
        key = (width_scale, strength_power, min_sigma_deg)
        if key not in self._parts:
            column_mass, gauss_at_ars = self._columns(width_scale, min_sigma_deg)
            along = strength_weight(self.rel, EmergenceParams(0.5, width_scale, strength_power, min_sigma_deg))
            # emergence_density adds each hemisphere's term times a 0/1 row mask over the whole column, so a NaN
            # in either hemisphere's ridge blanks that longitude in both (normalise counts NaN as 0): the same here
            blank = self._blank_ridge | np.any(np.isnan(along), axis=1)[:, None, :]
            columns = np.where(blank, 0.0, self.weights[:, :, None] * along * column_mass)
            on_hemi = self.ar_hemi >= 0
            hemi = np.where(on_hemi, self.ar_hemi, 0)
            at_ars = np.where(on_hemi & ~blank[self.ar_case, 0, self.ar_col],
                              self.weights[self.ar_case, hemi] * along[self.ar_case, hemi, self.ar_col] * gauss_at_ars,
                              0.0)
            if not (np.all(np.isfinite(columns)) and np.all(np.isfinite(at_ars))):
                columns, at_ars = np.nan_to_num(columns, nan=0.0), np.nan_to_num(at_ars, nan=0.0)
            if np.any(columns < 0) or np.any(at_ars < 0):
                raise ValueError("a density must be non-negative")
            mass = columns.sum(axis=(1, 2))
            if not np.all(mass > 0):
                raise ValueError("a density must have positive total mass")
            _remember(self._parts, key, (mass, at_ars))
        return self._parts[key]

    @cached_property
    def _parts(self) -> dict:
        return {}

    @cached_property
    def _by_width(self) -> dict:
        return {}

    @cached_property
    def _blank_ridge(self) -> np.ndarray:
        """(case, 1, lon): longitudes where either hemisphere's ridge centre or width is NaN."""
        return np.any(np.isnan(self.centre) | np.isnan(self.sigma), axis=1)[:, None, :]

    def _columns(self, width_scale: float, min_sigma_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """For the band at ``width_scale``: (case, hemisphere, lon) the latitude Gaussian summed over the column's
        rows times their areas (sr per unit weight), and the Gaussian at each AR's cell; memoised."""
        key = (width_scale, min_sigma_deg)
        if key not in self._by_width:
            sigma = band_sigma_deg(self.sigma, EmergenceParams(0.5, width_scale, 0.0, min_sigma_deg))
            column_mass = np.empty(self.centre.shape)
            at_ars = np.zeros(self.ar_case.size)
            for h in (0, 1):
                gauss = latitude_gaussian(self.lat[self.rows[h]][None, :, None], self.centre[:, h, None, :],
                                          sigma[:, h, None, :])
                column_mass[:, h, :] = np.einsum("kil,i->kl", gauss, self.row_areas[h])
                mine = self.ar_hemi == h
                at_ars[mine] = gauss[self.ar_case[mine], self.ar_row[mine], self.ar_col[mine]]
            _remember(self._by_width, key, (column_mass, at_ars))
        return self._by_width[key]


MEMO_SIZE = 4  # entries kept per memo: one optimiser iteration with its finite differences


def _remember(memo: dict, key, value) -> None:
    """Store ``value`` under ``key``, forgetting the oldest entry beyond :data:`MEMO_SIZE`."""
    if len(memo) >= MEMO_SIZE:
        memo.pop(next(iter(memo)))
    memo[key] = value


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
