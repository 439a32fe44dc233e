"""Per-equation residual scales (loss.residual_scales, loss.residual_scale_<group>; pinn.training.residual_scales)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pinn.config.schema import load_config, training_inputs
from pinn.errors import ConfigError
from pinn.physics.equations import Fields, SWTParams, primitive_residuals
from pinn.training import build_model
from pinn.training.losses import loss_terms, make_problem, pde_residuals, sample_batch, scaled_squares
from pinn.training.residual_scales import natural_scales
from pinn.training.state_cache import state_cache_key
from pinn.training.timedep import drifting_bump_series

SMALL = ["network.width=16", "network.depth=2", "network.fourier_features=8", "physics.band_strength_kG=2.0",
         "network.flow_scale=0.05", "physics.strength_profile=observed"]


def _toroids(cfg):
    return drifting_bump_series(cfg, 0.03).latest


def test_default_scales_are_the_single_R_and_the_loss_is_bit_identical():
    """Default: all six scales are R = max(U, a0), and loss_terms equals the single-R formula of before,
    mean((cos(lat) / R * r)^2), bit for bit on a random network."""
    cfg = load_config(None, SMALL)
    prob = make_problem(cfg, _toroids(cfg))
    R = float(prob.residual_scale)
    assert R == pytest.approx(max(0.05, float(prob.a0)))
    np.testing.assert_array_equal(np.asarray(prob.residual_scales), np.full(6, np.float32(R)))
    model = build_model(cfg, prob)
    batch = sample_batch(jax.random.key(1), 256, 8, 4)
    terms = np.asarray(loss_terms(model, prob, batch))
    res, _ = pde_residuals(model, prob, batch.lat, batch.lon, "forward")
    w = jnp.cos(batch.lat) ** 1.0 / prob.residual_scale  # the formula before per-equation scales
    old = np.asarray([jnp.mean((w * r) ** 2) for r in res])
    np.testing.assert_array_equal(terms[:6], old)


def test_natural_scales_of_a_known_state_give_the_hand_computed_residuals():
    """Solid-body u = U cos(lat), h = 1, a = a0 cos(lat), v = b = 0, da/dt = q cos(lat): the v-momentum
    residual is sin cos (2U + U^2 - a0^2) (Coriolis + curvature - hoop stress, nothing balances them) and
    the a-induction residual is da/dt. With loss.residual_scales natural they are divided by
    2U + U^2 + a0^2 and a0 U: (cos * residual / scale)^2 is checked against those numbers by hand."""
    cfg = load_config(None, [*SMALL, "loss.residual_scales=natural"])
    prob = make_problem(cfg, _toroids(cfg))
    U, a0 = 0.05, float(prob.a0)
    np.testing.assert_allclose(np.asarray(prob.residual_scales),
                               [2 * U + U**2 + a0**2] * 2 + [U, a0 * U, a0 * U, a0], rtol=1e-6)
    lat = jnp.asarray(np.radians([-50.0, -20.0, 10.0, 20.0, 35.0]), jnp.float32)
    lon = jnp.zeros_like(lat)
    c, s, q = jnp.cos(lat), jnp.sin(lat), 0.004
    zero = jnp.zeros_like(lat)
    values = Fields(U * c, zero, 1.0 + zero, a0 * c, zero)
    dlat = Fields(-U * s, zero, zero, -a0 * s, zero)
    dlon = Fields(zero, zero, zero, zero, zero)
    dt = Fields(zero, zero, zero, q * c, zero)
    res = primitive_residuals(lat, lon, values, dt, dlat, dlon, SWTParams(gravity=float(prob.gravity)))
    sq = [np.asarray(x, np.float64) for x in scaled_squares(prob, lat, res, 1.0)]
    cl, sl = np.cos(np.asarray(lat, np.float64)), np.sin(np.asarray(lat, np.float64))
    mom_v = sl * cl * (2 * U + U**2 - a0**2)
    np.testing.assert_allclose(sq[1], (cl * mom_v / (2 * U + U**2 + a0**2)) ** 2, rtol=2e-4)
    np.testing.assert_allclose(sq[3], (cl * q * cl / (a0 * U)) ** 2, rtol=2e-4)
    for i in (0, 2, 4, 5):  # u-momentum, mass, b-induction, div(h B) vanish for this state
        np.testing.assert_allclose(sq[i], 0.0, atol=1e-12)
    # the induction residual weighs (R / (a0 U))^2 more than with the single R = max(U, a0)
    single = make_problem(load_config(None, SMALL), _toroids(cfg))
    ratio = np.asarray(scaled_squares(prob, lat, res))[3] / np.asarray(scaled_squares(single, lat, res))[3]
    np.testing.assert_allclose(ratio, (max(U, a0) / (a0 * U)) ** 2, rtol=1e-5)


def test_group_overrides_and_refusals():
    """loss.residual_scale_<group> replaces that group's scale under either rule; natural with the single R
    set is refused by key; natural_scales is the documented formula."""
    cfg = load_config(None, [*SMALL, "loss.residual_scale_induction=0.001", "loss.residual_scale_continuity=0.2"])
    prob = make_problem(cfg, _toroids(cfg))
    R = float(prob.residual_scale)
    np.testing.assert_allclose(np.asarray(prob.residual_scales), [R, R, 0.2, 1e-3, 1e-3, 1e-3], rtol=1e-6)
    nat = load_config(None, [*SMALL, "loss.residual_scales=natural", "loss.residual_scale_momentum=0.5"])
    np.testing.assert_allclose(np.asarray(make_problem(nat, _toroids(nat)).residual_scales)[:2], 0.5, rtol=1e-6)
    bad = load_config(None, [*SMALL, "loss.residual_scales=natural", "loss.residual_scale=0.01"])
    with pytest.raises(ConfigError, match=r"loss\.residual_scale"):
        make_problem(bad, _toroids(bad))
    np.testing.assert_allclose(natural_scales(0.1, 0.02), [0.2 + 0.01 + 4e-4] * 2 + [0.1, 2e-3, 2e-3, 0.02])


def test_cache_keys_ignore_the_new_keys_at_their_defaults():
    """States cached before the keys existed keep their keys; a non-default scale rule changes the key."""
    cfg = load_config(None, SMALL)
    assert "residual_scales" not in training_inputs(cfg)["loss"]
    nat = load_config(None, [*SMALL, "loss.residual_scales=natural"])
    assert training_inputs(nat)["loss"]["residual_scales"] == "natural"
    tor = _toroids(cfg)
    assert state_cache_key(tor, cfg, 2.0) != state_cache_key(tor, nat, 2.0)
