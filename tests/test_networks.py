"""The PINN network on the sphere: exact periodicity, pole regularity, div(hB) = 0, exact derivatives.

Also checks the loss plumbing on an exact analytic steady state (solid-body rotation with its balanced
h), so that the PDE terms reach round-off when the fields are right.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pinn.config.schema import Config, NetworkConfig, PhysicsConfig
from pinn.training import band_toroids, networks
from pinn.training.losses import TERM_NAMES, Batch, loss_terms, make_problem, sample_batch
from pinn.training.networks import OutputScales, SphereNet, sphere_embedding, tangent_basis

# jitted once here (eager evaluation of the nested derivatives dispatches thousands of small ops)
field_values = jax.jit(networks.field_values, static_argnums=3)
field_derivatives = jax.jit(networks.field_derivatives, static_argnums=3)
_loss_terms = jax.jit(loss_terms, static_argnums=3)

NET = NetworkConfig(width=32, depth=2, fourier_features=8, fourier_sigma=1.0)
SCALES = OutputScales(h=0.02, A=0.02, flow=0.1)


@pytest.fixture(scope="module")
def model():
    return SphereNet(NET, SCALES, rngs=nnx.Rngs(3))


def points(n=64, seed=0):
    k1, k2 = jax.random.split(jax.random.key(seed))
    lat = jnp.arcsin(jax.random.uniform(k1, (n,), jnp.float32, -0.99, 0.99))
    lon = jax.random.uniform(k2, (n,), jnp.float32, 0.0, 2 * np.pi)
    return lat, lon


def test_embedding_is_unit_vector_and_basis_orthonormal():
    lat, lon = points()
    x = sphere_embedding(lat, lon)
    e_lon, e_lat = tangent_basis(lat, lon)
    np.testing.assert_allclose(jnp.linalg.norm(x, axis=-1), 1.0, atol=1e-6)
    for e in (e_lon, e_lat):
        np.testing.assert_allclose(jnp.linalg.norm(e, axis=-1), 1.0, atol=1e-6)
        np.testing.assert_allclose(jnp.sum(e * x, -1), 0.0, atol=1e-6)
    np.testing.assert_allclose(jnp.sum(e_lon * e_lat, -1), 0.0, atol=1e-6)


def test_longitude_periodicity_is_exact(model):
    lat, lon = points()
    a = field_values(model, lat, lon, "forward")
    b = field_values(model, lat, lon + 2 * np.pi, "forward")
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):  # float32 rounding of lon + 2 pi only
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(y))))


def test_fields_are_regular_at_the_poles(model):
    """At a pole scalars do not depend on longitude and the flow/field vectors are one 3-D vector."""
    lon = jnp.linspace(0.0, 2 * np.pi, 17, dtype=jnp.float32)
    for pole in (np.pi / 2, -np.pi / 2):
        lat = jnp.full_like(lon, pole)
        fv = field_values(model, lat, lon, "forward")
        for q in jax.tree.leaves(fv):
            assert np.all(np.isfinite(q))
        np.testing.assert_allclose(fv.fields.h, fv.fields.h[0], rtol=1e-6)
        np.testing.assert_allclose(fv.A, fv.A[0], rtol=1e-5, atol=1e-8)
        e_lon, e_lat = tangent_basis(lat, lon)
        for xs, ys in ((fv.fields.u, fv.fields.v), (fv.fields.a, fv.fields.b)):
            vec = xs[:, None] * e_lon + ys[:, None] * e_lat
            np.testing.assert_allclose(vec, jnp.broadcast_to(vec[0], vec.shape), atol=1e-6)
        # and the limit from nearby points is the pole value (no 1/cos blow-up)
        near = field_values(model, jnp.full_like(lon, pole * (1 - 1e-5)), lon, "forward")
        for x, y in zip(jax.tree.leaves(near), jax.tree.leaves(fv)):
            np.testing.assert_allclose(x, y, atol=1e-3 * float(jnp.max(jnp.abs(y))) + 1e-9)


def test_forward_and_reverse_derivatives_agree_and_match_finite_differences(model):
    lat, lon = points(32)
    fwd = field_derivatives(model, lat, lon, "forward")
    rev = field_derivatives(model, lat, lon, "reverse")
    for x, y in zip(jax.tree.leaves(fwd), jax.tree.leaves(rev)):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6 * float(jnp.max(jnp.abs(y))) + 1e-9)
    eps = 1e-3
    for d, shift in ((fwd.dlat, (eps, 0.0)), (fwd.dlon, (0.0, eps))):
        plus = field_values(model, lat + shift[0], lon + shift[1], "forward")
        minus = field_values(model, lat - shift[0], lon - shift[1], "forward")
        for name, got, p, m in zip(("u", "v", "h", "a", "b", "A"), jax.tree.leaves(d), jax.tree.leaves(plus),
                                   jax.tree.leaves(minus)):
            fd = (p - m) / (2 * eps)
            scale = float(jnp.max(jnp.abs(fd))) + 1e-12
            assert float(jnp.max(jnp.abs(got - fd))) < 1e-2 * scale, name


def test_field_from_flux_function_is_divergence_free(model):
    """div(h B) vanishes identically: its residual is round-off next to its individual terms."""
    lat, lon = points(256, seed=1)
    prob = make_problem(Config(), band_toroids())
    terms = _loss_terms(model, prob, sample_batch(jax.random.key(0), 256, 8, 4), "forward")
    named = dict(zip(TERM_NAMES, np.asarray(terms)))
    assert named["div"] < 1e-8 * max(named["mom_u"], named["ind_a"], 1e-6)
    d = field_derivatives(model, lat, lon, "forward")
    c = jnp.cos(lat)
    h, a, b = d.q.fields.h, d.q.fields.a, d.q.fields.b
    largest = jnp.max(jnp.abs(h * d.dlat.fields.b * c))
    div = (d.dlon.fields.h * a + h * d.dlon.fields.a) + c * (d.dlat.fields.h * b + h * d.dlat.fields.b) - h * b * jnp.sin(lat)
    assert float(jnp.max(jnp.abs(div))) < 1e-5 * float(largest)


class _SolidBody(nnx.Module):
    """Exact steady state in network form: u = U cos(lat), v = a = b = 0, h balanced (G h' = -(U^2+2U) sin cos)."""

    def __init__(self, U: float, G: float):
        self.U, self.G = U, G
        self.pattern_speed = nnx.Param(jnp.asarray(0.3, jnp.float32))  # any c: the state is axisymmetric

    def __call__(self, x):
        z = x[..., 2]
        h = 1.0 - (self.U**2 + 2 * self.U) * z * z / (2 * self.G)
        W = self.U * jnp.stack([-x[..., 1], x[..., 0], jnp.zeros_like(z)], -1)
        return h, 0.0 * z, W


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_loss_terms_vanish_on_an_exact_steady_state(mode):
    U, G = 0.08, 3.0
    cfg = Config(physics=PhysicsConfig(gravity=G, s0=U, s2=0.0, s4=0.0))
    prob = make_problem(cfg, band_toroids())
    batch = sample_batch(jax.random.key(5), 512, 16, 8)
    terms = dict(zip(TERM_NAMES, np.asarray(_loss_terms(_SolidBody(U, G), prob, batch, mode))))
    for k in ("mom_u", "mom_v", "mass", "ind_a", "ind_b", "div", "prior", "flow_dev", "gauge"):
        assert terms[k] < 1e-10, (k, terms[k])
    assert terms["data"] > 0.01
    # a wrong h (not balanced) is seen by the v-momentum term
    class Wrong(_SolidBody):
        def __call__(self, x):
            h, A, W = super().__call__(x)
            return 1.0 + 0.0 * h, A, W

    wrong = dict(zip(TERM_NAMES, np.asarray(_loss_terms(Wrong(U, G), prob, batch, mode))))
    assert wrong["mom_v"] > 1e-3


def test_batch_is_area_uniform_and_gauss_grid_integrates_exactly():
    b = sample_batch(jax.random.key(1), 20000, 16, 8)
    assert isinstance(b, Batch)
    mu = np.sin(np.asarray(b.lat))
    assert abs(mu.mean()) < 0.02 and abs((mu**2).mean() - 1 / 3) < 0.01  # uniform in sin(lat)
    assert np.all(np.abs(np.asarray(b.lat)) < np.pi / 2)
    # Gauss-Legendre sphere mean of sin^4(lat) (= 1/5) is exact
    g = float(jnp.sum(b.gw * jnp.sin(b.glat) ** 4))
    assert g == pytest.approx(0.2, rel=1e-5)


def test_momentum_residual_divergence_matches_finite_differences(model):
    """cos(lat) div(R_u, R_v) from forward mode equals central differences of the residual itself."""
    from pinn.training.losses import momentum_residual_divergence, pde_residuals

    prob = make_problem(Config(), band_toroids())
    lat, lon = points(32, seed=7)
    lat = jnp.clip(lat, -1.2, 1.2)
    got = np.asarray(jax.jit(momentum_residual_divergence)(model, prob, lat, lon), np.float64)

    @jax.jit
    def mom(la, lo):
        r, _ = pde_residuals(model, prob, la, lo, "forward")
        return jnp.stack([r.momentum_u, r.momentum_v])

    eps = 2e-3
    d_lon = (np.asarray(mom(lat, lon + eps), np.float64) - np.asarray(mom(lat, lon - eps), np.float64)) / (2 * eps)
    d_lat = (np.asarray(mom(lat + eps, lon), np.float64) - np.asarray(mom(lat - eps, lon), np.float64)) / (2 * eps)
    r = np.asarray(mom(lat, lon), np.float64)
    la = np.asarray(lat, np.float64)
    fd = d_lon[0] + np.cos(la) * d_lat[1] - np.sin(la) * r[1]
    scale = np.max(np.abs(fd))
    assert scale > 1e-4  # a random network is far from steady: the check is not vacuous
    np.testing.assert_allclose(got, fd, atol=2e-2 * scale)


def test_div_tendency_term_vanishes_on_steady_state_and_sees_imbalance():
    U, G = 0.08, 3.0
    cfg = Config(physics=PhysicsConfig(gravity=G, s0=U, s2=0.0, s4=0.0))
    prob = make_problem(cfg, band_toroids())
    batch = sample_batch(jax.random.key(5), 256, 16, 8)
    terms = jax.jit(loss_terms, static_argnums=3, static_argnames=("div_points",))
    exact = dict(zip(TERM_NAMES, np.asarray(terms(_SolidBody(U, G), prob, batch, "forward", div_points=128))))
    assert exact["div_tendency"] < 1e-10

    class Unbalanced(_SolidBody):  # h with an extra sin^2 bump: a pressure gradient with nothing to balance it
        def __call__(self, x):
            h, A, W = super().__call__(x)
            return h + 0.01 * x[..., 2] ** 2, A, W

    off = dict(zip(TERM_NAMES, np.asarray(terms(Unbalanced(U, G), prob, batch, "forward", div_points=128))))
    assert off["div_tendency"] > 1e-4
    skipped = dict(zip(TERM_NAMES, np.asarray(terms(Unbalanced(U, G), prob, batch, "forward"))))
    assert skipped["div_tendency"] == 0.0


def test_residual_weights_scale_only_their_equation_and_reject_negatives():
    from pinn.errors import ConfigError
    from pinn.training import check_config
    from pinn.training.losses import GROUP_NAMES, group_losses

    terms = jnp.arange(1.0, len(TERM_NAMES) + 1.0)
    plain = np.asarray(group_losses(terms))
    mass10 = np.asarray(group_losses(terms, (1.0, 1.0, 10.0, 1.0, 1.0, 1.0)))
    assert len(plain) == len(GROUP_NAMES)
    assert mass10[0] - plain[0] == pytest.approx(9.0 * float(terms[TERM_NAMES.index("mass")]))
    np.testing.assert_array_equal(mass10[1:], plain[1:])
    from pinn.config.schema import Config, load_config, replace

    with pytest.raises(ConfigError, match="residual_weights"):  # refused on loading (the key's domain)
        load_config(None, ["loss.residual_weights=[1,1,-1,1,1,1]"])
    cfg = Config()
    bad = replace(cfg, loss=replace(cfg.loss, residual_weights=(1.0, 1.0, -1.0, 1.0, 1.0, 1.0)))
    with pytest.raises(ConfigError, match="residual_weights"):  # and by training, for configs built in code
        check_config(bad)
