"""Geometry of latitude-longitude grids on the sphere: row edges and cell solid angles.

The one rule for pixel geometry in the package (maps, densities, toroid weights): a grid is either
sine-latitude (HMI/MDI synoptic maps) or uniform in latitude; longitude cells share 2 pi equally.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

FOUR_PI = 4.0 * math.pi


def cell_areas(lat_deg: np.ndarray, lon_deg: np.ndarray, grid: str | None = None) -> np.ndarray:
    """Solid angle (sr) of each cell of a regular (lat, lon) grid of cell centres; a full-sphere grid sums to 4 pi.

    Row edges follow :func:`row_edges_deg` (``grid`` 'sine-latitude' or 'uniform', None: inferred from the
    centres); longitude cells share 2 pi equally. The one solid-angle rule of the package.
    """
    band = np.diff(np.sin(np.radians(row_edges_deg(lat_deg, grid))))  # integral of cos(lat) dlat over each row
    nlon = len(lon_deg)
    return np.outer(band, np.full(nlon, 2 * math.pi / nlon))



def latitude_edges(ds: xr.Dataset | xr.DataArray) -> np.ndarray:
    """Row edges in degrees (``nlat + 1``, ascending) of a dataset's grid: :func:`row_edges_deg` of its
    ``lat``, with the grid named by ``ds.attrs['grid']`` when present."""
    return row_edges_deg(ds["lat"].values, ds.attrs.get("grid"))


def row_edges_deg(lat_deg, grid: str | None = None) -> np.ndarray:
    """Row edges in degrees (``nlat + 1``, ascending) of a ``'sine-latitude'`` or ``'uniform'`` grid of row centres.

    The one rule for pixel geometry in the package (maps, densities, toroid weights): edges are half-way
    between centres in sin(lat) for the native (sine-latitude) grid and in latitude for the uniform one,
    extended by half a step at the ends and clipped to the poles (so a full-sphere grid ends exactly at
    the poles). ``grid`` None infers it from the centres; rows that are regular in neither raise ValueError.
    """
    lat = np.asarray(lat_deg, dtype=float)
    if lat.size < 2:
        raise ValueError("need at least two latitude rows")
    grids = {
        "sine-latitude": (np.sin(np.deg2rad(lat)), lambda s: np.rad2deg(np.arcsin(s)), 1.0),
        "uniform": (lat, lambda d: d, 90.0),
    }
    if grid is not None and grid not in grids:
        raise ValueError(f"unknown grid {grid!r} (expected 'sine-latitude' or 'uniform')")
    candidates = [grid] if grid is not None else list(grids)
    for name in candidates:
        centres, to_deg, limit = grids[name]
        steps = np.diff(centres)
        step = float(np.mean(steps))
        if np.all(steps > 0) and np.max(np.abs(steps - step)) <= 1e-6 * step:
            mids = (centres[1:] + centres[:-1]) / 2
            edges = np.concatenate([[centres[0] - step / 2], mids, [centres[-1] + step / 2]])
            return to_deg(np.clip(edges, -limit, limit))
    raise ValueError(f"latitude rows are not uniform in {' or '.join(map(repr, candidates))}")


def pixel_solid_angle(ds: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Solid angle of each pixel of a map in steradians, ``(lat, lon)`` (:func:`cell_areas` on the grid named by
    ``ds.attrs['grid']`` when present); multiply by R_sun^2 for an area."""
    area = cell_areas(ds["lat"].values, ds["lon"].values, ds.attrs.get("grid"))
    return xr.DataArray(area, dims=("lat", "lon"), coords={"lat": ds["lat"], "lon": ds["lon"]}, attrs={"units": "sr"})

