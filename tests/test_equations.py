"""The primitive-variable residual and the vector-invariant tendencies are the same equations.

Smooth analytic fields (u, v, h, A) on the sphere are differentiated exactly with JAX autodiff; the
tendencies implied by the primitive residual (with d/dt = 0) must equal those composed from the
vector-invariant pieces and the flux-function induction, at grid points, to round-off.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pinn.physics import equations as eq

pytestmark = pytest.mark.x64

PARAMS = eq.SWTParams(gravity=3.7, rotation_rate=1.0)


def u_fn(lat, lon):
    return 0.3 * jnp.cos(lat) + 0.05 * jnp.cos(lat) ** 2 * jnp.sin(2 * lon) * jnp.sin(lat)


def v_fn(lat, lon):
    return 0.04 * jnp.cos(lat) ** 2 * jnp.cos(lon + 0.3) * (1 + jnp.sin(lat))


def h_fn(lat, lon):
    return 1.0 + 0.1 * jnp.sin(lat) ** 2 + 0.02 * jnp.cos(lat) ** 3 * jnp.cos(3 * lon)


def A_fn(lat, lon):  # flux function: gives a band-like toroidal field plus m = 1, 2 structure
    return 0.2 * jnp.cos(lat) ** 2 * (1 + 0.3 * jnp.cos(lat) * jnp.sin(lon) + 0.1 * jnp.cos(lat) ** 2 * jnp.cos(2 * lon))


def d_lat(fn):
    return jax.grad(fn, argnums=0)


def d_lon(fn):
    return jax.grad(fn, argnums=1)


def a_fn(lat, lon):
    return -d_lat(A_fn)(lat, lon) / h_fn(lat, lon)


def b_fn(lat, lon):
    return d_lon(A_fn)(lat, lon) / (jnp.cos(lat) * h_fn(lat, lon))


def curl(fx, fy):
    """k . curl of a tangent vector field, (1/cos)[d fy/dlon - d(fx cos)/dlat]."""
    return lambda lat, lon: (d_lon(fy)(lat, lon) - d_lat(lambda la, lo: fx(la, lo) * jnp.cos(la))(lat, lon)) / jnp.cos(lat)


def divergence(fx, fy):
    return lambda lat, lon: (d_lon(fx)(lat, lon) + d_lat(lambda la, lo: fy(la, lo) * jnp.cos(la))(lat, lon)) / jnp.cos(lat)


def grid_points():
    lat = np.linspace(-1.3, 1.3, 17)
    lon = np.linspace(0.0, 2 * np.pi, 13, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    return jnp.asarray(la.ravel()), jnp.asarray(lo.ravel())


FIELDS = (u_fn, v_fn, h_fn, a_fn, b_fn)


def pointwise(fn):
    return jax.vmap(fn)


def primitive_tendencies(lat, lon):
    """-(residual) with zero time derivatives = the tendencies the primitive form implies."""
    q = eq.Fields(*(pointwise(f)(lat, lon) for f in FIELDS))
    dlat = eq.Fields(*(pointwise(d_lat(f))(lat, lon) for f in FIELDS))
    dlon = eq.Fields(*(pointwise(d_lon(f))(lat, lon) for f in FIELDS))
    zero = eq.Fields(*(jnp.zeros_like(lat) for _ in FIELDS))
    res = eq.primitive_residuals(lat, lon, q, zero, dlat, dlon, PARAMS)
    return res, jax.tree.map(lambda r: -r, res)


def test_momentum_tendencies_agree():
    lat, lon = grid_points()
    _, tend = primitive_tendencies(lat, lon)

    zeta = curl(u_fn, v_fn)
    current = curl(a_fn, b_fn)

    def forcing(la, lo):
        f = eq.coriolis(la, lo, PARAMS)
        return eq.momentum_forcing(u_fn(la, lo), v_fn(la, lo), a_fn(la, lo), b_fn(la, lo), zeta(la, lo), current(la, lo), f)

    def bern(la, lo):
        return eq.bernoulli(u_fn(la, lo), v_fn(la, lo), a_fn(la, lo), b_fn(la, lo), h_fn(la, lo), PARAMS)

    fu, fv = jax.vmap(forcing)(lat, lon)
    du = fu - pointwise(d_lon(bern))(lat, lon) / jnp.cos(lat)
    dv = fv - pointwise(d_lat(bern))(lat, lon)
    scale_u = float(jnp.max(jnp.abs(du)))
    scale_v = float(jnp.max(jnp.abs(dv)))
    assert scale_u > 1e-3 and scale_v > 1e-3  # the check is not vacuous
    np.testing.assert_allclose(tend.momentum_u, du, rtol=0, atol=1e-6 * scale_u)
    np.testing.assert_allclose(tend.momentum_v, dv, rtol=0, atol=1e-6 * scale_v)


def test_mass_tendency_agrees():
    lat, lon = grid_points()
    _, tend = primitive_tendencies(lat, lon)
    hu = lambda la, lo: eq.mass_flux(u_fn(la, lo), v_fn(la, lo), h_fn(la, lo))[0]
    hv = lambda la, lo: eq.mass_flux(u_fn(la, lo), v_fn(la, lo), h_fn(la, lo))[1]
    dh = -pointwise(divergence(hu, hv))(lat, lon)
    scale = float(jnp.max(jnp.abs(dh)))
    assert scale > 1e-3
    np.testing.assert_allclose(tend.mass, dh, rtol=0, atol=1e-6 * scale)


def test_flux_function_advection_reproduces_induction():
    """Advecting A (and h) and rebuilding (a, b) gives the primitive induction tendencies."""
    lat, lon = grid_points()
    res, tend = primitive_tendencies(lat, lon)

    def A_tendency(la, lo):
        dA_dx = d_lon(A_fn)(la, lo) / jnp.cos(la)
        dA_dy = d_lat(A_fn)(la, lo)
        return eq.flux_function_tendency(u_fn(la, lo), v_fn(la, lo), dA_dx, dA_dy)

    hu = lambda la, lo: h_fn(la, lo) * u_fn(la, lo)
    hv = lambda la, lo: h_fn(la, lo) * v_fn(la, lo)
    h_tendency = lambda la, lo: -divergence(hu, hv)(la, lo)

    def a_tendency(la, lo):  # d/dt of a = -A_y / h
        h = h_fn(la, lo)
        return -d_lat(A_tendency)(la, lo) / h + d_lat(A_fn)(la, lo) * h_tendency(la, lo) / h**2

    def b_tendency(la, lo):  # d/dt of b = A_x / h
        h = h_fn(la, lo)
        return d_lon(A_tendency)(la, lo) / (jnp.cos(la) * h) - d_lon(A_fn)(la, lo) * h_tendency(la, lo) / (
            jnp.cos(la) * h**2
        )

    da = pointwise(a_tendency)(lat, lon)
    db = pointwise(b_tendency)(lat, lon)
    for got, want in ((tend.induction_a, da), (tend.induction_b, db)):
        scale = float(jnp.max(jnp.abs(want)))
        assert scale > 1e-4
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * scale)
    # A field built from a flux function is solenoidal: div(h B) = 0 exactly.
    assert float(jnp.max(jnp.abs(res.solenoidal))) < 1e-12


def test_steady_axisymmetric_balance_zeroes_residual():
    lat = jnp.linspace(-1.4, 1.4, 41)
    lon = jnp.zeros_like(lat)
    u = lambda la: eq.differential_rotation(la, 0.0, -0.12, -0.16) + 0.05 * jnp.cos(la)
    a = lambda la: 0.1 * jnp.exp(-(((la - 0.35) / 0.1) ** 2)) - 0.1 * jnp.exp(-(((la + 0.35) / 0.1) ** 2))
    uu, aa = jax.vmap(u)(lat), jax.vmap(a)(lat)
    zero = jnp.zeros_like(lat)
    q = eq.Fields(uu, zero, 1.0 + zero, aa, zero)
    dlat = eq.Fields(jax.vmap(jax.grad(u))(lat), zero, eq.steady_axisymmetric_dh_dlat(lat, uu, aa, PARAMS), jax.vmap(jax.grad(a))(lat), zero)
    res = eq.primitive_residuals(lat, lon, q, eq.Fields(*(zero,) * 5), dlat, eq.Fields(*(zero,) * 5), PARAMS)
    for r in res:
        assert float(jnp.max(jnp.abs(r))) < 1e-13
    # and the balance is not trivial: without it, the v-equation is violated
    dlat_bad = dlat._replace(h=zero)
    bad = eq.primitive_residuals(lat, lon, q, eq.Fields(*(zero,) * 5), dlat_bad, eq.Fields(*(zero,) * 5), PARAMS)
    assert float(jnp.max(jnp.abs(bad.momentum_v))) > 1e-2


@pytest.mark.parametrize("tilt", [0.0, np.pi / 2 - 0.05])
def test_coriolis_tilt(tilt):
    params = eq.SWTParams(axis_tilt=tilt)
    lat, lon = grid_points()
    f = eq.coriolis(lat, lon, params)
    # f / 2 is the z-component of the (tilted) unit rotation vector dotted with the local vertical
    axis = np.array([-np.sin(tilt), 0.0, np.cos(tilt)])
    r = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)
    np.testing.assert_allclose(f, 2 * r @ axis, atol=1e-14)
