"""The map channel: the latest magnetogram's strong-field flux, carried to the forecast rotation.

Flux that is not (or not yet) in the AR catalogue (decaying regions, plage, growing regions) sits where new
ARs are likely to rise. Each pixel of the latest map (rotation N) is carried in Carrington longitude at the
surface magnetic-feature rate (Snodgrass 1983, the rate AR nests move: experiments/carrier) for the time
between its observation in N and the observation of its longitude in N+1 (one synodic rotation, to within
a fraction of a day; L rotations for N+L at lead L), then smoothed with a Gaussian and put on the density grid. Settings are fixed a priori
(below), not fitted: the hybrid (:mod:`pinn.emergence.hybrid`) fits how much the feature tilts the prior.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

from pinn.data.grid import cell_areas, pixel_solid_angle
from pinn.emergence.baselines import drift_deg_per_day
from pinn.physics.constants import CARRINGTON_SYNODIC_DAYS

THRESHOLD_G = 100.0  # strong-field pixels (the toroid fit's threshold, docs/science.md section 3)
LAT_LIMIT_DEG = 45.0  # the activity belts; polar fields are not AR flux
SMOOTH_DEG = 4.0  # Gaussian sigma on the density grid (about an AR's size)
FLOOR_FRACTION = 1e-3  # of the mean flux density, so log flux is finite where the map is quiet
R_SUN_CM = 6.957e10  # nominal solar radius (IAU 2015 Resolution B3), cm: G sr x R_SUN_CM**2 = Mx


def strong_flux(br: xr.DataArray, threshold_G: float = THRESHOLD_G, lat_limit_deg: float = LAT_LIMIT_DEG) -> np.ndarray:
    """|Br| (G) of strong pixels within the activity belts, 0 elsewhere (NaN as 0), on the map's grid."""
    lat = br["lat"].values[:, None]
    absb = np.abs(np.nan_to_num(br.values, nan=0.0))
    return np.where((absb >= threshold_G) & (np.abs(lat) <= lat_limit_deg), absb, 0.0)


def hemisphere_flux(br: xr.DataArray, threshold_G: float, lat_limit_deg: float) -> dict[str, float]:
    """Unsigned flux (Mx) of the strong pixels (|Br| >= ``threshold_G``, |lat| <= ``lat_limit_deg``) of the map ``br``
    in each hemisphere: sum of |Br| x pixel solid angle x R_sun^2 (NaN pixels as 0; the equator row, if any, in
    neither). The total (a level for the counts); :func:`pinn.chain.inputs._hemisphere_flux` turns it into the window's shares."""
    flux = strong_flux(br, threshold_G, lat_limit_deg) * pixel_solid_angle(br).values * R_SUN_CM**2
    lat = br["lat"].values
    return {"north": float(flux[lat > 0].sum()), "south": float(flux[lat < 0].sum())}


def carry_rows(field: np.ndarray, lat_deg: np.ndarray, lon_deg: np.ndarray, days: float) -> np.ndarray:
    """Each latitude row moved in longitude by the surface rate x ``days`` (periodic, linear interpolation)."""
    out = np.empty_like(field)
    period = np.append(lon_deg, lon_deg[0] + 360.0)
    for i, shift in enumerate(drift_deg_per_day(lat_deg) * days):
        row = np.append(field[i], field[i, 0])
        out[i] = np.interp(np.mod(lon_deg - shift - lon_deg[0], 360.0) + lon_deg[0], period, row)
    return out


def to_grid(field: np.ndarray, lat_src: np.ndarray, lon_src: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Area-weighted block average of a (lat, lon) field onto the density grid (each pixel to its nearest cell);
    a cell that no pixel falls in (sine-latitude rows are sparse near the poles) takes its nearest pixel."""
    i = np.abs(lat[None, :] - lat_src[:, None]).argmin(axis=1)
    j = np.abs(((lon[None, :] - lon_src[:, None]) + 180.0) % 360.0 - 180.0).argmin(axis=1)
    weights = cell_areas(lat_src, lon_src)
    total = np.zeros((lat.size, lon.size))
    mass = np.zeros((lat.size, lon.size))
    np.add.at(total, (i[:, None], j[None, :]), field * weights)
    np.add.at(mass, (i[:, None], j[None, :]), weights)
    nearest = field[np.abs(lat_src[None, :] - lat[:, None]).argmin(axis=1)][
        :, np.abs(((lon_src[None, :] - lon[:, None]) + 180.0) % 360.0 - 180.0).argmin(axis=1)]
    return np.where(mass > 0, total / np.where(mass > 0, mass, 1.0), nearest)


def carried_flux(br: xr.DataArray, lat: np.ndarray, lon: np.ndarray, days: float = CARRINGTON_SYNODIC_DAYS,
                 smooth_deg: float = SMOOTH_DEG) -> np.ndarray:
    """The strong-field flux density of ``br`` (G) carried ``days`` at the surface rate, on the grid (lat, lon)
    in degrees, smoothed by a Gaussian of ``smooth_deg`` (periodic in longitude)."""
    lat_src, lon_src = br["lat"].values.astype(float), br["lon"].values.astype(float)
    moved = carry_rows(strong_flux(br), lat_src, lon_src, days)
    gridded = to_grid(moved, lat_src, lon_src, np.asarray(lat, float), np.asarray(lon, float))
    dlat, dlon = float(np.median(np.diff(lat))), float(np.median(np.diff(lon)))
    return gaussian_filter(gridded, sigma=(smooth_deg / dlat, smooth_deg / dlon), mode=("nearest", "wrap"))


def log_flux_feature(br: xr.DataArray, lat: np.ndarray, lon: np.ndarray, lead: int = 1) -> np.ndarray:
    """log of :func:`carried_flux` with a floor of ``FLOOR_FRACTION`` x its mean (a hybrid feature, lat x lon);
    carried ``lead`` synodic rotations (to the observation of each longitude in rotation N+lead)."""
    flux = carried_flux(br, lat, lon, lead * CARRINGTON_SYNODIC_DAYS)
    return np.log(flux + FLOOR_FRACTION * max(float(flux.mean()), 1e-12))
