"""Initial states for the MHD-SWT solver: test cases, balanced backgrounds, toroidal bands, perturbations.

All builders return a modal :class:`pinn.physics.solver.State` for a given :class:`Solver` and check that
h > 0 everywhere (:class:`pinn.errors.PinnError` otherwise). Nodal inputs and outputs are (lat, lon)
arrays on the solver grid, model units (:mod:`pinn.physics.units`), angles in radians unless named
``*_deg``.

Toroidal bands (:class:`pinn.physics.bands.Band`, one per hemisphere) are built through the flux
function A (:func:`pinn.physics.bands.flux_function`), so div(h B) = 0 holds exactly and b follows from
A; a = (h a) / h follows the centre line (its peak differs from a0 by the factor 1/h, i.e. by the
relative thickness perturbation) and b = (1/(h cos)) dA/dphi is the poloidal field of a warped band.

Balances (docs/science.md section 2; axisymmetric exact, applied per longitude for warped bands):

* ``"pressure"``: u = u0 (background rotation); h from u^2 tan + f u = -G dh/dlat + a^2 tan with the
  band's a (fixed point, since a = (h a)/h depends on h).
* ``"jet"``: v = b = 0 for a zonal band; h is the background's balanced thickness h0 (unchanged by the
  band) and u = u0 + u_j, the prograde jet of :func:`pinn.physics.equations.jet_velocity` whose
  Coriolis (and curvature) force balances the hoop stress a^2 tan.
* ``"none"``: u = u0 with h0 of the background alone (the 'naive' start of docs/science.md section 4).

For a warped band the per-longitude balance is the 'classical' start of docs/science.md section 4; it is not steady
(u varies with longitude while v = 0, so the flow is divergent). The thickness is obtained from its
latitude gradient by a spectral least-squares fit, h = 1 + lap^-1 div(0, dh/dlat), which is exact for an
axisymmetric balance and regular at the poles otherwise; its area mean is 1 (the undisturbed layer).

Zonal states are finally put in *discrete* balance (:func:`pinn.physics.balance.discrete_balance`): h is corrected so that the
solver's own divergence tendency vanishes to round-off (as dinosaur's ``shallow_water_states.one_layer``
does for the hydrodynamic case). The correction is of the size of the truncation error of the band
(tiny for resolved bands) and is what makes an equilibrium stay steady to round-off.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import jax.numpy as jnp
import numpy as np
from dinosaur import spherical_harmonic

from pinn.errors import PinnError
from pinn.physics import equations as eq
from pinn.physics.balance import discrete_balance
from pinn.physics.bands import (
    DEFAULT_LAT0_DEG,
    DEFAULT_STRENGTH_KG,
    DEFAULT_WIDTH_DEG,
    Band,
    antisymmetric_pair,
    flux_density,
    flux_function,
    gaussian_profile,
)
from pinn.physics.equations import SWTParams
from pinn.physics.solver import Solver, State, check_thickness
from pinn.physics.units import ModelUnits

Balance = Literal["pressure", "jet", "none"]


# ---------------------------------------------------------------------------------------------
# Williamson et al. (1992) test case 2: steady zonal geostrophic flow, possibly with a tilted axis


@dataclasses.dataclass(frozen=True)
class WilliamsonEarth:
    """Earth constants of Williamson et al. (1992, J. Comput. Phys. 102, 211), test case 2."""

    radius_m: float = 6.37122e6
    omega_s: float = 7.292e-5
    gravity_m_s2: float = 9.80616
    gh0_m2_s2: float = 2.94e4  # g h0
    u0_m_s: float = 2.0 * math.pi * 6.37122e6 / (12.0 * 86400.0)  # one revolution in 12 days

    @property
    def velocity_unit(self) -> float:
        return self.radius_m * self.omega_s

    @property
    def G(self) -> float:
        """Nondimensional gravity g h0 / (a Omega)^2 with h in units of h0."""
        return self.gh0_m2_s2 / self.velocity_unit**2

    @property
    def u0(self) -> float:
        return self.u0_m_s / self.velocity_unit

    def days_to_model(self, days: float) -> float:
        return days * 86400.0 * self.omega_s

    def model_to_days(self, t):
        return np.asarray(t) / (86400.0 * self.omega_s)


WILLIAMSON = WilliamsonEarth()


def williamson2_params(alpha: float = 0.0, earth: WilliamsonEarth = WILLIAMSON) -> SWTParams:
    """Model parameters of test case 2 made dimensionless (length a, time 1/Omega, h / h0)."""
    return SWTParams(gravity=earth.G, rotation_rate=1.0, axis_tilt=float(alpha))


def williamson2_fields(lat, lon, alpha: float = 0.0, earth: WilliamsonEarth = WILLIAMSON):
    """Analytic (u, v, h) of test case 2 at the given points (all dimensionless)."""
    u0, G = earth.u0, earth.G
    u = u0 * (np.cos(lat) * np.cos(alpha) + np.cos(lon) * np.sin(lat) * np.sin(alpha))
    v = -u0 * np.sin(lon) * np.sin(alpha)
    z = -np.cos(lon) * np.cos(lat) * np.sin(alpha) + np.sin(lat) * np.cos(alpha)
    h = 1.0 - (u0 + 0.5 * u0**2) / G * z**2
    return u, v, h


def williamson2_state(solver: Solver, alpha: float = 0.0, earth: WilliamsonEarth = WILLIAMSON) -> State:
    """Initial (and exact steady) state of test case 2; the solver must use :func:`williamson2_params`."""
    lat, lon = solver.lat_lon_rad
    u, v, h = williamson2_fields(lat, lon, alpha, earth)
    check_thickness(h, "williamson2 state")
    return solver.from_nodal(u, v, h, np.zeros_like(h))


def l2_error(solver: Solver, field, reference) -> float:
    """Williamson's normalised l2 error sqrt(I[(x - x_T)^2] / I[x_T^2]) (area-weighted)."""
    w = solver.quadrature_weights
    x, ref = np.asarray(field, np.float64), np.asarray(reference, np.float64)
    return float(np.sqrt(np.sum(w * (x - ref) ** 2) / np.sum(w * ref**2)))


# ---------------------------------------------------------------------------------------------
# Toroidal bands (described in pinn.physics.bands)


def strength_from_kG(kG: float, units: ModelUnits | None = None) -> float:
    """Peak toroidal field in model units for a field in kG (field unit of ``units``, default solar)."""
    import astropy.units as u

    return (units or ModelUnits.solar()).field_to_model(kG * u.kG)


# ---------------------------------------------------------------------------------------------
# Balances


def thickness_from_gradient(solver: Solver, dh_dlat, mean: float = 1.0) -> np.ndarray:
    """h (lat, lon) whose latitude gradient best fits ``dh_dlat`` (spectral least squares), area mean ``mean``.

    h - mean = lap^-1 div((0, dh/dlat)): exact when dh/dlat is the gradient of a zonal field.
    """
    g = solver.grid
    with solver.precision():
        y = solver.nodal_to_modal(np.asarray(dh_dlat) / np.cos(solver.lat_lon_rad[0]))
        dh = g.inverse_laplacian(g.div_cos_lat((jnp.zeros_like(y), y)))
        dh = spherical_harmonic.add_constant(dh, mean - 1.0)
        return 1.0 + np.asarray(solver.modal_to_nodal(dh), np.float64)


def background_thickness(solver: Solver, u, a=None, max_iter: int = 100, tol: float = 1e-15) -> np.ndarray:
    """h in axisymmetric balance with zonal flow u and field a (both (lat, lon), or a None).

    With a given as ``(h a)`` flux density (callable or array, see :func:`band_state`), the balance is
    iterated to a fixed point because a = (h a) / h.
    """
    lat = solver.lat_lon_rad[0]
    params = solver.params
    if a is None:
        return thickness_from_gradient(solver, eq.steady_axisymmetric_dh_dlat(lat, u, 0.0 * u, params))
    flux_density = np.asarray(a)
    h = np.ones_like(flux_density)
    for _ in range(max_iter):
        dh = np.asarray(eq.steady_axisymmetric_dh_dlat(lat, u, flux_density / h, params), np.float64)
        new = thickness_from_gradient(solver, dh)
        change = float(np.max(np.abs(new - h)))
        h = new
        if change < tol:
            break
    return h


def background_state(solver: Solver, flow: eq.ZonalFlow | None = None) -> State:
    """Differential rotation u0 (``flow``, default :class:`~pinn.physics.equations.ZonalFlow`) with balanced h."""
    lat, _ = solver.lat_lon_rad
    u0 = np.asarray((flow or eq.ZonalFlow())(lat), np.float64)
    h = background_thickness(solver, u0)
    check_thickness(h, "background state")
    state = solver.from_nodal(u0, np.zeros_like(u0), h, np.zeros_like(u0))
    return discrete_balance(solver, state)[0]


def band_state(
    solver: Solver,
    bands: Sequence[Band] | None = None,
    strength: float | None = None,
    balance: Balance = "pressure",
    flow: eq.ZonalFlow | None = None,
    discrete: bool | None = None,
) -> State:
    """Background rotation plus toroidal bands built through A, balanced as ``balance`` (module docstring).

    Args:
      solver: the solver whose grid and parameters (G) are used.
      bands: per-hemisphere bands (default: :func:`pinn.physics.bands.antisymmetric_pair`).
      strength: peak h a in model units (default: :data:`pinn.physics.bands.DEFAULT_STRENGTH_KG` in
        solar units).
      balance: 'pressure', 'jet' or 'none'.
      flow: the background rotation u0 (default :class:`~pinn.physics.equations.ZonalFlow`).
      discrete: apply :func:`discrete_balance` (default: when every band is zonal).
    """
    bands = antisymmetric_pair() if bands is None else tuple(bands)
    strength = strength_from_kG(DEFAULT_STRENGTH_KG) if strength is None else float(strength)
    if balance not in ("pressure", "jet", "none"):
        raise PinnError(f"balance must be 'pressure', 'jet' or 'none', got {balance!r}")
    lat, lon = solver.lat_lon_rad
    u0 = np.asarray((flow or eq.ZonalFlow())(lat), np.float64)
    flux = flux_density(lat, lon, bands, strength)
    A = flux_function(lat, lon, bands, strength)
    if balance == "pressure":
        u = u0
        h = background_thickness(solver, u0, flux)
    else:
        h = background_thickness(solver, u0)
        u = u0 + (np.asarray(eq.jet_velocity(lat, u0, flux / h, solver.params), np.float64) if balance == "jet" else 0.0)
    check_thickness(h, f"band state ({balance}-balanced)")
    state = solver.from_nodal(u, np.zeros_like(u), h, A)
    zonal = all(band.is_zonal and band.is_uniform for band in bands)
    if (zonal if discrete is None else discrete) and balance != "none":
        state = discrete_balance(solver, state)[0]
        check_thickness(solver.to_nodal(state)["h"], f"band state ({balance}-balanced)")
    return state


# ---------------------------------------------------------------------------------------------
# Perturbations


def add_nodal_perturbation(
    solver: Solver,
    state: State,
    u=None,
    v=None,
    h=None,
    A=None,
    a=None,
    b=None,
    scale: float = 1.0,
    check: bool = True,
) -> State:
    """Add nodal perturbation fields (lat, lon) to a base state: the hook for linear eigenfunctions.

    ``u, v`` (velocity), ``h`` (thickness), and either ``A`` (flux function) or ``a, b`` (field).
    Given (a', b'), the flux-function perturbation is the spectral least-squares solution of
    grad A' = (h b)', -(h a)' with (h a)' = h0 a' + h' a0 (linearised about the base state), i.e.
    A' = lap^-1 div((h b)', -(h a)'), exact for a solenoidal linear perturbation. Everything is
    multiplied by ``scale``; missing fields are zero.
    """
    if A is not None and (a is not None or b is not None):
        raise PinnError("give the field perturbation either as A or as (a, b), not both")
    g = solver.grid
    shape = (len(solver.lat), len(solver.lon))
    z = np.zeros(shape)
    du, dv, dh = (np.zeros(shape) if x is None else np.broadcast_to(np.asarray(x, np.float64), shape) for x in (u, v, h))
    base = solver.to_nodal(state)
    if A is None and (a is not None or b is not None):
        da = z if a is None else np.broadcast_to(np.asarray(a, np.float64), shape)
        db = z if b is None else np.broadcast_to(np.asarray(b, np.float64), shape)
        h0, a0, b0 = (np.asarray(base[k], np.float64) for k in ("h", "a", "b"))
        flux_a = h0 * da + dh * a0
        flux_b = h0 * db + dh * b0
        sec = 1.0 / np.cos(solver.lat_lon_rad[0])
        with solver.precision():
            x = solver.nodal_to_modal(flux_b * sec)
            y = solver.nodal_to_modal(-flux_a * sec)
            dA_modal = g.inverse_laplacian(g.div_cos_lat((x, y)))
    else:
        dA_modal = solver.nodal_to_modal(z if A is None else np.broadcast_to(np.asarray(A, np.float64), shape))
    pert = solver.from_nodal(du, dv, 1.0 + dh, z)
    with solver.precision():
        new = State(
            state.vorticity + scale * pert.vorticity,
            state.divergence + scale * pert.divergence,
            state.h + scale * pert.h,
            state.A + scale * dA_modal,
        )
    if check:
        check_thickness(solver.to_nodal(new)["h"], "perturbed state")
    return new


def parity_error(nodal: dict) -> float:
    """Largest relative departure of nodal fields (lat on axis -2, symmetric about the equator) from the
    antisymmetric parity class: u, h, b symmetric and v, a antisymmetric in latitude."""
    worst = 0.0
    for key in ("u", "v", "h", "a", "b"):
        x = np.asarray(nodal[key])
        mirrored = x[..., ::-1, :]
        sym = key in ("u", "h", "b")
        err = np.max(np.abs(x - (mirrored if sym else -mirrored))) / max(np.max(np.abs(x)), 1e-300)
        worst = max(worst, float(err))
    return worst


def mode_perturbation(solver: Solver, m: int, amplitude: float, lat0_deg: float = DEFAULT_LAT0_DEG,
                      width_deg: float = DEFAULT_WIDTH_DEG, phase_deg: float = 0.0, symmetric: bool = True):
    """amplitude * [g(lat - lat0) +- g(lat + lat0)] cos(m lon + phase), g Gaussian of width w; (lat, lon).

    ``symmetric=True`` (default) gives a field symmetric about the equator: added to h or A it keeps a
    state in the antisymmetric parity class (a, v antisymmetric; u, h, b, A symmetric).
    """
    lat, lon = solver.lat_lon_rad
    w = math.radians(width_deg)
    lat0 = math.radians(lat0_deg)
    shape = gaussian_profile(lat - lat0, w) + (1.0 if symmetric else -1.0) * gaussian_profile(lat + lat0, w)
    return amplitude * shape * np.cos(m * lon + math.radians(phase_deg))


def add_mode_perturbation(solver: Solver, state: State, m: int | Sequence[int], amplitude: float,
                          field: Literal["h", "A"] = "h", **kwargs: Any) -> State:
    """Add small longitudinal-wavenumber-m perturbations (:func:`mode_perturbation`) to h or A."""
    ms = [m] if isinstance(m, int) else list(m)
    total = sum(mode_perturbation(solver, mm, amplitude, **kwargs) for mm in ms)
    return add_nodal_perturbation(solver, state, **{field: total})
