"""Strength of a toroid along its band: s(lon), the observed flux per longitude, normalised to mean 1.

The toroid fit (:mod:`pinn.toroids.fit`) gives a centre line and a width; the flux of the strong pixels
is not spread evenly along it (active regions come in nests). Per hemisphere and map, each strong pixel
(the pixels the fit uses: ``|Br| > threshold_G``, ``|lat| <= lat_limit_deg``) contributes its unsigned
flux ``|Br| area`` times the band profile ``exp(-((lat - lam_c(lon)) / w)^2)`` at its own longitude to a
1-degree longitude bin (so flux far from the band counts little); the maps of a window are stacked with
their window weights, in the target's Carrington frame, exactly as the fit stacks them. The stack is
smoothed by the periodic Gaussian ``exp(-(dlon / L)^2)`` (``L = toroids.strength_smoothing_deg``),
sampled every :data:`SAMPLE_STEP_DEG` degrees from longitude 0 and divided by its mean:

    s(lon_k) = F(lon_k) / mean(F),   lon_k = k * SAMPLE_STEP_DEG.

Uncertainty: the delete-one-unit jackknife of s(lon_k), ``sd^2 = (G-1)/G sum_c (s_(-c) - mean s_(-c))^2``,
with the window's maps as units when it has two or more, else (one map) the longitude strips of
``strip_deg`` (the fit's independent units). It is the sampling error of a few active regions carrying
most of the flux, so it is large where one region makes the peak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pinn.physics.bands import Band

SAMPLE_STEP_DEG = 5.0  # s(lon) is stored at lon = 0, 5, ..., 355 (72 samples; L >= 10 deg is well resolved)
_FINE = 360  # 1-degree bins of the per-map flux


def map_band_flux(
    br: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    area: np.ndarray,
    band: Band,
    threshold_G: float,
    lat_limit_deg: float,
    lon_shift_deg: float = 0.0,
) -> np.ndarray:
    """Band-profile-weighted unsigned strong flux of one map per 1-degree longitude bin (bin k centred on k deg).

    ``br`` (lat, lon) in gauss, ``area`` the relative row areas, ``lon_shift_deg`` the shift into the target
    rotation's frame (as the fit applies it). Units: G x relative area.
    """
    north = band.lat0_deg > 0
    rows = np.nonzero(((lat > 0) if north else (lat < 0)) & (np.abs(lat) <= lat_limit_deg))[0]
    sub = br[rows]
    with np.errstate(invalid="ignore"):
        iy, ix = np.nonzero(np.abs(sub) > threshold_G)  # NaN compares False
    col_lon = np.mod(lon + lon_shift_deg, 360.0)
    plon = col_lon[ix]
    weight = np.abs(sub[iy, ix]) * area[rows][iy] * band.profile(lat[rows][iy], plon)
    bins = np.mod(np.round(plon).astype(np.int64), _FINE)
    return np.bincount(bins, weights=weight, minlength=_FINE)


def smooth_periodic(flux: np.ndarray, scale_deg: float) -> np.ndarray:
    """``flux`` (1-degree bins, periodic) convolved with the unit-sum kernel exp(-(dlon / scale_deg)^2)."""
    m = np.arange(flux.size // 2 + 1)
    gain = np.exp(-((math.pi * m * scale_deg / 360.0) ** 2))
    return np.fft.irfft(np.fft.rfft(flux) * gain, n=flux.size)


def _normalised(flux: np.ndarray, scale_deg: float) -> np.ndarray:
    step = round(SAMPLE_STEP_DEG)
    f = smooth_periodic(flux, scale_deg)[::step]
    mean = float(f.mean())
    return f / mean if mean > 0 else np.ones_like(f)


def strength_profile(units: Sequence[np.ndarray], scale_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """s(lon_k) (mean 1) of the summed 1-degree flux ``units`` and its delete-one-unit jackknife sd.

    ``units``: the independent parts of the flux (one array per map of a window, or per longitude strip of
    one map), already weighted. With fewer than two non-empty units the sd is zero (nothing to compare).
    """
    total = np.sum(units, axis=0)
    s = _normalised(total, scale_deg)
    used = [u for u in units if np.any(u > 0)]
    G = len(used)
    if G < 2:
        return s, np.zeros_like(s)
    loo = np.stack([_normalised(total - u, scale_deg) for u in used])
    sd = np.sqrt((G - 1.0) / G * np.sum((loo - loo.mean(axis=0)) ** 2, axis=0))
    return s, sd


def strip_units(flux: np.ndarray, strip_deg: float) -> list[np.ndarray]:
    """``flux`` (1-degree bins) split into longitude strips of ``strip_deg`` (the fit's independent units)."""
    strip = np.minimum((np.arange(flux.size) / strip_deg).astype(np.int64), math.ceil(360.0 / strip_deg) - 1)
    return [np.where(strip == c, flux, 0.0) for c in range(int(strip.max()) + 1)]


def sample_lon_deg(n: int) -> np.ndarray:
    """Longitudes (deg) of ``n`` samples of s(lon): 0, 360/n, ..."""
    return np.arange(n) * (360.0 / n)


