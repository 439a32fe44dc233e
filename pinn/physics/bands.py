"""Toroidal bands: the one description of a hemisphere's band of toroidal field.

A band has a centre line (docs/science.md section 3)

    lam_c(phi) = lam_0 + sum_m A_m cos(m phi + Phi_m),

a width w, the latitude profile exp(-((lat - lam_c(phi)) / w)^2), and the sign s of its toroidal field
a. The toroid fit (:mod:`pinn.toroids.fit`) describes the strong-field pixels of a map with it; the PINN's
data term (:mod:`pinn.training.losses`), the solver's starts (:mod:`pinn.physics.states`) and the linear tool's
basic states (:mod:`pinn.physics.linear`) build the field from it. Built through the flux function A, a
set of bands of common peak strength a0 has

    h a = sum_k s_k a0 exp(-((lat - lam_k(phi)) / w_k)^2),
    A   = -sum_k s_k a0 (sqrt(pi) w_k / 2) erf((lat - lam_k(phi)) / w_k),

so -dA/dlat = h a, b = (1/(h cos)) dA/dphi follows the warp, div(h B) = 0 exactly, and A is constant
near each pole.

Strength along the band: a band may carry an observed profile s(phi) (mean 1; ``strength_profile``,
samples at phi_j = j 360/N deg, periodic linear interpolation; empty = uniform, s = 1), so that its peak
flux density is a0 s(phi). A toroidal flux that varies along the band must return somewhere (the flux
through a meridian, -[A] between the poles, is the same at every longitude), so such a band is built as

    A_k = -s_k a0 (sqrt(pi) w_k / 2) [s(phi) erf((lat - lam_k(phi)) / w_k) - (s(phi) - 1) sin(lat)],
    h a = s_k a0 [s(phi) exp(-((lat - lam_k) / w_k)^2) - (s(phi) - 1) (sqrt(pi) w_k / 2) cos(lat)]:

the band's own profile times s(phi), and the difference returned as a broad cos(lat) sheet of relative
amplitude (s - 1) sqrt(pi) w / 2 (0.08 (s - 1) for w = 5 deg); for a Hale pair (opposite signs) the two
sheets cancel where the hemispheres' s agree, i.e. the other hemisphere's band is the return flux. A keeps its uniform-band pole values, so
div(h B) = 0 and the field stays regular at the poles. A uniform band is built by the formulas above
without that term (bit-identical to the uniform construction).

Sign convention (docs/science.md section 2): sign(a) = -sign(leading polarity). In cycle 25 the northern leading
polarity is positive, so a < 0 in the north: :data:`DEFAULT_SIGN_NORTH` = -1, and the south has the
opposite sign (Hale). The dynamics are unchanged under (a, b) -> -(a, b); only the relative sign matters.

Angles are degrees in the band's attributes (as fitted) and radians in the field builders (as the
equations use them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
from scipy.special import erf

# Defaults of a test band. lat0 = 20 deg: typical latitude of the toroids in the rising phase of a cycle
# (assumption; docs/science.md's test band "15-25 degrees"). width = 10 deg: PINNBARDS (Chatterjee & Dikpati, arXiv
# 2512.20747) best agreement "band width of about 10 degrees", read as w of the profile (assumption on the
# definition). North sign -1: cycle 25 (docs/science.md section 2).
DEFAULT_LAT0_DEG = 20.0
DEFAULT_WIDTH_DEG = 10.0
DEFAULT_SIGN_NORTH = -1
DEFAULT_STRENGTH_KG = 20.0  # peak toroidal field: PINNBARDS best agreement 20-30 kG


def wrap_phase_deg(phase: Any) -> Any:
    """Wrap phases (degrees) into (-180, 180]."""
    p = np.mod(np.asarray(phase, dtype=float) + 180.0, 360.0) - 180.0
    p = np.where(p == -180.0, 180.0, p)
    return float(p) if np.ndim(p) == 0 else p


def gaussian_profile(offset, width, xp: Any = np):
    """exp(-(offset / width)^2): the band's latitude profile (same units for both; ``xp`` numpy or jax.numpy)."""
    return xp.exp(-((offset / width) ** 2))


@dataclass(frozen=True)
class Band:
    """One hemisphere's toroidal band.

    Attributes:
      lat0_deg: mean central latitude lam_0, signed (south negative), degrees.
      width_deg: w of the profile exp(-((lat - lam_c)/w)^2), degrees.
      amplitudes_deg, phases_deg: A_m, Phi_m of mode m = 1, 2, ... (index m - 1), degrees. Stored in
        canonical form, A_m >= 0 and Phi_m in (-180, 180]: a negative amplitude becomes |A_m| with the
        phase turned by 180 deg (the same centre line).
      sign: sign of the toroidal field a in the band, +1 or -1.
      strength_profile: s(phi) (mean 1) at phi_j = j * 360 / N deg, j = 0..N-1; empty: uniform (s = 1).
    """

    lat0_deg: float
    width_deg: float
    amplitudes_deg: tuple[float, ...]
    phases_deg: tuple[float, ...]
    sign: int
    strength_profile: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.amplitudes_deg) != len(self.phases_deg):
            raise ValueError("amplitudes_deg and phases_deg must have the same length")
        if self.sign not in (1, -1):
            raise ValueError(f"sign must be +1 or -1, got {self.sign!r}")
        amps = tuple(abs(float(a)) for a in self.amplitudes_deg)
        phases = tuple(
            wrap_phase_deg(float(p) + (180.0 if float(a) < 0 else 0.0))
            for a, p in zip(self.amplitudes_deg, self.phases_deg, strict=True)
        )
        set_ = object.__setattr__
        set_(self, "lat0_deg", float(self.lat0_deg))
        set_(self, "width_deg", float(self.width_deg))
        set_(self, "amplitudes_deg", amps)
        set_(self, "phases_deg", phases)
        set_(self, "sign", int(self.sign))
        set_(self, "strength_profile", tuple(float(x) for x in self.strength_profile))

    @property
    def is_zonal(self) -> bool:
        """True when the centre line has no longitudinal modes (or only zero amplitudes)."""
        return not any(self.amplitudes_deg)

    def centre_lat_deg(self, lon_deg: Any) -> Any:
        """Central latitude lam_c (degrees) at Carrington longitude(s) ``lon_deg`` (degrees)."""
        phi = np.radians(np.asarray(lon_deg, dtype=float))
        lat = np.full(phi.shape, self.lat0_deg)
        for m, (a, p) in enumerate(zip(self.amplitudes_deg, self.phases_deg), start=1):
            lat = lat + a * np.cos(m * phi + math.radians(p))
        return float(lat) if lat.ndim == 0 else lat

    @property
    def is_uniform(self) -> bool:
        """True when the band has no strength profile (s = 1 along it)."""
        return not self.strength_profile

    def strength_at(self, lon_deg: Any) -> Any:
        """s(phi) at longitude(s) ``lon_deg`` (degrees): periodic linear interpolation of the samples; 1 if uniform."""
        lon = np.mod(np.asarray(lon_deg, dtype=float), 360.0)
        if self.is_uniform:
            return np.ones_like(lon) if lon.ndim else 1.0
        n = len(self.strength_profile)
        s = np.interp(lon, np.arange(n + 1) * (360.0 / n), self.strength_profile + self.strength_profile[:1])
        return float(s) if lon.ndim == 0 else s

    def profile(self, lat_deg: Any, lon_deg: Any) -> Any:
        """Band profile exp(-((lat - lam_c(lon)) / w)^2), broadcasting ``lat_deg`` against ``lon_deg``."""
        lat = np.asarray(lat_deg, dtype=float)
        return gaussian_profile(lat - self.centre_lat_deg(lon_deg), self.width_deg)


def antisymmetric_pair(
    lat0_deg: float = DEFAULT_LAT0_DEG,
    width_deg: float = DEFAULT_WIDTH_DEG,
    sign_north: int = DEFAULT_SIGN_NORTH,
    amplitudes_deg: Sequence[float] = (),
    phases_deg: Sequence[float] = (),
) -> tuple[Band, Band]:
    """A north/south pair, mirror images in latitude with opposite signs of a (Hale).

    The pair is in the 'antisymmetric' parity class (a, v antisymmetric; u, h, b symmetric about the
    equator): the south's centre line is the mirror image of the north's.
    """
    north = Band(abs(lat0_deg), width_deg, tuple(amplitudes_deg), tuple(phases_deg), int(sign_north))
    south = Band(-abs(lat0_deg), width_deg, tuple(-x for x in amplitudes_deg), tuple(phases_deg), -int(sign_north))
    return north, south


def flux_density(lat, lon, bands: Sequence[Band], strength: float) -> np.ndarray:
    """h a of the bands: sum_k s_k a0 exp(-((lat - lam_k(lon))/w_k)^2) (radians in, model units out)."""
    out = np.zeros(np.broadcast_shapes(np.shape(lat), np.shape(lon)))
    for band in bands:
        centre = np.radians(band.centre_lat_deg(np.degrees(lon)))
        w = math.radians(band.width_deg)
        if band.is_uniform:
            out = out + band.sign * strength * gaussian_profile(lat - centre, w)
            continue
        s = band.strength_at(np.degrees(lon))
        ret = (s - 1.0) * (math.sqrt(math.pi) * w / 2.0) * np.cos(lat)
        out = out + band.sign * strength * (s * gaussian_profile(lat - centre, w) - ret)
    return out


def flux_function(lat, lon, bands: Sequence[Band], strength: float) -> np.ndarray:
    """A with -dA/dlat = :func:`flux_density` (radians in, model units out); constant near each pole."""
    out = np.zeros(np.broadcast_shapes(np.shape(lat), np.shape(lon)))
    for band in bands:
        centre = np.radians(band.centre_lat_deg(np.degrees(lon)))
        w = math.radians(band.width_deg)
        if band.is_uniform:
            out = out - band.sign * strength * (math.sqrt(math.pi) * w / 2.0) * erf((lat - centre) / w)
            continue
        s = band.strength_at(np.degrees(lon))
        shape = s * erf((lat - centre) / w) - (s - 1.0) * np.sin(lat)
        out = out - band.sign * strength * (math.sqrt(math.pi) * w / 2.0) * shape
    return out


def zonal_flux_density(bands: Sequence[Band], strength: float) -> Callable:
    """h a(lat) of zonal bands as a JAX-traceable function of latitude (radians), for profile-based tools."""
    if not all(band.is_zonal and band.is_uniform for band in bands):
        raise ValueError("zonal_flux_density needs bands without longitudinal modes or strength profiles")
    terms = [(band.sign * strength, math.radians(band.lat0_deg), math.radians(band.width_deg)) for band in bands]

    def a_of_lat(lat):
        return sum(s * gaussian_profile(lat - c, w, jnp) for s, c, w in terms)

    return a_of_lat
