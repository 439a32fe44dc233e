"""Synthetic synoptic magnetograms with known toroids, for validating toroid extraction.

Each hemisphere's toroid (a :class:`~pinn.toroids.fit.HemisphereToroid`) scatters ``n_regions`` bipolar active
regions along its warped band:

* longitude uniform on [0, 360); latitude ``lam_c(phi) + d`` with ``d`` distributed as the band profile
  ``exp(-(d / w)^2)``, i.e. normal with standard deviation ``w / sqrt(2)`` (the width definition of
  docs/science.md section 3);
* Hale orientation from the toroid's sign: the leading (larger-longitude) polarity is ``-sign``
  (``sign(a) = -sign(leading polarity)``, docs/science.md section 2);
* Joy's tilt: the leading polarity is nearer the equator, tilt ``joy_deg * sin|lat|`` plus a normal
  scatter of ``tilt_scatter_deg`` (Joy's law fit gamma = 32.1 deg sin(lat), Stenflo & Kosovichev 2012);
* each polarity is a circular Gaussian patch of peak ``B0`` (log-uniform in ``peak_G``) and standard
  deviation ``size_deg`` (uniform in the range), separated by ``separation_deg`` (uniform in the range),
  equal and opposite fluxes;
* plus a weak mixed-polarity network field (white noise smoothed over about 1 deg, scaled to an rms of
  ``network_G``) and per-pixel noise of rms ``noise_G``.

``scatter="stratified"`` is a variance-reduced design for tests of the estimator's *bias*: regions come in
antithetic pairs at the same longitude with offsets ``+d`` and ``-d`` and identical properties, and the
``|d|`` are the quantiles of the half-normal distribution, rescaled so that their flux-weighted second
moment is exactly ``w^2 / 2`` (so the sample has the profile's exact width and every pair's centroid lies
on the centre line); ``scatter="random"`` draws each region independently
(realistic sampling noise: the band parameters are then only recoverable to about ``w / sqrt(2 n)``).

The output follows the ``pinn.data.observations.load_synoptic`` contract: ``Br(lat, lon)`` in gauss, ascending
``lat`` (degrees; native HMI rows uniform in sine latitude by default, or uniform in latitude) and ``lon``
(Carrington degrees, pixel centres ``(x + 0.5 + lon_shift_px) * 360 / nlon``; the default shift of 0.1
pixel reproduces HMI's 0.30 .. 359.80 for 720 columns), attrs ``cr``, ``instrument``, ``t_start``, ``t_stop``.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr
from scipy import ndimage
from scipy.special import ndtri

from pinn.physics.constants import CARRINGTON_SYNODIC_DAYS as _CARRINGTON_SYNODIC_DAYS
from pinn.toroids.fit import HemisphereToroid

__all__ = ["Regions", "draw_regions", "map_grid", "paint_map", "synthetic_map", "synthetic_sequence"]

# Start of CR 2280 (HMI header T_START, in UTC) and the mean synodic Carrington period: plausible attrs only.
_CR2280_START = _dt.datetime(2024, 1, 18, 6, 32, 33)


@dataclass(frozen=True)
class Regions:
    """Bipolar regions: one entry per region (degrees, gauss)."""

    lat: np.ndarray  # centroid latitude
    lon: np.ndarray  # centroid Carrington longitude
    leading: np.ndarray  # sign of the leading (larger-longitude) polarity, +1 / -1
    tilt_deg: np.ndarray  # Joy tilt: leading polarity this far (angle) towards the equator
    separation_deg: np.ndarray  # distance between the two polarity centres (great-circle degrees)
    size_deg: np.ndarray  # Gaussian standard deviation of each polarity patch
    peak_G: np.ndarray  # peak |Br| of each polarity patch
    hemisphere: np.ndarray  # +1 north, -1 south

    def __len__(self) -> int:
        return int(self.lat.size)


def map_grid(
    nlat: int = 360, nlon: int = 720, grid: Literal["sine", "uniform"] = "sine", lon_shift_px: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre latitudes and longitudes (degrees, ascending) of a synoptic grid."""
    y = np.arange(nlat)
    if grid == "sine":
        lat = np.degrees(np.arcsin((y + 0.5) * 2.0 / nlat - 1.0))
    elif grid == "uniform":
        lat = -90.0 + (y + 0.5) * 180.0 / nlat
    else:
        raise ValueError(f"grid must be 'sine' or 'uniform', got {grid!r}")
    lon = (np.arange(nlon) + 0.5 + lon_shift_px) * 360.0 / nlon
    return lat, lon


def draw_regions(
    north: HemisphereToroid | None,
    south: HemisphereToroid | None,
    n_regions: int = 60,
    *,
    scatter: Literal["random", "stratified"] = "random",
    seed: int | np.random.Generator = 0,
    peak_G: tuple[float, float] = (300.0, 1500.0),
    size_deg: tuple[float, float] = (0.8, 1.5),
    separation_deg: tuple[float, float] = (3.0, 7.0),
    joy_deg: float = 32.1,
    tilt_scatter_deg: float = 8.0,
) -> Regions:
    """Draw ``n_regions`` bipoles per hemisphere along the given toroids (see module docstring)."""
    rng = np.random.default_rng(seed)
    parts = []
    for hemi, tor in ((1, north), (-1, south)):
        if tor is None or n_regions <= 0:
            continue
        if scatter == "random":
            n = n_regions
            lon = rng.uniform(0.0, 360.0, n)
            offset = rng.normal(0.0, tor.width_deg / math.sqrt(2.0), n)
            peak = np.exp(rng.uniform(math.log(peak_G[0]), math.log(peak_G[1]), n))
            size = rng.uniform(*size_deg, n)
            sep = rng.uniform(*separation_deg, n)
            tscat = rng.normal(0.0, tilt_scatter_deg, n)
        elif scatter == "stratified":
            k = max(1, n_regions // 2)
            q = (np.arange(k) + 0.5) / k
            absd = tor.width_deg / math.sqrt(2.0) * ndtri(0.5 + 0.5 * q)
            absd = rng.permutation(absd)
            # pair longitudes: jittered regular grid, randomly rotated
            lon1 = np.mod((np.arange(k) + rng.uniform(0.0, 1.0, k)) * 360.0 / k + rng.uniform(0, 360), 360.0)

            def pair(a):
                return np.concatenate([a, a])

            lon = pair(lon1)
            peak1 = np.exp(rng.uniform(math.log(peak_G[0]), math.log(peak_G[1]), k))
            size1 = rng.uniform(*size_deg, k)
            # rescale so that the flux-weighted second moment of the offsets is exactly w^2 / 2
            flux = peak1 * size1**2
            absd = absd * (tor.width_deg / math.sqrt(2.0)) / math.sqrt(np.sum(flux * absd**2) / np.sum(flux))
            offset = np.concatenate([absd, -absd])
            peak = pair(peak1)
            size = pair(size1)
            sep = pair(rng.uniform(*separation_deg, k))
            tscat = pair(rng.normal(0.0, tilt_scatter_deg, k))
            n = 2 * k
        else:
            raise ValueError(f"scatter must be 'random' or 'stratified', got {scatter!r}")
        lat = tor.centre_lat_deg(lon) + offset
        lat = np.clip(lat, -89.0, 89.0)
        tilt = joy_deg * np.sin(np.radians(np.abs(lat))) + tscat
        parts.append(
            {
                "lat": lat,
                "lon": lon,
                "leading": np.full(n, -tor.sign),
                "tilt_deg": tilt,
                "separation_deg": sep,
                "size_deg": size,
                "peak_G": peak,
                "hemisphere": np.full(n, hemi),
            }
        )
    if not parts:
        e = np.zeros(0)
        return Regions(e, e, e, e, e, e, e, e)
    return Regions(**{key: np.concatenate([p[key] for p in parts]) for key in parts[0]})


def _paint_patch(
    br: np.ndarray, lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float, size: float, amp: float
) -> None:
    """Add amp * exp(-dist^2 / (2 size^2)) around (lat0, lon0), tangent-plane distance, periodic in lon."""
    reach = 4.0 * size
    rows = np.nonzero(np.abs(lat - lat0) <= reach)[0]
    if rows.size == 0:
        return
    coslat = max(math.cos(math.radians(min(abs(lat0) + reach, 89.5))), 1e-3)
    dlon_reach = min(180.0, reach / coslat)
    dlon = (lon - lon0 + 180.0) % 360.0 - 180.0
    cols = np.nonzero(np.abs(dlon) <= dlon_reach)[0]
    if cols.size == 0:
        return
    dy = lat[rows][:, None] - lat0
    dx = dlon[cols][None, :] * np.cos(np.radians(lat[rows]))[:, None]
    br[np.ix_(rows, cols)] += amp * np.exp(-(dx * dx + dy * dy) / (2.0 * size * size))


def paint_map(
    regions: Regions,
    *,
    nlat: int = 360,
    nlon: int = 720,
    grid: Literal["sine", "uniform"] = "sine",
    lon_shift_px: float = 0.1,
    noise_G: float = 5.0,
    network_G: float = 15.0,
    seed: int | np.random.Generator = 0,
    cr: int = 2280,
) -> xr.Dataset:
    """Render regions, network and noise on a synoptic grid; the load_synoptic Dataset contract."""
    rng = np.random.default_rng(seed)
    lat, lon = map_grid(nlat, nlon, grid, lon_shift_px)
    br = np.zeros((nlat, nlon))
    for i in range(len(regions)):
        half = 0.5 * regions.separation_deg[i]
        t = math.radians(regions.tilt_deg[i])
        lat_c, lon_c = regions.lat[i], regions.lon[i]
        # leading polarity: east (+lon) and towards the equator by the tilt
        dlat = -math.copysign(1.0, lat_c if lat_c != 0 else regions.hemisphere[i]) * half * math.sin(t)
        dlon = half * math.cos(t) / max(math.cos(math.radians(lat_c)), 1e-3)
        lead = regions.leading[i]
        for s, (la, lo) in ((lead, (lat_c + dlat, lon_c + dlon)), (-lead, (lat_c - dlat, lon_c - dlon))):
            _paint_patch(br, lat, lon, la, lo % 360.0, regions.size_deg[i], s * regions.peak_G[i])
    if network_G > 0:
        # row spacing at the equator, degrees
        dlat_px = 180.0 / nlat if grid == "uniform" else math.degrees(2.0 / nlat)
        sig_px = (max(1.0 / dlat_px, 0.5), max(1.0 / (360.0 / nlon), 0.5))
        net = ndimage.gaussian_filter(rng.standard_normal((nlat, nlon)), sig_px, mode=("nearest", "wrap"))
        br += network_G * net / net.std()
    if noise_G > 0:
        br += rng.normal(0.0, noise_G, (nlat, nlon))
    start = _CR2280_START + _dt.timedelta(days=(cr - 2280) * _CARRINGTON_SYNODIC_DAYS)
    stop = start + _dt.timedelta(days=_CARRINGTON_SYNODIC_DAYS)
    return xr.Dataset(
        {"Br": (("lat", "lon"), br, {"units": "G", "long_name": "radial magnetic field"})},
        coords={"lat": ("lat", lat, {"units": "deg"}), "lon": ("lon", lon, {"units": "deg"})},
        attrs={
            "cr": int(cr),
            "instrument": "synthetic",
            "t_start": start.isoformat(timespec="milliseconds"),
            "t_stop": stop.isoformat(timespec="milliseconds"),
            "source": "pinn.toroids.synthetic",
            "grid": "sine-latitude" if grid == "sine" else "uniform",
            "n_regions": len(regions),
        },
    )


def synthetic_map(
    north: HemisphereToroid | None,
    south: HemisphereToroid | None,
    *,
    n_regions: int = 60,
    scatter: Literal["random", "stratified"] = "random",
    seed: int = 0,
    nlat: int = 360,
    nlon: int = 720,
    grid: Literal["sine", "uniform"] = "sine",
    noise_G: float = 5.0,
    network_G: float = 15.0,
    cr: int = 2280,
    **region_kwargs,
) -> xr.Dataset:
    """A synthetic synoptic map with known toroids (``north``/``south``; None leaves a hemisphere empty).

    ``region_kwargs`` go to :func:`draw_regions` (peak_G, size_deg, separation_deg, joy_deg, tilt_scatter_deg).
    Any grid size works (e.g. ``nlat=1440, nlon=3600`` for full-resolution HMI).
    """
    rng = np.random.default_rng(seed)
    regions = draw_regions(north, south, n_regions, scatter=scatter, seed=rng, **region_kwargs)
    return paint_map(
        regions, nlat=nlat, nlon=nlon, grid=grid, noise_G=noise_G, network_G=network_G, seed=rng, cr=cr
    )


def synthetic_sequence(
    north: HemisphereToroid | None, south: HemisphereToroid | None, crs: list[int], *, seed: int = 0, **kwargs
) -> xr.Dataset:
    """Maps of several rotations with the same toroids and independent regions: ``Br(cr, lat, lon)``.

    Laid out like ``pinn.data.observations.load_sequence`` (per-rotation coordinates t_start, t_stop,
    instrument, source along ``cr``).
    """
    maps = [synthetic_map(north, south, seed=seed + 7919 * i, cr=c, **kwargs) for i, c in enumerate(crs)]
    first = maps[0]
    return xr.Dataset(
        {"Br": xr.concat([m["Br"] for m in maps], dim="cr")},
        coords={
            "cr": ("cr", np.array([m.attrs["cr"] for m in maps], dtype=np.int64)),
            "t_start": ("cr", np.array([np.datetime64(m.attrs["t_start"], "ns") for m in maps])),
            "t_stop": ("cr", np.array([np.datetime64(m.attrs["t_stop"], "ns") for m in maps])),
            "instrument": ("cr", np.array([m.attrs["instrument"] for m in maps], dtype=object)),
            "source": ("cr", np.array([m.attrs["source"] for m in maps], dtype=object)),
        },
        attrs={"grid": first.attrs["grid"]},
    )
