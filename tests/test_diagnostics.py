"""Self-consistency measures (docs/science.md section 4) on states whose answer is known.

A discretely balanced axisymmetric state (differential rotation, h in balance, no field) is steady on the
solver grid: its divergence tendency and divergence vanish. A thickness bump on it is not: gravity
waves start at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pinn.chain import diagnostics as dg
from pinn.config.schema import load_config
from pinn.training import read_toroids_json

REPO = Path(__file__).resolve().parents[1]
SMALL = ["solver.truncation=21", "solver.dt=0.1"]


@pytest.fixture(scope="module")
def setup():
    from pinn.config.physics import solver_for, zonal_flow
    from pinn.physics import states as st

    config = load_config(REPO / "configs" / "quick.yaml", SMALL)
    sched = dg.divergence_schedule(config, days=0.5, snap_days=0.25, fine_per_snap=2)
    solver = solver_for(config, dt=sched.dt)
    return config, sched, solver, st.background_state(solver, zonal_flow(config.physics))


def bumped(solver, state, amplitude=1e-3):
    f = {k: np.asarray(v, np.float64) for k, v in solver.to_nodal(state).items()}
    lat, lon = solver.lat_lon_rad
    bump = amplitude * np.exp(-((lat - 0.3) ** 2 + (lon - np.pi) ** 2) / 0.05)
    return solver.from_nodal(f["u"], f["v"], f["h"] + bump, f["A"])


def test_schedule_divides_the_snapshots(setup):
    config, sched, _, _ = setup
    assert sched.dt <= config.solver.dt + 1e-12
    assert sched.n_fine == 4 and sched.window % 2 == 1 and sched.steps == sched.n_fine * sched.per_fine


def test_balanced_state_is_steady_and_a_bump_is_not(setup):
    _, sched, solver, state = setup
    calm = dg.divergence_measures(solver, state, sched)
    kicked = dg.divergence_measures(solver, bumped(solver, state), sched)
    assert calm["finite"] and kicked["finite"]
    assert kicked["rms_div_tendency_t0"] > 1e-5
    assert calm["rms_div_tendency_t0"] < 1e-6 * kicked["rms_div_tendency_t0"]
    assert calm["rms_div_0_2days"] < 1e-4 * kicked["rms_div_0_2days"]  # float32 stepping noise
    assert len(calm["rms_div_series"]) == 3  # t = 0, 0.25, 0.5 d
    assert kicked["rms_div_t0"] < 1e-4 * kicked["rms_div_0_2days"]  # the bump starts at rest: div(0) = 0


def test_self_consistency_ratios_of_a_balanced_start(setup):
    """A 'PINN' that returns the balanced background: far better balanced than the naive band start."""
    config, _, solver, state = setup
    nodal = {k: np.asarray(v, np.float64) for k, v in solver.to_nodal(state).items()}

    def evaluate(model, lat_deg, lon_deg):
        assert np.allclose(lat_deg, solver.lat) and np.allclose(lon_deg, solver.lon)
        return nodal

    grid = xr.Dataset({k: (("lat", "lon"), nodal[k]) for k in ("u", "v", "h", "A")},
                      coords={"lat": solver.lat, "lon": solver.lon})
    toroids = read_toroids_json(REPO / "experiments" / "field_strength" / "toroids_cr2280.json")
    res = dg.self_consistency(config, None, toroids, 20.0, grid, days=0.5, snap_days=0.25, fine_per_snap=2,
                              evaluate=evaluate)
    assert set(dg.REFERENCE_STARTS) | {"pinn", "pinn_interp"} <= set(res)
    # (not ~0: the start goes through the nodal round trip (to_nodal, from_nodal), which is not exact)
    assert res["ratio_pinn_over_naive_rms_div_tendency_t0"] < 1e-2
    assert res["ratio_pinn_over_classical_rms_div_0_2days"] < 0.1
    assert res["naive"]["rms_div_tendency_t0"] > res["classical"]["rms_div_tendency_t0"] > 0
    assert res["balance"] == {}


def test_ratios_name_every_pair():
    m = {"p": {"x": 1.0}, "a": {"x": 4.0}, "b": {"x": 0.0}}
    r = dg.ratios(m, ["p"], ["a", "b"], ["x"])
    assert list(r) == ["ratio_p_over_a_x", "ratio_p_over_b_x"]
    assert r["ratio_p_over_a_x"] == 0.25 and r["ratio_p_over_b_x"] == pytest.approx(1e300)  # zero reference
