"""Steady states of the solver (pinn.physics.balance): drift residual, balance initialisation, nearest steady state."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from pinn.errors import PinnError
from pinn.physics import states as S
from pinn.physics.balance import (
    BALANCE_FIELDS,
    FIELDS,
    balance_start,
    drift_residual,
    refine_steady_state,
)
from pinn.physics.bands import antisymmetric_pair
from pinn.physics.equations import SWTParams
from pinn.physics.solver import SolverSettings, State, make_solver


def _solver(x64: bool = True, params=None):
    return make_solver(SolverSettings(truncation=21, x64=x64, dissipation_efold_rotations=None),
                       params or SWTParams())


@pytest.fixture(scope="module")
def solver():
    return _solver()


@pytest.fixture(scope="module")
def zonal_band(solver):
    """Exact discrete steady state: background rotation plus a zonal antisymmetric band, 20 kG."""
    return S.band_state(solver, antisymmetric_pair(20.0, 10.0), S.strength_from_kG(20.0), "pressure")


def _drift(solver, state: State, c: float) -> State:
    with jax.enable_x64(True):  # drift_residual is pure; the solver's float64 grid needs x64 on
        return drift_residual(solver.equation, state, c)


def _max_abs(state: State) -> float:
    return max(float(np.max(np.abs(np.asarray(getattr(state, f))))) for f in FIELDS)


def _unbalanced(solver, state: State, amplitude: float = 1.0) -> State:
    """state plus a divergence and an h perturbation (zero mean, non-zonal): a gravity-wave burst to come."""
    lat, lon = solver.lat_lon_rad
    d_div = 2e-3 * amplitude * np.cos(lat) ** 2 * np.sin(lat) * np.cos(2 * lon)
    d_h = 1e-3 * amplitude * np.cos(lat) ** 3 * np.cos(3 * lon + 1.0)
    return State(state.vorticity, state.divergence + solver.nodal_to_modal(d_div),
                 state.h + solver.nodal_to_modal(d_h), state.A)


def test_drift_residual_vanishes_on_exact_steady_states(solver, zonal_band):
    # zonal: steady in every drifting frame (d/dlon = 0)
    scale = _max_abs(solver.tendency(_unbalanced(solver, zonal_band)))
    for c in (0.0, 0.3):
        assert _max_abs(_drift(solver, zonal_band, c)) < 1e-12 * scale
    # non-zonal: Williamson case 2 about a tilted axis is steady (c = 0) and not for c != 0
    alpha = 0.7
    w_solver = _solver(params=S.williamson2_params(alpha))
    w2 = S.williamson2_state(w_solver, alpha)
    moving = _max_abs(_drift(w_solver, w2, 0.05))
    assert _max_abs(_drift(w_solver, w2, 0.0)) < 1e-9 * moving  # round-off of the transforms


def test_balance_start_recovers_the_steady_state(solver, zonal_band):
    """Given vorticity and A of a steady state, the balanced divergence and h are unique: the known answer."""
    start = _unbalanced(solver, zonal_band)
    out = balance_start(solver, start, 0.0)
    assert out.converged and out.iterations <= 4
    assert out.residual_end < 1e-10 * out.residual_start
    assert out.div_tendency_end < 1e-10 * out.div_tendency_start
    for f in ("vorticity", "A"):  # the slow part is kept exactly
        np.testing.assert_array_equal(np.asarray(getattr(out.state, f)), np.asarray(getattr(start, f)))
    for f in BALANCE_FIELDS:
        error = np.max(np.abs(np.asarray(getattr(out.state, f)) - np.asarray(getattr(zonal_band, f))))
        perturbation = np.max(np.abs(np.asarray(getattr(start, f)) - np.asarray(getattr(zonal_band, f))))
        assert error < 1e-8 * perturbation, f
    np.testing.assert_allclose(float(solver.mass(out.state)), float(solver.mass(start)), rtol=1e-14)


def test_krylov_and_dense_balance_agree(solver, zonal_band):
    """Newton-GMRES (balance_start) and dense Gauss-Newton solve the same square problem: same answer."""
    start = _unbalanced(solver, zonal_band, amplitude=3.0)
    krylov = balance_start(solver, start, 0.02, rtol=1e-12)
    dense = refine_steady_state(solver, start, 0.02, fields=BALANCE_FIELDS, anchor=0.0, fit_pattern_speed=False,
                                method="dense", rtol=1e-12)
    for f in BALANCE_FIELDS:
        a, b = np.asarray(getattr(krylov.state, f)), np.asarray(getattr(dense.state, f))
        assert np.max(np.abs(a - b)) < 1e-9 * np.max(np.abs(b - np.asarray(getattr(start, f))))


def test_balanced_start_sheds_no_gravity_waves(solver, zonal_band):
    """Over 200 steps (1.6 rotations) the balanced start keeps |div| at round-off; the unbalanced one does not."""
    start = _unbalanced(solver, zonal_band)
    balanced = balance_start(solver, start, 0.0).state
    runs = {}
    for name, s in (("unbalanced", start), ("balanced", balanced)):
        traj = solver.integrate(s, 200, 50)
        runs[name] = max(float(np.max(np.abs(np.asarray(solver.to_nodal(traj.states)["divergence"][i]))))
                         for i in range(traj.states.divergence.shape[0]))
    assert runs["unbalanced"] > 1e-4
    assert runs["balanced"] < 1e-6 * runs["unbalanced"]


def test_float32_solver_gets_a_float32_state():
    solver32 = _solver(x64=False)
    band = S.band_state(solver32, antisymmetric_pair(20.0, 10.0), S.strength_from_kG(20.0), "pressure")
    out = balance_start(solver32, _unbalanced(solver32, band), 0.0)
    assert all(np.asarray(getattr(out.state, f)).dtype == np.float32 for f in FIELDS)
    tend = solver32.tendency(out.state)
    assert float(np.max(np.abs(np.asarray(tend.divergence)))) < 1e-2 * out.div_tendency_start  # float32 round-off of the tendency


def test_nearest_steady_state_reduces_the_residual_and_stays_close(solver, zonal_band):
    """All four fields: a non-zonal vorticity perturbation is not steady; the refinement removes most of the
    residual while moving the state by less than the perturbation (the anchor picks the nearby branch)."""
    lat, lon = solver.lat_lon_rad
    d_zeta = 2e-2 * np.cos(lat) ** 2 * np.sin(lat) * np.cos(2 * lon)
    start = State(zonal_band.vorticity + solver.nodal_to_modal(d_zeta), zonal_band.divergence, zonal_band.h,
                  zonal_band.A)
    out = refine_steady_state(solver, start, 0.0, anchor=1e-3, max_iter=8)
    assert out.residual_end < 1e-2 * out.residual_start
    moved = np.max(np.abs(np.asarray(out.state.vorticity) - np.asarray(start.vorticity)))
    assert moved < np.max(np.abs(np.asarray(solver.nodal_to_modal(d_zeta))))
    assert 0.0 < out.change < 1.0


@pytest.mark.parametrize("kwargs, match", [
    ({"fields": ("h", "velocity")}, "fields must be"),
    ({"fields": ("h", "h")}, "fields must be"),
    ({"anchor": -1.0}, "anchor must be"),
    ({"method": "lsqr"}, "method must be"),
    ({"method": "krylov"}, "balance problem only"),
])
def test_bad_arguments_are_refused(solver, zonal_band, kwargs, match):
    with pytest.raises(PinnError, match=match):
        refine_steady_state(solver, zonal_band, 0.0, **kwargs)


def test_balance_compiles_once_per_solver_settings():
    """The hindcast balances one start per case, each on its own float32 solver: the float64 twin and the
    jitted residual are shared by equal settings, and a shared compilation gives the answer of a fresh one."""
    from pinn.physics import balance as bal

    bal._float64_twin.cache_clear()
    bal._compiled_residual.cache_clear()
    first, second = _solver(x64=False), _solver(x64=False)  # equal settings, distinct instances
    band = S.band_state(first, antisymmetric_pair(20.0, 10.0), S.strength_from_kG(20.0), "pressure")
    start = _unbalanced(first, band)
    a = balance_start(first, start, 0.01)
    b = balance_start(second, start, 0.01)
    assert bal._float64_twin.cache_info().misses == 1 and bal._compiled_residual.cache_info().misses == 1
    bal._float64_twin.cache_clear()
    bal._compiled_residual.cache_clear()
    fresh = balance_start(second, start, 0.01)
    for f in BALANCE_FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(a.state, f)), np.asarray(getattr(b.state, f)))
        np.testing.assert_array_equal(np.asarray(getattr(a.state, f)), np.asarray(getattr(fresh.state, f)))
