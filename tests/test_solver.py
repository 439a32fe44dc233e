"""Spectral MHD-SWT solver: consistency with the equations, test cases, invariants, gradients, sharding.

Sizes are kept small (T21-T42, at most ~1300 steps) so the whole file runs in about a minute on two
cores. Longer runs live in experiments/solver (results recorded there).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dinosaur import (
    coordinate_systems,
    layer_coordinates,
    shallow_water,
    spherical_harmonic,
    time_integration,
)

from pinn.errors import ConfigError, PinnError
from pinn.physics import equations as eq
from pinn.physics import states as S
from pinn.physics.bands import antisymmetric_pair, flux_function
from pinn.physics.cases import run_case
from pinn.physics.equations import SWTParams, ZonalFlow
from pinn.physics.solver import SolverSettings, State, make_solver

pytestmark = pytest.mark.x64

IDEAL64 = {"x64": True, "dissipation_efold_rotations": None}


def final(traj):
    return jax.tree.map(lambda x: x[-1], traj.states)


# ---------------------------------------------------------------------------------------------
# The tendencies are the MHD-SWT equations


def _xyz(lat, lon):
    return jnp.cos(lat) * jnp.cos(lon), jnp.cos(lat) * jnp.sin(lon), jnp.sin(lat)


def _psi(lat, lon):  # stream function, a polynomial in x, y, z: smooth at the poles
    x, y, z = _xyz(lat, lon)
    return -0.3 * z + 0.05 * x * y * z + 0.03 * y * y


def _chi(lat, lon):  # velocity potential
    x, y, z = _xyz(lat, lon)
    return 0.02 * x * z + 0.01 * y


def _dlat(f):
    return jax.grad(f, 0)


def _dlon(f):
    return jax.grad(f, 1)


def _u(lat, lon):
    return -_dlat(_psi)(lat, lon) + _dlon(_chi)(lat, lon) / jnp.cos(lat)


def _v(lat, lon):
    return _dlon(_psi)(lat, lon) / jnp.cos(lat) + _dlat(_chi)(lat, lon)


def _h(lat, lon):
    x, y, z = _xyz(lat, lon)
    return 1.0 + 0.1 * z * z + 0.02 * (x**3 - 3 * x * y * y)


def _A(lat, lon):
    x, y, z = _xyz(lat, lon)
    return 0.2 * (1 - z * z) * (1 + 0.3 * y + 0.1 * (x * x - y * y))


def _a(lat, lon):
    return -_dlat(_A)(lat, lon) / _h(lat, lon)


def _b(lat, lon):
    return _dlon(_A)(lat, lon) / (jnp.cos(lat) * _h(lat, lon))


def test_tendency_equals_primitive_equations():
    """Solver tendencies of a smooth MHD state = -(primitive residual) from autodiff, to round-off."""
    params = eq.SWTParams(gravity=3.7)
    solver = make_solver(SolverSettings(truncation=42, **IDEAL64), params)
    lat, lon = solver.lat_lon_rad
    la, lo = jnp.asarray(lat.ravel()), jnp.asarray(lon.ravel())

    def pointwise(f):
        return jax.vmap(f)(la, lo).reshape(lat.shape)

    fns = (_u, _v, _h, _a, _b)
    q = eq.Fields(*(pointwise(f) for f in fns))
    d_lat = eq.Fields(*(pointwise(_dlat(f)) for f in fns))
    d_lon = eq.Fields(*(pointwise(_dlon(f)) for f in fns))
    zero = eq.Fields(*(jnp.zeros_like(q.u) for _ in fns))
    res = eq.primitive_residuals(jnp.asarray(lat), jnp.asarray(lon), q, zero, d_lat, d_lon, params)

    tend = solver.tendency(solver.from_nodal(q.u, q.v, q.h, pointwise(_A)))
    ut, vt = spherical_harmonic.vor_div_to_uv_nodal(solver.grid, tend.vorticity, tend.divergence)
    got = {"u": np.asarray(ut).T, "v": np.asarray(vt).T, "h": np.asarray(solver.modal_to_nodal(tend.h))}
    want = {"u": -res.momentum_u, "v": -res.momentum_v, "h": -res.mass}
    for k, value in got.items():
        scale = float(np.max(np.abs(want[k])))
        assert scale > 1e-2
        np.testing.assert_allclose(value, want[k], rtol=0, atol=1e-9 * scale, err_msg=k)
    # the magnetic terms matter here (the check is not vacuous): without A the u tendency differs
    tend0 = solver.tendency(solver.from_nodal(q.u, q.v, q.h, 0.0 * q.h))
    ut0, _ = spherical_harmonic.vor_div_to_uv_nodal(solver.grid, tend0.vorticity, tend0.divergence)
    assert float(np.max(np.abs(np.asarray(ut0).T - got["u"]))) > 1e-3


def test_hydrodynamic_limit_matches_dinosaur():
    """With A = 0 the solver integrates dinosaur's own shallow-water equations (potential = G (h - 1))."""
    G, dt, steps = 2.0, 0.05, 40
    solver = make_solver(SolverSettings(truncation=21, dt=dt, **IDEAL64), eq.SWTParams(gravity=G))
    lat, lon = solver.lat_lon_rad
    u = 0.2 * np.cos(lat) + 0.02 * np.cos(lat) ** 2 * np.cos(2 * lon)
    v = 0.01 * np.sin(lon) * np.cos(lat)
    h = 1.0 + 0.05 * np.sin(lat) ** 2 + 0.01 * np.cos(lat) ** 3 * np.cos(3 * lon)
    ours = solver.from_nodal(u, v, h, np.zeros_like(h))
    out = final(solver.integrate(ours, steps))

    coords = coordinate_systems.CoordinateSystem(solver.grid, layer_coordinates.LayerCoordinates(1))

    class Specs:
        angular_velocity = 1.0

    equation = shallow_water.ShallowWaterEquations(coords, Specs(), None, np.array([G * 1.0]))
    theirs = shallow_water.State(ours.vorticity[None], ours.divergence[None], G * ours.h[None])
    theirs = jax.jit(time_integration.repeated(time_integration.imex_rk_sil3(equation, dt), steps))(theirs)
    for mine, ref in ((out.vorticity, theirs.vorticity[0]), (out.divergence, theirs.divergence[0]), (G * out.h, theirs.potential[0])):
        scale = float(jnp.max(jnp.abs(ref)))
        assert scale > 1e-4
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-11 * scale)


# ---------------------------------------------------------------------------------------------
# Williamson test case 2


@pytest.mark.parametrize("alpha", [0.0, np.pi / 2 - 0.05])
@pytest.mark.parametrize("x64", [True, False])
def test_williamson2(alpha, x64):
    """Normalised l2 error of h after 5 days at T42: < 1e-10 in float64 (no dissipation), < 1e-5 in float32."""
    config = SolverSettings(truncation=42, dt=0.1, x64=x64, dissipation_efold_rotations=None if x64 else 0.1)
    solver = make_solver(config, S.williamson2_params(alpha))
    state = S.williamson2_state(solver, alpha)
    steps = solver.n_steps_for(S.WILLIAMSON.days_to_model(5.0))
    assert 250 < steps < 400
    out = final(solver.integrate(state, steps))
    lat, lon = solver.lat_lon_rad
    _, _, h_true = S.williamson2_fields(lat, lon, alpha)
    err = S.l2_error(solver, solver.to_nodal(out)["h"], h_true)
    assert err < (1e-10 if x64 else 1e-5), err


# ---------------------------------------------------------------------------------------------
# Exact MHD band equilibrium


@pytest.fixture(scope="module")
def solver42():
    return make_solver(SolverSettings(truncation=42, dt=0.05, **IDEAL64), SWTParams())


@pytest.mark.parametrize("balance", ["pressure", "jet"])
def test_band_equilibrium_is_steady(solver42, balance):
    """Antisymmetric 20 kG band at 15-25 deg stays steady over 10 rotations (float64, no dissipation)."""
    solver = solver42
    state = S.band_state(solver, antisymmetric_pair(20.0, 5.0), balance=balance)
    start = solver.to_nodal(state)
    end = state
    for _ in range(10):  # ten one-rotation integrations share one compiled program with the tests below
        end = final(solver.integrate(end, solver.n_steps_for(solver.rotation_period)))
    end = solver.to_nodal(end)
    for key in ("u", "a", "h"):
        x0, x1 = (np.asarray(f[key]) - (1.0 if key == "h" else 0.0) for f in (start, end))
        change = np.max(np.abs(x1 - x0)) / np.max(np.abs(x0))
        assert change < 1e-6, (key, change)
    assert float(np.max(np.abs(np.asarray(start["a"])))) > 0.05  # a 20 kG-class band is really there


# ---------------------------------------------------------------------------------------------
# Invariants and parity


def _warped_band(solver):
    toroids = antisymmetric_pair(20.0, 8.0, amplitudes_deg=(5.0, 2.0), phases_deg=(0.0, 40.0))
    return S.band_state(solver, toroids, balance="pressure")


def test_ideal_conservation_and_parity(solver42):
    """Nonlinear warped-band run, float64, no dissipation: mass to 1e-12, E' to 1e-6 per rotation,
    antisymmetric parity class kept to 1e-10."""
    solver = solver42
    state = _warped_band(solver)
    steps = solver.n_steps_for(solver.rotation_period)
    traj = solver.integrate(state, steps)
    mass, energy = np.asarray(solver.mass(traj.states)), np.asarray(solver.energy(traj.states))
    assert abs(mass[-1] - mass[0]) / mass[0] < 1e-12
    assert abs(energy[-1] - energy[0]) / energy[0] < 1e-6
    nodal = solver.to_nodal(traj.states)
    assert S.parity_error({k: v[-1] for k, v in nodal.items()}) < 1e-10
    # non-vacuous: the run is unsteady (a meridional flow grows from v = 0)
    assert float(np.max(np.abs(np.asarray(nodal["v"][-1])))) > 1e-4


def test_energy_budget_closes_with_dissipation():
    """With dissipation on: |E'(t) - E'(0) + D(t)| / E'(0) < 1e-3 per rotation, and D is not negligible."""
    config = SolverSettings(truncation=42, dt=0.05, x64=True, dissipation_efold_rotations=0.02)
    solver = make_solver(config, SWTParams())
    state = _warped_band(solver)
    steps = solver.n_steps_for(solver.rotation_period)
    traj = solver.integrate(state, steps, steps, track_budget=True)
    energy, dissipated = np.asarray(solver.energy(traj.states)), np.asarray(traj.dissipated)
    assert dissipated[-1] / energy[0] > 1e-4  # dissipation really acts
    assert abs(energy[-1] - energy[0] + dissipated[-1]) / energy[0] < 1e-3 * traj.time[-1] / solver.rotation_period
    assert abs(energy[-1] - energy[0] + dissipated[-1]) < 0.01 * dissipated[-1]  # D accounts for the loss


def test_dissipation_efolding_time():
    """The highest retained total wavenumber decays by e in dissipation_efold_rotations rotations."""
    for kind in ("hyperdiffusion", "exponential"):
        config = SolverSettings(truncation=21, dt=0.1, dissipation_efold_rotations=0.5, dissipation=kind, x64=True)
        solver = make_solver(config, eq.SWTParams())
        x = jnp.zeros(solver.grid.modal_shape).at[0, 21].set(1.0).at[0, 3].set(1.0)
        steps = solver.n_steps_for(0.5 * solver.rotation_period)
        for _ in range(steps):
            x = solver.filter_fn(x)
        assert abs(float(x[0, 21]) - np.exp(-steps * solver.dt / (0.5 * solver.rotation_period))) < 1e-12
        assert float(x[0, 3]) > 0.99  # large scales untouched


# ---------------------------------------------------------------------------------------------
# Differentiability


def test_gradient_matches_finite_differences():
    """jax.grad of a functional of the final state w.r.t. the initial state = central finite differences."""
    solver = make_solver(SolverSettings(truncation=21, dt=0.05, **IDEAL64), SWTParams())
    state = S.band_state(solver, antisymmetric_pair(20.0, 10.0), strength=0.2)
    state = S.add_mode_perturbation(solver, state, 2, 1e-3)
    weights = jnp.asarray(solver.quadrature_weights.T)
    grid = solver.grid

    @jax.jit
    def functional(s: State):
        out = final(solver.integrate(s, 10))
        h = grid.to_nodal(out.h)
        A = grid.to_nodal(out.A)
        return jnp.sum(weights * (h**2 + 10.0 * A * jnp.sin(3 * h)))  # nonlinear in the final state

    grad = jax.jit(jax.grad(functional))(state)
    key = jax.random.split(jax.random.PRNGKey(0), 4)
    direction = State(*(grid.clip_wavenumbers(jax.random.normal(k, state.h.shape) * grid.mask) * 1e-3 for k in key))
    eps = 1e-4
    fd = (functional(state + eps * direction) - functional(state - eps * direction)) / (2 * eps)
    ad = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction)))
    assert abs(float(ad)) > 1e-8
    np.testing.assert_allclose(float(ad), float(fd), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Sharding (the virtual CPU devices of tests/conftest.py)


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_ensemble_sharded_over_devices_matches_single_device(virtual_devices):
    devices = virtual_devices[:4] if len(virtual_devices) >= 4 else virtual_devices[:2]
    solver = make_solver(SolverSettings(truncation=21, dt=0.05, x64=True), SWTParams())
    lat, lon = solver.lat_lon_rad
    tor = antisymmetric_pair(20.0, 10.0)
    u = 0.1 * np.cos(lat)
    members = [solver.from_nodal(u, 0 * u, 1.0 + 1e-3 * np.cos(lat) ** m * np.cos(m * lon), flux_function(lat, lon, tor, 0.1))
               for m in (1, 2, 3, 4)]
    batch = jax.tree.map(lambda *x: np.stack(x), *members)
    mesh = jax.sharding.Mesh(np.array(devices), ("ensemble",))
    sharded = solver.integrate_ensemble(batch, 30, 10, track_budget=True, mesh=mesh)
    assert len(sharded.states.h.sharding.device_set) == len(devices)
    single = [solver.integrate(m, 30, 10, track_budget=True) for m in members]
    diff = max(float(np.max(np.abs(np.asarray(getattr(sharded.states, f))[i] - np.asarray(getattr(s.states, f)))))
               for i, s in enumerate(single) for f in ("vorticity", "divergence", "h", "A"))
    ddiff = max(float(np.max(np.abs(np.asarray(sharded.dissipated)[i] - np.asarray(s.dissipated)))) for i, s in enumerate(single))
    assert diff < 1e-12 and ddiff < 1e-15


# ---------------------------------------------------------------------------------------------
# Named cases and configuration errors


def test_run_case_dataset():
    ds = run_case("band-unstable", days=2.0, trunc=21, strength_kG=30.0, balance="jet", x64=True)
    assert {"u", "v", "h", "a", "b", "A"} <= set(ds.data_vars)
    assert ds["u"].dims == ("time", "lat", "lon")
    assert ds.sizes["time"] == 3 and float(ds.time[-1]) == pytest.approx(2.0)
    assert ds.lat.values[0] < 0 < ds.lat.values[-1] and ds.lon.values[0] == 0.0
    for key in ("G", "r0_cm", "Omega_s", "s0", "s2", "s4", "field_unit_G", "mass_drift", "energy_drift"):
        assert key in ds.attrs
    assert abs(ds.attrs["mass_drift"]) < 1e-12
    assert abs(ds.attrs["energy_budget_residual"]) < 1e-4
    assert ds.attrs["strength_kG"] == 30.0
    # jet balance: prograde jet inside both bands, v = b = 0 initially
    u0 = eq.differential_rotation(np.radians(ds.lat.values), 0.0, ZonalFlow().s2, ZonalFlow().s4)
    jet = ds["u"].isel(time=0).mean("lon").values - np.asarray(u0)
    assert jet[np.argmin(np.abs(ds.lat.values - 20))] > 1e-3 and jet[np.argmin(np.abs(ds.lat.values + 20))] > 1e-3


def test_run_case_williamson2_attrs():
    ds = run_case("williamson2", days=1.0, trunc=21, dissipation=False, x64=True)
    assert ds.attrs["h_l2_error"] < 1e-10
    assert float(ds.time[-1]) == pytest.approx(1.0)


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(ConfigError, match="truncation"):
        make_solver(SolverSettings(truncation=2))
    with pytest.raises(ConfigError, match="dissipation_efold_rotations"):
        make_solver(SolverSettings(truncation=21, dissipation_efold_rotations=-1.0))
    with pytest.raises(ConfigError, match="case"):
        run_case("galewsky")
    with pytest.raises(PinnError, match="positive"):
        solver = make_solver(SolverSettings(truncation=21, x64=True), eq.SWTParams(gravity=0.02))
        S.band_state(solver, strength=0.5)
