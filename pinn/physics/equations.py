"""The MHD shallow-water tachocline (MHD-SWT) equations: the one place they are written.

Gilman (2000, ApJ 544, L79); Dikpati & Gilman (2001, ApJ 551, 536). Nondimensional units
(:mod:`pinn.physics.units`): length r0, time 1/Omega, velocity r0*Omega, field in Alfven-speed units
over r0*Omega; shell thickness h with undisturbed value 1; G the effective gravity of the layer.
Latitude ``lat`` and longitude ``lon`` are in radians here.

Two forms, built on the same parameter object and the same pointwise pieces:

* :func:`primitive_residuals`: pointwise residuals of the primitive-variable equations for (u, v, h,
  a, b), given values and first derivatives. The PINN evaluates them with JAX autodiff.
* The vector-invariant pieces (:func:`momentum_forcing`, :func:`bernoulli`, :func:`mass_flux`,
  :func:`flux_function_tendency`) that a spectral solver composes into tendencies of vorticity,
  divergence, h and the flux function A:

      d zeta/dt  = curl(F),      d delta/dt = div(F) - lap(B),
      dh/dt      = -div(h u),    dA/dt      = -u . grad A,

  with F = -(zeta + f) k x u + j k x (a, b) and B = |u|^2/2 - |b|^2/2 + G h.

All functions are pure, broadcast over arrays, and work with ``jax.numpy`` (the default) or ``numpy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp


@dataclass(frozen=True)
class SWTParams:
    """Nondimensional parameters shared by the PINN residual and the solver.

    Attributes:
      gravity: effective gravity G of the stratified layer (order 10 radiative, 0.1-1 overshoot).
      rotation_rate: frame rotation in model units (1 for the Sun's own units; lets Earth test cases
        reuse the equations with f = 2 * rotation_rate * sin(lat)).
      axis_tilt: angle (radians) between the rotation axis and the coordinate pole; nonzero only for
        the rotated Williamson test cases.
    """

    gravity: float = 10.0
    rotation_rate: float = 1.0
    axis_tilt: float = 0.0


class Fields(NamedTuple):
    """Primitive variables (or their derivatives) at a set of points."""

    u: jnp.ndarray  # eastward velocity
    v: jnp.ndarray  # northward velocity
    h: jnp.ndarray  # shell thickness
    a: jnp.ndarray  # eastward (toroidal) field
    b: jnp.ndarray  # northward (poloidal) field


class Residuals(NamedTuple):
    """Residuals of the six MHD-SWT equations (zero for an exact solution)."""

    momentum_u: jnp.ndarray
    momentum_v: jnp.ndarray
    mass: jnp.ndarray
    induction_a: jnp.ndarray
    induction_b: jnp.ndarray
    solenoidal: jnp.ndarray  # div(h (a, b))


def coriolis(lat, lon, params: SWTParams):
    """Coriolis parameter f = 2 Omega (sin lat cos alpha - cos lat cos lon sin alpha)."""
    if params.axis_tilt == 0.0:
        return 2.0 * params.rotation_rate * jnp.sin(lat)
    return (
        2.0
        * params.rotation_rate
        * (jnp.sin(lat) * jnp.cos(params.axis_tilt) - jnp.cos(lat) * jnp.cos(lon) * jnp.sin(params.axis_tilt))
    )


def primitive_residuals(
    lat, lon, q: Fields, dt: Fields, dlat: Fields, dlon: Fields, params: SWTParams
) -> Residuals:
    """Pointwise residuals of the primitive-variable MHD-SWT equations (docs/science.md section 2).

    Args:
      lat, lon: point coordinates (radians).
      q: values of (u, v, h, a, b) at the points.
      dt, dlat, dlon: their partial derivatives in time, latitude and longitude.
      params: shared parameters.

    Returns:
      The residual of each equation, unscaled. Near the poles the 1/cos and tan metric terms grow;
      callers that need bounded residuals multiply by cos(lat).
    """
    u, v, h, a, b = q
    c = jnp.cos(lat)
    s = jnp.sin(lat)
    t = s / c
    f = coriolis(lat, lon, params)
    g = params.gravity

    def advect(vel_u, vel_v, d_lon, d_lat):
        return vel_u / c * d_lon + vel_v * d_lat

    momentum_u = (
        dt.u
        + advect(u, v, dlon.u, dlat.u)
        - u * v * t
        - f * v
        + g / c * dlon.h
        - advect(a, b, dlon.a, dlat.a)
        + a * b * t
    )
    momentum_v = (
        dt.v
        + advect(u, v, dlon.v, dlat.v)
        + u * u * t
        + f * u
        + g * dlat.h
        - advect(a, b, dlon.b, dlat.b)
        - a * a * t
    )
    mass = dt.h + (dlon.h * u + h * dlon.u) / c + dlat.h * v + h * dlat.v - h * v * t
    induction_a = dt.a + advect(u, v, dlon.a, dlat.a) - u * b * t - advect(a, b, dlon.u, dlat.u) + a * v * t
    induction_b = dt.b + advect(u, v, dlon.b, dlat.b) - advect(a, b, dlon.v, dlat.v)
    solenoidal = (dlon.h * a + h * dlon.a) / c + dlat.h * b + h * dlat.b - h * b * t
    return Residuals(momentum_u, momentum_v, mass, induction_a, induction_b, solenoidal)


# ---------------------------------------------------------------------------------------------
# Vector-invariant pieces for the spectral solver


def momentum_forcing(u, v, a, b, vorticity, current, f):
    """Non-gradient momentum forcing F = -(zeta + f) k x (u, v) + j k x (a, b); returns (F_u, F_v)."""
    absolute = vorticity + f
    return absolute * v - current * b, -absolute * u + current * a


def bernoulli(u, v, a, b, h, params: SWTParams):
    """Bernoulli function |u|^2/2 - |b|^2/2 + G h (its gradient is the rest of the momentum tendency)."""
    return 0.5 * (u * u + v * v) - 0.5 * (a * a + b * b) + params.gravity * h


def mass_flux(u, v, h):
    """Thickness flux h (u, v); dh/dt = -div of it."""
    return h * u, h * v


def field_from_flux_function(dA_dx, dA_dy, h):
    """Field (a, b) from the gradient of A: h a = -dA/dy, h b = dA/dx (x eastward, y northward)."""
    return -dA_dy / h, dA_dx / h


def flux_function_tendency(u, v, dA_dx, dA_dy):
    """dA/dt = -u . grad A: the induction equation once div(h B) = 0 holds through A."""
    return -(u * dA_dx + v * dA_dy)


# ---------------------------------------------------------------------------------------------
# Invariants and balances


def energy_density(u, v, a, b, h, params: SWTParams):
    """Perturbation energy density h (|u|^2 + |b|^2)/2 + G (h - 1)^2 / 2 (docs/science.md section 2: E')."""
    return 0.5 * h * (u * u + v * v + a * a + b * b) + 0.5 * params.gravity * (h - 1.0) ** 2


def steady_axisymmetric_dh_dlat(lat, u, a, params: SWTParams):
    """dh/dlat that makes an axisymmetric zonal state (v = b = 0) exactly steady.

    From the v-momentum equation: u^2 tan + f u = -G dh/dlat + a^2 tan.
    """
    t = jnp.tan(lat)
    f = 2.0 * params.rotation_rate * jnp.sin(lat)
    return (a * a * t - u * u * t - f * u) / params.gravity


@dataclass(frozen=True)
class ZonalFlow:
    """Background rotation of the tachocline in the core frame, u0 = cos(lat)(s0 + s2 sin^2 + s4 sin^4).

    Defaults (assumptions: a tachocline-scale shear of the order of helioseismic profiles, equator
    rotating with the core) are the run configuration's ``physics.s0, s2, s4``. The flow is not observed:
    sweep it.
    """

    s0: float = 0.0
    s2: float = -0.1264
    s4: float = -0.1591

    def __call__(self, lat):
        return differential_rotation(lat, self.s0, self.s2, self.s4)


def differential_rotation(lat, s0: float, s2: float, s4: float):
    """Tachocline zonal flow in the core frame, u0 = cos(lat) (s0 + s2 sin^2 + s4 sin^4)."""
    s2l = jnp.sin(lat) ** 2
    return jnp.cos(lat) * (s0 + s2 * s2l + s4 * s2l * s2l)


def jet_velocity(lat, u0, a, params: SWTParams):
    """Prograde jet u_j whose Coriolis and curvature force balance the hoop stress a^2 tan of a band.

    With the band's h unchanged, the v-momentum balance of an axisymmetric state u0 + u_j reads
    u_j^2 + 2 (u0 + Omega cos) u_j - a^2 = 0; this is its root vanishing with a, written without
    cancellation (docs/science.md section 2: jet-balanced bands).
    """
    base = u0 + params.rotation_rate * jnp.cos(lat)
    root = jnp.sqrt(base * base + a * a)
    denom = base + jnp.where(base >= 0, root, -root)
    safe = jnp.where(denom != 0, denom, 1.0)
    return jnp.where(denom != 0, a * a / safe, 0.0)


def drift_frame_tendency(d_dlon, pattern_speed):
    """d/dt of a field steady in a frame drifting eastward at ``pattern_speed``: -c dX/dlon."""
    return -pattern_speed * d_dlon


def axisymmetric_thickness(lat, u, a, params: SWTParams, mean_h: float = 1.0):
    """h(lat) of an exactly steady axisymmetric state, tabulated on a fine latitude grid (numpy).

    :func:`steady_axisymmetric_dh_dlat` integrated by the trapezoid rule along axis 0 (``lat``
    ascending, radians, pole to pole; ``u`` and ``a`` of shape (lat, ...) for one column per longitude),
    then shifted so that each column's area (cos lat) mean is ``mean_h``. Non-finite end-point values of
    dh/dlat (tan at the poles, where a = 0 and u ~ cos) count as zero.
    """
    import numpy as np

    lat = np.asarray(lat, np.float64)
    u, a = np.asarray(u, np.float64), np.asarray(a, np.float64)
    col = (slice(None),) + (None,) * (u.ndim - 1)
    with np.errstate(all="ignore"):
        dh = np.asarray(steady_axisymmetric_dh_dlat(lat[col], u, a, params), np.float64)
    dh = np.nan_to_num(dh, nan=0.0, posinf=0.0, neginf=0.0)
    step = 0.5 * (dh[1:] + dh[:-1]) * np.diff(lat)[col]
    h = np.concatenate([np.zeros_like(dh[:1]), np.cumsum(step, axis=0)])
    w = np.cos(lat)
    mean = np.trapezoid(h * w[col], lat, axis=0) / np.trapezoid(w, lat)
    return h + (mean_h - mean)
