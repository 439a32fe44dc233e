"""The time-dependent PINN's flow options: the maps' drift rate and the solid-body flow it initialises
(network.solid_body_flow: maps_drift; experiments/timedep/README.md)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pinn.config.schema import load_config
from pinn.errors import ConfigError
from pinn.training import build_model
from pinn.training.networks import flow_and_scalars, solid_body_rate
from pinn.training.timedep import drifting_bump_series, maps_drift_rate, problem_for, zonal_angular_rate

TD = ["network.width=16", "network.depth=2", "network.fourier_features=8", "physics.band_strength_kG=2.0",
      "network.flow_scale=0.05", "physics.strength_profile=observed", "train.formulation=time_dependent"]


@pytest.mark.parametrize("rate", [0.03, -0.05, 0.0])
def test_maps_drift_rate_reads_the_known_drift_in_the_model_frame(rate):
    """The bump of drifting_bump_series moves at ``rate`` in the model frame (its Carrington longitudes move at
    rate - (Omega_C - Omega_f)): the maps' drift rate is that rate; uniform bands give 0."""
    cfg = load_config(None, TD)
    assert maps_drift_rate(problem_for(cfg, drifting_bump_series(cfg, rate))) == pytest.approx(rate, abs=2e-4)
    flat = drifting_bump_series(cfg, rate, bump=0.0)
    assert maps_drift_rate(problem_for(cfg, flat)) == 0.0


def test_solid_body_flow_starts_at_the_maps_drift_with_its_balanced_h():
    """maps_drift: the network's flow is the MLP's plus omega cos(lat), omega starting at the maps' drift
    (0.03), and h gains -(2 omega + omega^2)(sin^2 - 1/3)/(2G), which balances it: G dh/dlat = -(u^2 tan + f u)
    for u = omega cos(lat). The steady formulation refuses the key."""
    plain = load_config(None, TD)
    cfg = load_config(None, [*TD, "network.solid_body_flow=maps_drift"])
    prob = problem_for(cfg, drifting_bump_series(cfg, 0.03))
    m0, m1 = build_model(plain, prob), build_model(cfg, prob)
    omega, G = solid_body_rate(m1), float(prob.latest.gravity)
    assert omega == pytest.approx(0.03, abs=2e-4) and solid_body_rate(m0) is None
    lat = jnp.asarray(np.radians(np.linspace(-80, 80, 161)), jnp.float32)
    lon = jnp.full(lat.shape, 1.3, jnp.float32)
    t = jnp.full(lat.shape, -3.0, jnp.float32)
    u0, v0, h0, _ = (np.asarray(x, np.float64) for x in flow_and_scalars(m0, lat, lon, t))
    u1, v1, h1, _ = (np.asarray(x, np.float64) for x in flow_and_scalars(m1, lat, lon, t))
    la = np.asarray(lat, np.float64)
    np.testing.assert_allclose(u1 - u0, omega * np.cos(la), atol=2e-6)
    np.testing.assert_allclose(v1 - v0, 0.0, atol=2e-6)
    dh = h1 - h0
    ub = omega * np.cos(la)
    balance = G * np.gradient(dh, la) + ub**2 * np.tan(la) + 2 * np.sin(la) * ub
    assert np.max(np.abs(balance[1:-1])) < 2e-3 * np.max(np.abs(2 * np.sin(la) * ub))
    assert zonal_angular_rate(m1, 20.0, -3.0) - zonal_angular_rate(m0, 20.0, -3.0) == pytest.approx(omega, rel=1e-3)
    assert isinstance(m1.solid_body_rate, nnx.Param)
    fixed = build_model(load_config(None, [*TD, "network.solid_body_flow=maps_drift_fixed"]), prob)
    assert not isinstance(fixed.solid_body_rate, nnx.Param) and solid_body_rate(fixed) == pytest.approx(omega)
    steady = load_config(None, [*TD[:-1], "network.solid_body_flow=maps_drift"])
    with pytest.raises(ConfigError, match=r"network\.solid_body_flow"):
        build_model(steady, problem_for(steady, drifting_bump_series(steady, 0.03).latest))
