"""Linear stability tool (pinn.physics.linear): analytic spectra, stability, convergence, eigenfunctions,
and the growth rate of the nonlinear solver started from an eigenfunction.

Analytic references (frequencies for q' ~ exp(i (m lon - omega t)), units of Omega):
* non-rotating layer at rest: gravity waves omega^2 = G n (n + 1), exactly (spherical harmonics);
* rotating layer at rest, nondivergent limit (G -> infinity): Rossby-Haurwitz waves omega = -2 m / (n (n + 1));
  with solid-body flow u = U cos(lat): omega = m [U - 2 (1 + U) / (n (n + 1))] (Haurwitz 1940);
* nondivergent, at rest, toroidal field a = B cos(lat) (uniform field angular rate): magnetic Rossby
  waves omega = (m / N) [-1 +- sqrt(1 + N (N - 2) B^2)], N = n (n + 1) (2-D MHD; cf. Zaqarashvili 2007;
  derived from the vorticity / flux-function equations in the test docstring).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pinn.physics import equations as eq
from pinn.physics import linear as L

ROOT = Path(__file__).resolve().parents[1]
DR = (0.0, -0.1264, -0.1591)  # PhysicsConfig default tachocline differential rotation (s0, s2, s4)
LAT_TAB = np.linspace(-1.5, 1.5, 7)


def rest_state(params, u=0.0, a=0.0):
    return L.axisymmetric_state(LAT_TAB, u, a, params)


def nearest_relative_error(omega, targets):
    omega = np.asarray(omega)
    return max(float(np.min(np.abs(omega - t)) / abs(t)) for t in targets)


# ---------------------------------------------------------------------------------------------
# Analytic spectra


def test_nonrotating_gravity_waves_are_spherical_harmonics():
    G = 10.0
    state = rest_state(eq.SWTParams(gravity=G, rotation_rate=0.0))
    for m in (1, 2, 3):
        # resolved(): drops the discretisation's spurious high-frequency mode (O(1) Legendre tail)
        modes = L.solve_linear(state, m, 32).resolved()
        n = np.arange(m, m + 6)
        exact = np.sqrt(G * n * (n + 1))
        positive = np.sort(modes.omega.real[modes.omega.real > 1e-6])[: n.size]
        np.testing.assert_allclose(positive, exact, rtol=1e-11)
        negative = np.sort(-modes.omega.real[modes.omega.real < -1e-6])[: n.size]
        np.testing.assert_allclose(negative, exact, rtol=1e-11)
        assert np.max(np.abs(modes.growth_rate)) < 1e-10


@pytest.mark.parametrize("U", [0.0, 0.2])
def test_rossby_haurwitz_waves_nondivergent_limit(U):
    """G = 1e6: divergence effects O(1/G); Haurwitz's nondivergent frequencies to ~1e-6."""
    params = eq.SWTParams(gravity=1e6)
    state = rest_state(params, u=lambda lat: U * jnp.cos(lat))
    for m in (1, 2, 3):
        modes = L.solve_linear(state, m, 32)
        n = np.arange(m, m + 5)
        exact = m * (U - 2.0 * (1.0 + U) / (n * (n + 1)))
        exact = exact[np.abs(exact) > 1e-3]  # (U = 0.2, n = 3 is stationary: no relative error there)
        assert nearest_relative_error(modes.omega, exact) < 1e-5, m
        assert np.max(np.abs(modes.growth_rate)) < 1e-8


def test_magnetic_rossby_waves_nondivergent_limit():
    """2-D MHD about a = B cos(lat), u = 0 (hand derivation, independent of the autodiff operator):
    zeta' = -N psi', j' = -N A', J(A0, j') + J(A', j0) = -i m B (N - 2) A', A' = -m B psi'/omega, hence
    N omega^2 + 2 m omega - m^2 B^2 (N - 2) = 0."""
    B = 0.3
    state = rest_state(eq.SWTParams(gravity=1e6), a=lambda lat: B * jnp.cos(lat))
    for m in (1, 2):
        modes = L.solve_linear(state, m, 32)
        n = np.arange(max(m, 2), m + 5)
        N = n * (n + 1.0)
        root = np.sqrt(1.0 + N * (N - 2.0) * B**2)
        exact = np.concatenate([(m / N) * (-1.0 + root), (m / N) * (-1.0 - root)])
        assert nearest_relative_error(modes.omega, exact) < 1e-5, m
        assert np.max(np.abs(modes.growth_rate)) < 1e-8


def test_solid_body_rotation_is_stable():
    """u = U cos(lat) (and a solid-body-like field a = B cos(lat)) at G = 10: every resolved mode neutral.

    (The discretisation has one spurious high-frequency mode pair per parity class, flagged by an O(1)
    Legendre tail; it may split off the real axis by ~1e-4. Resolved modes are neutral to round-off.)"""
    params = eq.SWTParams(gravity=10.0)
    for a in (0.0, lambda lat: 0.2 * jnp.cos(lat)):
        state = rest_state(params, u=lambda lat: 0.3 * jnp.cos(lat), a=a)
        for m in (1, 2, 3):
            modes = L.solve_linear(state, m, 32)
            assert np.max(np.abs(modes.resolved().growth_rate)) < 1e-8, (a, m)
            assert np.max(np.abs(modes.growth_rate)) < 1e-3, (a, m)


# ---------------------------------------------------------------------------------------------
# Basic state


def test_band_states_are_steady_and_balanced():
    params = eq.SWTParams(gravity=10.0)
    lat = np.deg2rad(np.linspace(-85, 85, 35))
    for balance in ("pressure", "jet"):
        state = L.band_state(0.1, 20.0, 10.0, params, balance=balance, background=DR, lat=lat)
        jac = L.residual_jacobians(state, lat)
        assert np.max(np.abs(jac["base"])) < 1e-14
        # mean thickness 1 (area weighted)
        mu, w = np.polynomial.legendre.leggauss(64)
        assert abs(0.5 * np.dot(w, state.profiles(np.arcsin(mu))["h"]) - 1.0) < 1e-13
    p = L.band_state(0.1, 20.0, 10.0, params, balance="pressure", lat=lat)
    j = L.band_state(0.1, 20.0, 10.0, params, balance="jet", lat=lat)
    # pressure balance: no flow, h carries the hoop stress; jet balance: flat h, prograde jet in the band
    assert np.max(np.abs(p.u)) == 0.0 and np.ptp(p.h) > 5e-5
    assert np.ptp(j.h) < 1e-14 and j.u.max() > 4e-3 and j.u.min() >= 0.0
    np.testing.assert_allclose(
        p.a,
        0.1 * (np.exp(-(((lat - 0.349066) / 0.174533) ** 2)) - np.exp(-(((lat + 0.349066) / 0.174533) ** 2))),
        atol=1e-6,
    )


# ---------------------------------------------------------------------------------------------
# Instability: known cases, convergence, eigenfunctions


def dr_band(G=10.0, strength=0.1):
    return L.band_state(strength, 20.0, 10.0, eq.SWTParams(gravity=G), balance="pressure", background=DR)


def test_band_with_tachocline_rotation_is_unstable_and_converged():
    """Pressure-balanced 20 kG (0.1) band at 20 deg, width 10 deg, on the default tachocline differential
    rotation, G = 10: unstable to m = 1; doubling n_lat changes the growth rate by far less than 0.5 %."""
    state = dr_band()
    coarse = L.solve_linear(state, 1, 96).resolved().mode(0)
    cls = {1: "symmetric", -1: "antisymmetric"}[coarse.parity]
    fine = L.solve_linear(state, 1, 192, parity=cls).resolved().mode(0)
    assert coarse.growth_rate > 0.01
    assert abs(fine.growth_rate - coarse.growth_rate) / fine.growth_rate < 5e-3
    assert abs(fine.omega - coarse.omega) < 1e-6
    assert coarse.phase_speed < 0  # retrograde in the core frame (the band sits where u0 < 0)


def test_shallow_water_destabilises_low_G_overshoot_layer():
    """Dikpati & Gilman (2001), qualitatively: hydrodynamic differential rotation that is stable in the
    2-D (large G) limit becomes unstable in the shallow-water model when G is small (overshoot layer).
    Here u0 = cos(lat)(-0.15 sin^2 lat): stable at G = 1e4 and G = 10, unstable at G = 0.1 (m = 1)."""
    for G, unstable in ((1e4, False), (10.0, False), (0.1, True)):
        state = L.band_state(0.0, 20.0, 10.0, eq.SWTParams(gravity=G), background=(0.0, -0.15, 0.0))
        modes = L.solve_linear(state, 1, 80).resolved()
        top = modes.growth_rate[0]
        if unstable:
            assert top > 3e-3
            fine = L.solve_linear(state, 1, 128).resolved().growth_rate[0]
            assert abs(fine - top) / top < 5e-3
        else:
            assert top < 1e-6, (G, top)


def _nondivergent_mhd_modes(u_fn, a_fn, m, nmax=64, nq=160):
    """Independent check: 2-D (G -> infinity) linear MHD about (u0, a0), hand-derived in stream function
    psi' and flux function A' and solved by Legendre-Galerkin (normalised P_n^m, n = m..nmax). With
    J(X, Y) = X_lon Y_mu - X_mu Y_lon, zeta0 = -d(u0 cos)/dmu, j0 = -d(a0 cos)/dmu, c = omega/m:
        (u0/cos - c) zeta' + psi' d(zeta0 + 2 mu)/dmu = (a0/cos) j' + A' dj0/dmu,
        (u0/cos - c) A' = (a0/cos) psi',   zeta' = -N psi', j' = -N A'."""
    from scipy.linalg import eigvals
    from scipy.special import gammaln, lpmv

    mu, w = np.polynomial.legendre.leggauss(nq)
    lat = np.arcsin(mu)
    cos = np.sqrt(1 - mu**2)
    with jax.enable_x64(True):

        def dmu(f):  # d/dmu of a function of latitude = (1/cos) d/dlat
            return lambda la: jax.grad(f)(la) / jnp.cos(la)

        zeta0 = lambda la: -dmu(lambda x: u_fn(x) * jnp.cos(x))(la)
        j0 = lambda la: -dmu(lambda x: a_fn(x) * jnp.cos(x))(la)
        la = jnp.asarray(lat)
        dq = np.asarray(jax.vmap(dmu(zeta0))(la)) + 2.0
        dj = np.asarray(jax.vmap(dmu(j0))(la))
        uc = np.asarray(u_fn(la)) / cos
        ac = np.asarray(a_fn(la)) / cos
    n = np.arange(m, nmax + 1)
    norm = np.exp(0.5 * (np.log((2 * n + 1) / 2.0) + gammaln(n - m + 1) - gammaln(n + m + 1)))
    P = np.array([lpmv(m, k, mu) for k in n]) * norm[:, None]
    proj = lambda f: (P * w * f) @ P.T
    N = n * (n + 1.0)
    K = n.size
    lhs = np.block([[np.diag(-N), np.zeros((K, K))], [np.zeros((K, K)), np.eye(K)]])
    rhs = np.block([[proj(uc) * -N + proj(dq), proj(ac) * N - proj(dj)], [-proj(ac), proj(uc)]])
    return m * eigvals(rhs, lhs)


def test_large_G_limit_agrees_with_independent_nondivergent_solver():
    """Band + tachocline rotation at G = 1e7: the autodiff operator's most unstable m = 1 mode equals
    that of the hand-derived 2-D Legendre-Galerkin solver."""
    state = L.band_state(0.1, 20.0, 10.0, eq.SWTParams(gravity=1e7), background=DR)
    for m in (1,):
        mode = L.solve_linear(state, m, 96).resolved().mode(0)
        other = _nondivergent_mhd_modes(state.u_fn, state.a_fn, m)
        nearest = other[np.argmin(np.abs(other - mode.omega))]
        assert mode.growth_rate > 5e-3
        assert abs(nearest - mode.omega) < 2e-4 * abs(mode.omega), (m, mode.omega, nearest)


def test_jet_stabilises_strong_band_pressure_balance_does_not():
    """Dikpati, Gilman & Rempel (2003), qualitatively: a strong (75 kG ~ 0.36) band on the tachocline
    rotation stays unstable when pressure-balanced but is (nearly) stabilised by its prograde jet.
    (Scan of strength and latitude: experiments/linear/scan.csv.)"""
    params = eq.SWTParams(gravity=10.0)
    growth = {}
    for balance in ("pressure", "jet"):
        state = L.band_state(0.36, 60.0, 10.0, params, balance=balance, background=DR)
        growth[balance] = L.most_unstable(state, 1, 96, parity="antisymmetric").growth_rate
    assert growth["pressure"] > 0.03
    assert growth["jet"] < 0.5 * growth["pressure"]


def test_most_unstable_confirms_by_resolution_drift():
    """most_unstable accepts an eigenvalue only if it moves < 0.5 % of its growth rate when n_lat grows."""
    mode = L.most_unstable(dr_band(), 1, 64)
    assert mode.m == 1 and mode.n_lat == 96
    assert mode.drift < 5e-3 * mode.growth_rate
    assert abs(mode.growth_rate - 0.017621) < 1e-5  # the converged value (n_lat = 96 ... 192)


def test_eigenfunction_residuals_and_parity():
    state = dr_band()
    modes = L.solve_linear(state, 1, 96)
    mode = modes.resolved().mode(0)
    # all six linearised equations, including the two that were not imposed (a-induction, solenoidal)
    res = L.mode_residuals(mode, state)
    scale = max(abs(mode.omega), 1.0)
    for name, r in zip(eq.Residuals._fields, res):
        tol = 1e-9 if name in ("momentum_u", "momentum_v", "mass", "induction_b") else 1e-5
        assert np.max(np.abs(r)) < tol * scale, (name, np.max(np.abs(r)))
    # antisymmetric band: the full problem separates into the two parity classes
    full = L.solve_linear(state, 1, 96, parity="none")
    k = int(np.argmin(np.abs(full.omega - mode.omega)))
    assert abs(full.omega[k] - mode.omega) < 1e-9
    f = full.mode(k).fields
    s = mode.parity  # h', u', A' parity; v' and a' opposite (antisymmetric band)
    for name, sign in (("u", s), ("v", -s), ("h", s), ("a", -s), ("b", s), ("A", s)):
        x = getattr(f, name)
        assert np.max(np.abs(x - sign * x[::-1])) < 1e-8 * max(np.max(np.abs(x)), 1e-300), name
    # both classes present in the 'both' solve, each mode labelled
    assert set(np.unique(modes.parity)) == {-1, 1}


def test_eigenfunction_on_grid_interpolates_and_is_regular():
    state = dr_band()
    mode = L.solve_linear(state, 1, 96).resolved().mode(0)
    nodes_deg = np.rad2deg(mode.lat)
    lon = np.array([0.0, 90.0])
    on_nodes = L.eigenfunction_on_grid(mode, nodes_deg, lon, amplitude=2.0)
    np.testing.assert_allclose(on_nodes.v[:, 0], 2.0 * mode.fields.v.real, atol=1e-12)
    np.testing.assert_allclose(on_nodes.v[:, 1], -2.0 * mode.fields.v.imag, atol=1e-12)  # exp(i pi/2) = i
    # arbitrary grid including the poles: finite; scalars vanish at the poles for m = 1
    g = L.eigenfunction_on_grid(mode, np.linspace(-90, 90, 73), np.arange(0, 360, 5.0), 1e-6)
    for x in g:
        assert np.all(np.isfinite(x))
    assert np.max(np.abs(g.h[[0, -1]])) < 1e-20 and np.max(np.abs(g.A[[0, -1]])) < 1e-20
    assert (
        0.5e-6
        < max(np.max(np.abs(g.u)), np.max(np.abs(g.v)), np.max(np.abs(g.a)), np.max(np.abs(g.b)))
        <= 1.0001e-6
    )


def test_mismatched_params_and_bad_m_raise():
    state = dr_band()
    with pytest.raises(ValueError):
        L.solve_linear(state, 1, 32, eq.SWTParams(gravity=3.0))
    with pytest.raises(ValueError):
        L.solve_linear(state, 0, 32)


# ---------------------------------------------------------------------------------------------
# Nonlinear solver vs linear growth rate


def _growth_module():
    spec = importlib.util.spec_from_file_location(
        "growth_rate_check", ROOT / "experiments/linear/growth_rate_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.mark.x64
def test_solver_growth_rate_matches_eigenvalue_fast():
    """CI variant: T21, dt = 0.1, seed 1e-6 grown to 1e-3 (about 85 time units): within 2 %."""
    pytest.importorskip("dinosaur")
    g = _growth_module()
    result = g.run(g.Case(n_lat=64), truncation=21, dt=0.1, check_convergence=False)
    assert result["linear_growth_rate"] >= 0.04
    assert abs(result["relative_difference"]) < 0.02, result["relative_difference"]
    assert abs(result["frequency_difference"]) < 0.02 * abs(result["linear_omega"][0])


@pytest.mark.slow
@pytest.mark.x64
def test_solver_growth_rate_matches_eigenvalue_T42():
    """The done-when check at T42 (float64, no dissipation), recorded in experiments/linear/growth_rate_check.json."""
    g = _growth_module()
    for case in g.CASES.values():
        result = g.run(case, truncation=42, dt=0.05)
        assert result["linear_growth_rate"] >= 0.04
        assert result["linear_convergence_rel"] < 5e-3
        assert abs(result["relative_difference"]) < 0.02
    recorded = json.loads((ROOT / "experiments/linear/growth_rate_check.json").read_text())
    assert recorded["all_within_2_percent"] and recorded["all_linear_converged_0.5_percent"]
