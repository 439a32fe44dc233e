"""Linear stability of axisymmetric MHD-SWT states: an eigenvalue problem in latitude per wavenumber m.

The linear operator is NOT written out by hand: it is the Jacobian of
:func:`pinn.physics.equations.primitive_residuals` (the one place the MHD-SWT equations live),
taken by JAX forward-mode autodiff with respect to the values ``q``, the time derivatives ``dt``, the
latitude derivatives ``dlat`` and the longitude derivatives ``dlon`` at each collocation latitude,
about the steady axisymmetric state. With a perturbation

    q'(lat, lon, t) = Re[ q_hat(lat) exp(i (m lon - omega t)) ],

every residual R is linearised as

    R' = J_q q' + J_dt (-i omega q') + J_dlat (D q') + J_dlon (i m q') = 0,

with D a latitude differentiation matrix, which gives a (generalised) eigenvalue problem for omega.
``growth_rate = Im(omega)`` (e-folding rate, per model time unit 1/Omega), ``frequency = Re(omega)``
and the angular ``phase_speed = Re(omega)/m`` (radians per time unit, in the frame of the model,
i.e. rotating with the core; positive = eastward/prograde).

Formulation and boundary conditions
-----------------------------------
* Unknowns: u', v', h' and the flux-function perturbation A' (docs/science.md section 2: h a = -dA/dlat,
  h b = (1/cos) dA/dlon). The field perturbation is derived from them, linearised:
  ``a' = (-dA'/dlat - a0 h') / h0`` and ``b' = i m A' / (cos h0)``, so div(h B)' = 0 holds exactly
  and the spurious non-solenoidal (divergence-advecting) modes of a primitive (a', b') formulation
  never appear. The equations imposed are the residual rows ``momentum_u``, ``momentum_v``,
  ``mass`` and ``induction_b``: the b-induction row is, for m != 0, exactly (i m / cos h0) times the
  linearised A-advection dA'/dt + u.grad A' = 0. The ``induction_a`` and ``solenoidal`` rows are
  then implied; :func:`mode_residuals` evaluates all six rows as an independent check. Hence
  ``m >= 1`` (m = 0 needs the a-row and a gauge for A; not needed for band instability).
* Latitude: collocation at the n_lat Gauss-Legendre nodes mu_j of mu = sin(lat) (no node on a
  pole). Each field is represented as ``(1 - mu^2)^(p/2) g(mu)`` with g a polynomial of degree
  n_lat - 1 interpolating the nodal values; ``p = m`` for the scalars h', A' and ``p = m - 1`` for
  the vector components u', v', a', b'. This is the pole behaviour of smooth fields of wavenumber m
  on the sphere (scalars ~ P_n^m: span{(1-mu^2)^(m/2) mu^k}; u cos and v cos behave like scalars),
  so regularity at both poles is built into the basis and no pole boundary condition is needed
  (and none can be imposed). The scalar space is exactly span{P_n^m, n = m .. m + n_lat - 1}.
  The basic-state coefficients are sampled at the nodes; derivatives of u0, a0 are exact (autodiff)
  and dh0/dlat is the exact balance :func:`~pinn.physics.equations.steady_axisymmetric_dh_dlat`.
* Symmetry: if u0 and h0 are symmetric about the equator and a0 is antisymmetric (or symmetric),
  the problem splits exactly into two parity classes that are solved separately (each a quarter of
  the dense cost). ``parity`` is labelled by the parity of h' (= that of u', A', and of b' for an
  antisymmetric band): +1 'symmetric', -1 'antisymmetric'. For an antisymmetric band (Hale-type
  toroids) the +1 class has a' antisymmetric, i.e. it keeps the toroids antisymmetric (the class of
  docs/science.md section 2 and of the PINNBARDS toroids); the -1 class has a' symmetric.
* Resolution: every mode carries ``tail``, the largest relative Legendre coefficient of its
  polynomial parts in the top quarter of degrees; singular continuum modes (critical layers, Alfven
  continuum) and discretisation artefacts have O(1) tails. Two kinds of artefacts exist: (i) the
  discretised continua give weakly "unstable" eigenvalues whose growth shrinks as n_lat grows, and
  (ii) because u', v' carry one power of cos less than h', each parity class has one spurious
  high-frequency gravity-like mode (omega^2 ~ G n_lat), which can split off the real axis by ~1e-4
  in sheared states. :meth:`LinearModes.resolved` and :func:`most_unstable` keep only modes with
  ``tail < max_tail`` (0.03); confirm a growth rate by doubling n_lat.
* Cost: dense ``scipy.linalg.eig`` of two (2 n_lat)^2 matrices (one per parity class), run on one
  BLAS thread (:data:`BLAS_THREADS`); n_lat = 96 takes well under a second.

Verification (tests/test_linear.py): non-rotating gravity waves omega^2 = G n(n+1) to 1e-11;
Rossby-Haurwitz waves (with and without solid-body flow) and magnetic Rossby waves about a = B cos(lat)
in the nondivergent limit to 1e-5; solid-body rotation neutral; a band + differential rotation case
agrees at G = 1e7 with an independent hand-derived 2-D Legendre-Galerkin solver; and the nonlinear
spectral solver reproduces the growth rate (experiments/linear/growth_rate_check.json).

Basic state
-----------
:func:`axisymmetric_state` takes u0(lat) and a0(lat) (JAX-traceable callables, radians) and builds
h0 from the exact balance, integrated from the equator by Gauss-Legendre quadrature; the integration
constant makes the area mean of h0 equal to ``mean_h`` (1, the undisturbed layer) unless
``h_equator`` is given. Band profiles (:func:`gaussian_band`, :func:`band_state`):

    a0(lat) = a_peak [exp(-((lat - lat_c)/w)^2) - exp(-((lat + lat_c)/w)^2)]

(antisymmetric about the equator, a0 > 0 in the north for a_peak > 0; the width convention of the
toroid fits, docs/science.md section 3). :mod:`pinn.physics.states` puts the same Gaussian on the flux density
h a instead of a; the two differ by the factor h0 = 1 + O(a_peak^2 / G) (about 1e-3 at 20 kG and
G = 10), which moves growth rates by far less than the tolerances used here. The band is
superposed on a background rotation u_bg(lat) (default: none), and balanced either by pressure (u0 = u_bg, h0 carries the hoop stress) or by a prograde jet
(u0 = u_bg + u_jet with u_jet^2 + 2 (u_bg + Omega cos) u_jet = a0^2, so the band adds nothing to h0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from pinn.physics import equations as eq
from pinn.physics.bands import antisymmetric_pair, zonal_flux_density

try:  # dense eig of a few hundred rows is fastest on one thread and must not oversubscribe shared cores
    from threadpoolctl import threadpool_limits as _threadpool_limits
except ImportError:  # pragma: no cover
    _threadpool_limits = None

BLAS_THREADS = 1  # threads for the dense eigen-solve (None: leave the BLAS default)

Profile = Callable[[jnp.ndarray], jnp.ndarray]

# residual rows imposed (the b-induction row stands for the A-advection equation, see module doc)
_ROWS = (0, 1, 2, 4)  # momentum_u, momentum_v, mass, induction_b
_VARIABLES = ("u", "v", "h", "A")
_QUAD_NODES = 256  # Gauss-Legendre nodes of the h0 integral (per evaluation latitude)


# ---------------------------------------------------------------------------------------------
# Basic state


@dataclass(frozen=True, eq=False)
class BasicState:
    """Steady axisymmetric state (v = b = 0): zonal flow u0, toroidal field a0, balanced thickness h0.

    ``u_fn`` and ``a_fn`` are elementwise JAX-traceable functions of latitude (radians); h0 follows
    from the balance with ``params`` and the integration constant ``h_equator`` (h0 at the equator).
    ``lat``, ``u``, ``a``, ``h`` tabulate the state on the grid it was built with. Use
    :meth:`profiles` to evaluate it (with exact derivatives) anywhere.
    """

    u_fn: Profile
    a_fn: Profile
    params: eq.SWTParams
    h_equator: float
    lat: np.ndarray
    u: np.ndarray
    a: np.ndarray
    h: np.ndarray
    description: str = ""

    def profiles(self, lat) -> dict[str, np.ndarray]:
        """u, a, h and their latitude derivatives du, da, dh at ``lat`` (radians), float64."""
        with jax.enable_x64(True):
            lat = jnp.asarray(np.asarray(lat, dtype=np.float64))
            out = self._profile_fn(lat, jnp.asarray(self.h_equator, jnp.float64))
            return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}

    @cached_property
    def _profile_fn(self):
        return jax.jit(partial(_profiles, self.u_fn, self.a_fn, self.params))


def _profiles(u_fn, a_fn, params, lat, h_equator):
    u, du = _value_and_derivative(u_fn, lat)
    a, da = _value_and_derivative(a_fn, lat)
    dh = eq.steady_axisymmetric_dh_dlat(lat, u, a, params)
    h = h_equator + _integral_from_equator(u_fn, a_fn, params, lat)
    return {"u": u, "a": a, "h": h, "du": du, "da": da, "dh": dh}


def _value_and_derivative(fn: Profile, lat):
    flat = jnp.ravel(lat)
    val, der = jax.vmap(jax.jvp, in_axes=(None, 0, 0))(
        lambda x: jnp.asarray(fn(x), dtype=flat.dtype), (flat,), (jnp.ones_like(flat),)
    )
    return jnp.reshape(val, lat.shape), jnp.reshape(der, lat.shape)


@lru_cache(maxsize=16)
def _leggauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _integral_from_equator(u_fn, a_fn, params, lat):
    """int_0^lat dh0/dlat' dlat' by Gauss-Legendre quadrature (vectorised over lat)."""
    x, w = _leggauss(_QUAD_NODES)
    t = jnp.asarray(0.5 * (x + 1.0))
    flat = jnp.ravel(lat)
    nodes = flat[:, None] * t[None, :]
    uu = u_fn(nodes)
    aa = a_fn(nodes)
    dh = eq.steady_axisymmetric_dh_dlat(
        nodes, jnp.broadcast_to(uu, nodes.shape), jnp.broadcast_to(aa, nodes.shape), params
    )
    integral = 0.5 * flat * (dh @ jnp.asarray(w))
    return jnp.reshape(integral, lat.shape)


def axisymmetric_state(
    lat,
    u: Profile | float,
    a: Profile | float,
    params: eq.SWTParams,
    *,
    mean_h: float = 1.0,
    h_equator: float | None = None,
    description: str = "",
) -> BasicState:
    """Steady axisymmetric state with zonal flow ``u(lat)`` and toroidal field ``a(lat)``.

    Args:
      lat: latitudes (radians) at which to tabulate the state (any; the solver re-evaluates).
      u, a: elementwise JAX-traceable functions of latitude in radians (or constants). They should
        vanish at the poles at least like cos(lat) (regularity of an axisymmetric vector field).
      params: the equations' parameters (G and the rotation rate enter the balance).
      mean_h: area mean of h0 over the sphere (the undisturbed layer has 1).
      h_equator: if given, h0 at the equator instead (mean_h is then ignored).
    """
    if params.axis_tilt != 0.0:
        raise ValueError("axisymmetric states need axis_tilt = 0 (the rotation axis on the coordinate pole)")
    u_fn = _as_profile(u)
    a_fn = _as_profile(a)
    with jax.enable_x64(True):
        if h_equator is None:
            mu, w = _leggauss(2 * _QUAD_NODES)
            integral = np.asarray(_integral_from_equator(u_fn, a_fn, params, jnp.asarray(np.arcsin(mu))))
            h_equator = float(mean_h - 0.5 * np.dot(w, integral))
    state = BasicState(
        u_fn=u_fn,
        a_fn=a_fn,
        params=params,
        h_equator=float(h_equator),
        lat=np.asarray(lat, dtype=np.float64),
        u=np.empty(0),
        a=np.empty(0),
        h=np.empty(0),
        description=description,
    )
    prof = state.profiles(state.lat)
    object.__setattr__(state, "u", prof["u"])
    object.__setattr__(state, "a", prof["a"])
    object.__setattr__(state, "h", prof["h"])
    if np.any(prof["h"] <= 0):
        raise ValueError(
            f"balanced thickness h0 is not positive everywhere (min {prof['h'].min():.3g}): G too small"
        )
    return state


def _as_profile(p) -> Profile:
    if callable(p):
        return p
    value = float(p)
    return lambda lat: value * jnp.ones_like(lat)


def gaussian_band(strength: float, center_deg: float, width_deg: float) -> Profile:
    """Antisymmetric Gaussian toroidal band a0(lat) = s [G(lat - c) - G(lat + c)], G(x) = exp(-(x/w)^2).

    ``strength`` in model field units (:meth:`pinn.physics.units.ModelUnits.field_to_model`; 20 kG is
    about 0.1 for the default density), positive: a0 > 0 in the northern hemisphere.
    """
    return zonal_flux_density(antisymmetric_pair(center_deg, width_deg, sign_north=1), strength)


def jet_for_band(a_fn: Profile, u_background: Profile, params: eq.SWTParams) -> Profile:
    """Total zonal flow u_bg + u_jet whose extra Coriolis and curvature force balance a0's hoop stress.

    u_jet is :func:`pinn.physics.equations.jet_velocity` (the v-momentum balance with the band's h
    contribution zero).
    """

    def u_total(lat):
        ub = u_background(lat)
        return ub + eq.jet_velocity(lat, ub, a_fn(lat), params)

    return u_total


def band_state(
    strength: float,
    center_deg: float,
    width_deg: float,
    params: eq.SWTParams,
    *,
    balance: Literal["pressure", "jet"] = "pressure",
    background: Profile | tuple[float, float, float] | None = None,
    lat=None,
    mean_h: float = 1.0,
) -> BasicState:
    """Steady state of an antisymmetric Gaussian band (:func:`gaussian_band`) on a background rotation.

    Args:
      strength, center_deg, width_deg: band peak (model units), centre latitude and width (degrees).
      balance: 'pressure' (h0 balances the hoop stress) or 'jet' (a prograde jet in the band does).
      background: zonal flow without the band: a callable of latitude, (s0, s2, s4) of
        :func:`~pinn.physics.equations.differential_rotation`, or None (no flow: rotation with the core).
    """
    a_fn = gaussian_band(strength, center_deg, width_deg)
    if background is None:
        u_bg = lambda lat: jnp.zeros_like(lat)
    elif callable(background):
        u_bg = background
    else:
        s0, s2, s4 = background
        u_bg = lambda lat: eq.differential_rotation(lat, s0, s2, s4)
    if balance == "pressure":
        u_fn = u_bg
    elif balance == "jet":
        u_fn = jet_for_band(a_fn, u_bg, params)
    else:
        raise ValueError(f"balance must be 'pressure' or 'jet', got {balance!r}")
    if lat is None:
        lat = np.deg2rad(np.linspace(-89.5, 89.5, 180))
    desc = f"{balance}-balanced band a0={strength:g} at +-{center_deg:g} deg, width {width_deg:g} deg"
    return axisymmetric_state(lat, u_fn, a_fn, params, mean_h=mean_h, description=desc)


# ---------------------------------------------------------------------------------------------
# Latitude discretisation: weighted Gauss-Legendre collocation


@dataclass(frozen=True)
class _Grid:
    mu: np.ndarray  # Gauss-Legendre nodes of sin(lat), ascending
    weights: np.ndarray  # quadrature weights
    bary: np.ndarray  # barycentric weights of the nodes
    d_mu: np.ndarray  # polynomial differentiation matrix d/dmu

    @property
    def lat(self):
        return np.arcsin(self.mu)

    @property
    def cos(self):
        return np.sqrt(1.0 - self.mu**2)

    def d_lat(self, p: int) -> np.ndarray:
        """d/dlat of fields (1 - mu^2)^(p/2) g(mu), acting on nodal values."""
        c = self.cos
        wp = c**p
        inner = np.diag(-p * self.mu / c**2) + (wp[:, None] * self.d_mu / wp[None, :])
        return c[:, None] * inner

    def interpolate(self, values: np.ndarray, p: int, mu_new: np.ndarray) -> np.ndarray:
        """Interpolate nodal values (last axis) of a p-weighted field to ``mu_new`` (barycentric)."""
        c = self.cos
        g = values / c**p
        diff = mu_new[:, None] - self.mu[None, :]
        exact = np.isclose(diff, 0.0, atol=1e-15, rtol=0)
        diff = np.where(exact, 1.0, diff)
        kernel = self.bary[None, :] / diff
        out = (g @ kernel.T) / kernel.sum(axis=1)
        rows, cols = np.nonzero(exact)
        if rows.size:
            out[..., rows] = g[..., cols]
        return out * np.sqrt(np.clip(1.0 - mu_new**2, 0.0, None)) ** p

    def legendre_coefficients(self, values: np.ndarray, p: int) -> np.ndarray:
        """Legendre coefficients of the polynomial part g of nodal values (last axis)."""
        g = values / self.cos**p
        n = self.mu.size
        vander = np.polynomial.legendre.legvander(self.mu, n - 1)  # (n, n)
        norm = (2 * np.arange(n) + 1) / 2.0
        return (g * self.weights) @ vander * norm


@lru_cache(maxsize=16)
def _grid(n: int) -> _Grid:
    mu, w = _leggauss(n)
    bary = (-1.0) ** np.arange(n) * np.sqrt((1.0 - mu**2) * w)
    diff = mu[:, None] - mu[None, :]
    np.fill_diagonal(diff, 1.0)
    d = (bary[None, :] / bary[:, None]) / diff
    np.fill_diagonal(d, 0.0)
    np.fill_diagonal(d, -d.sum(axis=1))
    return _Grid(mu=mu, weights=w, bary=bary, d_mu=d)


def _weights_for(m: int) -> dict[str, int]:
    pv = max(m - 1, 0)
    return {"u": pv, "v": pv, "h": m, "a": pv, "b": pv, "A": m}


# ---------------------------------------------------------------------------------------------
# Linear operator from the residual by autodiff


def residual_jacobians(basic_state: BasicState, lat, params: eq.SWTParams | None = None):
    """Jacobians of the six residuals w.r.t. (q, dt, dlat, dlon) about the basic state at ``lat``.

    Returns a dict of arrays of shape (n, 6, 5) (residual row, field u, v, h, a, b) under keys
    'q', 'dt', 'dlat', 'dlon', and 'base', the residuals of the basic state itself (n, 6; zero for an
    exactly steady state).
    """
    params = _check_params(basic_state, params)
    prof = basic_state.profiles(lat)
    lat = np.asarray(lat, dtype=np.float64)
    zero = np.zeros_like(lat)
    q0 = np.stack([prof["u"], zero, prof["h"], prof["a"], zero], axis=-1)
    dlat0 = np.stack([prof["du"], zero, prof["dh"], prof["da"], zero], axis=-1)
    with jax.enable_x64(True):
        jac, base = _jacobians(
            float(params.gravity),
            float(params.rotation_rate),
            jnp.asarray(lat),
            jnp.asarray(q0),
            jnp.asarray(dlat0),
        )
    out = {k: np.asarray(j) for k, j in zip(("q", "dt", "dlat", "dlon"), jac)}
    out["base"] = np.asarray(base)
    return out


def _pointwise_residual(params, lat, q, dt, dlat, dlon):
    r = eq.primitive_residuals(
        lat, jnp.zeros_like(lat), eq.Fields(*q), eq.Fields(*dt), eq.Fields(*dlat), eq.Fields(*dlon), params
    )
    return jnp.stack(r)


@jax.jit
def _jacobians(gravity, rotation_rate, lat, q0, dlat0):
    # G and Omega traced (one compilation per grid size); axisymmetric states have no axis tilt
    params = eq.SWTParams(gravity=gravity, rotation_rate=rotation_rate, axis_tilt=0.0)
    z5 = jnp.zeros_like(q0)
    res = partial(_pointwise_residual, params)
    jac = jax.vmap(jax.jacfwd(res, argnums=(1, 2, 3, 4)))(lat, q0, z5, dlat0, z5)
    base = jax.vmap(res)(lat, q0, z5, dlat0, z5)
    return jac, base


def _check_params(basic_state: BasicState, params: eq.SWTParams | None) -> eq.SWTParams:
    if params is None:
        return basic_state.params
    if params != basic_state.params:
        raise ValueError(
            f"params {params} differ from those the basic state was balanced with ({basic_state.params}); "
            "rebuild the state with axisymmetric_state(..., params)"
        )
    return params


def _operators(basic_state: BasicState, m: int, grid: _Grid, params: eq.SWTParams):
    """Matrices (B, M) of  -i omega B x + M x = 0  for x = (u', v', h', A') at the nodes, and T (q' = T x)."""
    n = grid.mu.size
    lat = grid.lat
    c = grid.cos
    prof = basic_state.profiles(lat)
    jac = residual_jacobians(basic_state, lat, params)
    scale = max(1.0, float(np.max(np.abs(prof["u"]))), float(np.max(np.abs(prof["a"]))))
    base_err = float(np.max(np.abs(jac["base"])))
    if base_err > 1e-9 * scale * max(1.0, params.gravity):
        raise ValueError(
            f"basic state is not steady: residual {base_err:.3g} (rebuild it with axisymmetric_state)"
        )

    p = _weights_for(m)
    eye = np.eye(n)
    zeros = np.zeros((n, n))

    def block(*blocks):
        return np.concatenate(blocks, axis=1)

    h0, a0 = prof["h"], prof["a"]
    DA = grid.d_lat(p["A"])
    T = {
        "u": block(eye, zeros, zeros, zeros),
        "v": block(zeros, eye, zeros, zeros),
        "h": block(zeros, zeros, eye, zeros),
        "a": block(zeros, zeros, -np.diag(a0 / h0), -DA / h0[:, None]),
        "b": block(zeros, zeros, zeros, np.diag(1j * m / (c * h0))),
    }
    D = {k: grid.d_lat(p[k]) for k in ("u", "v", "h", "a", "b")}
    fields = ("u", "v", "h", "a", "b")
    M_rows, B_rows = [], []
    for r in _ROWS:
        Mr = np.zeros((n, 4 * n), dtype=complex)
        Br = np.zeros((n, 4 * n), dtype=complex)
        for k, name in enumerate(fields):
            Tk = T[name]
            coef = jac["q"][:, r, k] + 1j * m * jac["dlon"][:, r, k]
            Mr += coef[:, None] * Tk + jac["dlat"][:, r, k][:, None] * (D[name] @ Tk)
            Br += jac["dt"][:, r, k][:, None] * Tk
        M_rows.append(Mr)
        B_rows.append(Br)
    return np.concatenate(B_rows, axis=0), np.concatenate(M_rows, axis=0), T, D, jac


def _symmetry(basic_state: BasicState, grid: _Grid) -> np.ndarray | None:
    """Sign of A' under the equatorial reflection that leaves the state invariant (None: no symmetry)."""
    prof = basic_state.profiles(grid.lat)
    rev = slice(None, None, -1)
    tol = 1e-12 * max(1.0, *(np.max(np.abs(prof[k])) for k in ("u", "a", "h")))
    sym = lambda f: np.max(np.abs(f - f[rev])) <= tol
    anti = lambda f: np.max(np.abs(f + f[rev])) <= tol
    if not (sym(prof["u"]) and sym(prof["h"])):
        return None
    if anti(prof["a"]):
        return 1.0  # (u, v, h, A)(lat) -> (u, -v, h, A)(-lat), with a -> -a
    if sym(prof["a"]):
        return -1.0  # plain reflection: (u, -v, h, -A)
    return None


def _parity_basis(n: int, a_sign: float, parity: int) -> np.ndarray:
    """Orthonormal basis (4n, 2n) of the x = (u, v, h, A) subspace of one parity class."""
    half = n // 2
    if n % 2:
        raise ValueError("n_lat must be even")
    north = np.eye(n)[:, half:]  # nodes are ascending: north = second half
    south = np.eye(n)[:, :half][:, ::-1]  # mirror node of each northern one
    signs = {"u": parity, "v": -parity, "h": parity, "A": parity * a_sign}
    cols = []
    for k, name in enumerate(_VARIABLES):
        vec = (north + signs[name] * south) / np.sqrt(2.0)
        blk = np.zeros((4 * n, half))
        blk[k * n : (k + 1) * n] = vec
        cols.append(blk)
    return np.concatenate(cols, axis=1)


# ---------------------------------------------------------------------------------------------
# Results


class Perturbation(NamedTuple):
    """Perturbation fields (complex amplitudes on the nodes, or real fields on a grid)."""

    u: np.ndarray
    v: np.ndarray
    h: np.ndarray
    a: np.ndarray
    b: np.ndarray
    A: np.ndarray  # flux function: h a = -dA/dlat, h b = dA/dlon / cos (linearised)


@dataclass(frozen=True, eq=False)
class LinearMode:
    """One eigenmode: q' = Re[fields(lat) exp(i (m lon - omega t))]."""

    m: int
    omega: complex
    lat: np.ndarray  # collocation latitudes (radians)
    fields: Perturbation  # complex nodal amplitudes, normalised: max |u|, |v|, |a|, |b| = 1
    parity: int  # +1: h' symmetric, -1: antisymmetric, 0: no symmetry used
    tail: float  # resolution indicator (relative Legendre tail); small = resolved
    drift: float = float("nan")  # |omega(n_lat) - omega(coarser n_lat)| (set by most_unstable)

    @property
    def n_lat(self) -> int:
        return int(self.lat.size)

    @property
    def growth_rate(self) -> float:
        return float(self.omega.imag)

    @property
    def frequency(self) -> float:
        return float(self.omega.real)

    @property
    def phase_speed(self) -> float:
        """Angular phase speed Re(omega)/m, radians per model time unit (eastward positive)."""
        return float(self.omega.real / self.m)


@dataclass(frozen=True, eq=False)
class LinearModes:
    """All eigenmodes for one m, sorted by decreasing growth rate."""

    m: int
    lat: np.ndarray  # collocation latitudes (radians), ascending
    omega: np.ndarray  # complex eigenfrequencies
    fields: Perturbation  # each (n_modes, n_lat) complex
    parity: np.ndarray
    tail: np.ndarray
    basic_state: BasicState = field(repr=False)
    params: eq.SWTParams = field(repr=False)

    @property
    def growth_rate(self) -> np.ndarray:
        return self.omega.imag

    @property
    def frequency(self) -> np.ndarray:
        return self.omega.real

    @property
    def phase_speed(self) -> np.ndarray:
        return self.omega.real / self.m

    def __len__(self) -> int:
        return self.omega.size

    def mode(self, k: int = 0) -> LinearMode:
        return LinearMode(
            m=self.m,
            omega=complex(self.omega[k]),
            lat=self.lat,
            fields=Perturbation(*(f[k] for f in self.fields)),
            parity=int(self.parity[k]),
            tail=float(self.tail[k]),
        )

    def resolved(self, max_tail: float = 0.03) -> LinearModes:
        """The modes whose eigenfunctions are resolved (``tail < max_tail``), same order."""
        keep = self.tail < max_tail
        return LinearModes(
            m=self.m,
            lat=self.lat,
            omega=self.omega[keep],
            fields=Perturbation(*(f[keep] for f in self.fields)),
            parity=self.parity[keep],
            tail=self.tail[keep],
            basic_state=self.basic_state,
            params=self.params,
        )


def solve_linear(
    basic_state: BasicState,
    m: int,
    n_lat: int = 96,
    params: eq.SWTParams | None = None,
    *,
    parity: Literal["both", "symmetric", "antisymmetric", "none"] = "both",
) -> LinearModes:
    """Eigenmodes of wavenumber ``m`` (>= 1) about ``basic_state`` on ``n_lat`` (even) latitudes.

    ``parity``: 'both' solves the two parity classes separately when the state allows it (falling
    back to 'none' otherwise); 'symmetric' / 'antisymmetric' return one class (h' symmetric /
    antisymmetric); 'none' solves the full problem without using the symmetry.
    """
    if m < 1 or int(m) != m:
        raise ValueError(f"m must be an integer >= 1, got {m}")
    m = int(m)
    params = _check_params(basic_state, params)
    grid = _grid(n_lat)
    n = n_lat
    B, M, T, _D, _ = _operators(basic_state, m, grid, params)
    # omega B x = -i M x; B is diagonal (identity, and i m/(cos h0) on the A rows) and invertible
    diag = np.diag(B)
    if np.array_equal(B, np.diag(diag)):
        C = (-1j * M) / diag[:, None]
    else:  # pragma: no cover  (other row choices)
        C = np.linalg.solve(B, -1j * M)

    a_sign = _symmetry(basic_state, grid) if parity != "none" else None
    if parity in ("symmetric", "antisymmetric") and a_sign is None:
        raise ValueError("the basic state has no equatorial symmetry: use parity='none'")
    if a_sign is None:
        classes = [(0, np.eye(4 * n))]
    else:
        wanted = {"both": (1, -1), "symmetric": (1,), "antisymmetric": (-1,)}[parity]
        classes = [(s, _parity_basis(n, a_sign, s)) for s in wanted]

    omegas, vecs, labels = [], [], []
    for label, Q in classes:
        w, v = _eig(Q.T @ C @ Q)
        omegas.append(w)
        vecs.append(Q @ v)
        labels.append(np.full(w.size, label))
    omega = np.concatenate(omegas)
    X = np.concatenate(vecs, axis=1)  # (4n, k)
    parity_arr = np.concatenate(labels)

    p = _weights_for(m)
    q = {name: (T[name] @ X).T for name in ("u", "v", "h", "a", "b")}  # (k, n)
    q["A"] = X[3 * n :].T
    # normalise: the largest velocity or field component has modulus 1, v' real > 0 where |v'| peaks
    size = np.max(np.stack([np.max(np.abs(q[k]), axis=1) for k in ("u", "v", "a", "b")]), axis=0)
    size = np.where(size > 0, size, 1.0)
    iv = np.argmax(np.abs(q["v"]), axis=1)
    vpk = q["v"][np.arange(omega.size), iv]
    phase = np.where(np.abs(vpk) > 0, vpk / np.where(np.abs(vpk) > 0, np.abs(vpk), 1.0), 1.0)
    norm = 1.0 / (size * phase)
    q = {k: x * norm[:, None] for k, x in q.items()}

    tail = np.zeros(omega.size)
    cut = (3 * n) // 4
    for name in _VARIABLES:
        coef = np.abs(grid.legendre_coefficients(q[name], p[name]))
        top = np.max(coef, axis=1)
        rel = np.max(coef[:, cut:], axis=1) / np.where(top > 0, top, 1.0)
        # weight each variable by its share of the mode so that a negligible component cannot flag it
        share = np.max(np.abs(q[name]), axis=1)
        share = share / np.max([np.max(np.abs(q[k]), axis=1) for k in _VARIABLES], axis=0)
        tail = np.maximum(tail, np.where(share > 1e-8, rel, 0.0))

    finite = np.isfinite(omega)
    order = np.argsort(-np.where(finite, omega.imag, -np.inf), kind="stable")
    order = order[finite[order]]
    fields = Perturbation(*(q[k][order] for k in Perturbation._fields))
    return LinearModes(
        m=m,
        lat=grid.lat,
        omega=omega[order],
        fields=fields,
        parity=parity_arr[order],
        tail=tail[order],
        basic_state=basic_state,
        params=params,
    )


def _eig(a):
    if _threadpool_limits is None or BLAS_THREADS is None:
        return scipy.linalg.eig(a)
    with _threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        return scipy.linalg.eig(a)


def most_unstable(
    basic_state: BasicState,
    m: int | Sequence[int] = (1, 2, 3),
    n_lat: int = 96,
    params: eq.SWTParams | None = None,
    *,
    parity: Literal["both", "symmetric", "antisymmetric", "none"] = "both",
    rtol: float = 5e-3,
    max_n_lat: int = 288,
    max_tail: float = 0.03,
) -> LinearMode:
    """The most unstable *converged* mode over the wavenumber(s) ``m``.

    Discretised critical-layer / Alfven continua produce weakly "unstable" eigenvalues that move as
    n_lat changes (their growth shrinks roughly like 1/n_lat), while a true discrete mode stays put.
    So the problem is solved at n_lat and at about 1.5 n_lat, and an unstable eigenvalue is accepted
    when its nearest counterpart (same parity class) moved by less than ``rtol`` times its growth
    rate (0.5 %: growth rate and frequency converged to that level). A candidate that moved by less
    than 20 rtol x growth is converging but not yet converged: the resolution is then raised by
    factors of 1.5 up to ``max_n_lat``. The returned mode comes from the finer of the two grids and
    records the ``drift``. If no unstable mode converges, the state is reported as stable: the
    returned mode is the resolved mode (Legendre tail < ``max_tail``) of largest growth rate at the
    finest grid used (growth ~ 0, or < 0), with ``drift = nan``.
    """
    ms = [m] if np.ndim(m) == 0 else list(m)
    best = None
    for mm in ms:
        mode = _most_unstable_one(basic_state, int(mm), n_lat, params, parity, rtol, max_n_lat, max_tail)
        if best is None or mode.growth_rate > best.growth_rate:
            best = mode
    return best


def _even(x: float) -> int:
    return int(2 * math.ceil(x / 2.0))


def _most_unstable_one(basic_state, m, n_lat, params, parity, rtol, max_n_lat, max_tail) -> LinearMode:
    levels = [_even(n_lat)]
    while levels[-1] < max_n_lat:
        levels.append(min(_even(max_n_lat), _even(1.5 * levels[-1])))
    cache: dict[int, LinearModes] = {}

    def solve(n):
        if n not in cache:
            cache[n] = solve_linear(basic_state, m, n, params, parity=parity)
        return cache[n]

    for k in range(len(levels) - 1):
        coarse, fine = solve(levels[k]), solve(levels[k + 1])
        escalate = False
        for i in range(len(coarse)):
            w = coarse.omega[i]
            if not w.imag > 0:
                break  # sorted: the rest are neutral or damped
            same = np.nonzero(fine.parity == coarse.parity[i])[0]
            j = same[np.argmin(np.abs(fine.omega[same] - w))]
            drift = abs(fine.omega[j] - w)
            if drift <= rtol * w.imag:
                mode = fine.mode(int(j))
                return LinearMode(**{**mode.__dict__, "drift": float(drift)})
            if drift <= 20 * rtol * w.imag and w.imag > 1e-3 * abs(w):
                escalate = True  # a converging candidate: try a finer pair before anything weaker
                break
        if not escalate:
            break
    finest = cache[max(cache)]
    resolved = finest.resolved(max_tail)
    return (resolved if len(resolved) else finest).mode(0)


# ---------------------------------------------------------------------------------------------
# Checks and output


def mode_residuals(
    mode: LinearMode, basic_state: BasicState, params: eq.SWTParams | None = None
) -> eq.Residuals:
    """Linearised residuals of all six equations for a mode, at its nodes (complex; ~0 if exact).

    The momentum, mass and b-induction rows are imposed; the a-induction and solenoidal rows are not,
    so their smallness checks the flux-function formulation. Compare with the scale of the terms.
    """
    params = _check_params(basic_state, params)
    n = mode.lat.size
    grid = _grid(n)
    jac = residual_jacobians(basic_state, grid.lat, params)
    p = _weights_for(mode.m)
    q = {k: getattr(mode.fields, k) for k in ("u", "v", "h", "a", "b")}
    dq = {k: grid.d_lat(p[k]) @ q[k] for k in q}
    rows = []
    for r in range(6):
        total = np.zeros(n, dtype=complex)
        for k, name in enumerate(("u", "v", "h", "a", "b")):
            coef = (
                jac["q"][:, r, k] + 1j * mode.m * jac["dlon"][:, r, k] - 1j * mode.omega * jac["dt"][:, r, k]
            )
            total += coef * q[name] + jac["dlat"][:, r, k] * dq[name]
        rows.append(total)
    return eq.Residuals(*rows)


def eigenfunction_on_grid(mode: LinearMode, lat_deg, lon_deg, amplitude: float = 1.0) -> Perturbation:
    """Real perturbation fields amplitude * Re[q_hat(lat) exp(i m lon)] on the (lat, lon) grid (t = 0).

    ``lat_deg``, ``lon_deg``: 1-D latitudes and longitudes in degrees (e.g. the solver's Gaussian
    grid); returns arrays of shape (len(lat_deg), len(lon_deg)). The nodal amplitudes are
    interpolated with the pole-weighted Legendre interpolant (spectrally accurate, regular at the
    poles). ``amplitude`` multiplies the normalised mode (largest |u'|, |v'|, |a'|, |b'| = 1).
    """
    lat = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))
    lon = np.deg2rad(np.asarray(lon_deg, dtype=np.float64))
    grid = _grid(mode.lat.size)
    p = _weights_for(mode.m)
    phase = np.exp(1j * mode.m * lon)
    out = {}
    for name in Perturbation._fields:
        prof = grid.interpolate(getattr(mode.fields, name), p[name], np.sin(lat))
        out[name] = amplitude * np.real(prof[:, None] * phase[None, :])
    return Perturbation(**out)
