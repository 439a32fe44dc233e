"""Published rotation profiles Omega(lat) = A + B sin^2(lat) + C sin^4(lat) and the zonal flow u0 they give
in the model frame.

The model frame turns at the core rate Omega_f (:class:`pinn.physics.units.ModelUnits`); a rotation
profile seen from it is the zonal flow u0 = cos(lat) (s0 + s2 sin^2 + s4 sin^4) (units r0 Omega_f) with

    s0 = (A - Omega_f) / Omega_f,   s2 = B / Omega_f,   s4 = C / Omega_f.

A pattern advected by u0 alone then turns at Omega(lat) in the inertial frame, i.e. at
Omega(lat) - Omega_Carrington against the Carrington frame.
"""

from __future__ import annotations

import math

import numpy as np

from pinn.physics.equations import ZonalFlow

_URAD_S_TO_NHZ = 1e3 / (2.0 * math.pi)  # 1 urad/s in nHz

# (A, B, C) in nHz, sidereal.
TACHOCLINE_NHZ = (460.7, -62.69, -67.13)
"""Base of the convection zone (r ~ 0.7 R_sun), helioseismic: Charbonneau et al. (1999, ApJ 527, 445) fit to
the GONG/LOWL inversions (same picture as Schou et al. 1998, ApJ 505, 390; review Howe 2009, Living Rev.
Sol. Phys. 6, 1): equator 460.7 nHz, 30 deg 441 nHz, 60 deg 376 nHz; the core below turns at ~433 nHz."""

SURFACE_FEATURES_NHZ = tuple(x * _URAD_S_TO_NHZ for x in (2.902, -0.464, -0.328))
"""Magnetic features at the photosphere, Snodgrass (1983, ApJ 270, 288): 2.902 - 0.464 sin^2 - 0.328 sin^4
urad/s, i.e. +0.11, -0.11, -0.49 deg/day vs Carrington at 10, 20, 30 deg; the rate at which AR nests
are carried (experiments/carrier)."""

PROFILES_NHZ: dict[str, tuple[float, float, float]] = {
    "tachocline": TACHOCLINE_NHZ,
    "surface_features": SURFACE_FEATURES_NHZ,
}


def flow_from_rate(coeffs_nHz: tuple[float, float, float], frame_rate_nHz: float) -> ZonalFlow:
    """The zonal flow u0 in a frame turning at ``frame_rate_nHz`` of the rotation profile (A, B, C) in nHz."""
    a, b, c = (float(x) for x in coeffs_nHz)
    f = float(frame_rate_nHz)
    return ZonalFlow((a - f) / f, b / f, c / f)


def rate_nHz(lat_deg: float | np.ndarray, coeffs_nHz: tuple[float, float, float]) -> np.ndarray:
    """Omega(lat) / 2 pi in nHz of the profile (A, B, C) at latitude(s) ``lat_deg``."""
    s2 = np.sin(np.radians(np.asarray(lat_deg, float))) ** 2
    return coeffs_nHz[0] + coeffs_nHz[1] * s2 + coeffs_nHz[2] * s2 * s2
