"""PINN network on the sphere (Flax NNX) and the fields (u, v, h, a, b) it represents.

Representation (docs/science.md section 4), chosen so that every constraint that can be exact is exact:

* Input: the Cartesian unit vector x = (cos lat cos lon, cos lat sin lon, sin lat). Any smooth function
  of x is periodic in longitude and single-valued and smooth at the poles, exactly. Optional random
  Fourier features [cos(2 pi B x), sin(2 pi B x)] (fixed B ~ N(0, sigma^2)) are functions of x too.
* Outputs of one MLP trunk (tanh by default; random weight factorisation optional):
    - h = 1 + h_scale * n_h                        shell thickness;
    - A = A_scale * n_A                            flux function; the field follows from it,
          h a = -dA/dlat,  h b = (1/cos lat) dA/dlon, so div(h B) = 0 holds identically;
    - W = U * (n_1, n_2, n_3)                      a 3-D vector field; the flow is its projection on the
          tangent plane, u = W . e_lon, v = W . e_lat.
  The flow is a *3-D tangent vector projected on the sphere* (not stream function + velocity potential):
  it is smooth at the poles for the same reason as the scalars, costs one derivative order less than
  (psi, chi), and makes u itself a network output, which the zonal-mean prior acts on directly.
  dA/dlat and (1/cos) dA/dlon are computed as directional derivatives of A(x) along the unit vectors
  e_lat and e_lon in the embedding space (no division by cos lat anywhere, so even a point on a pole
  is finite).
* A trainable scalar c, the pattern speed of the formulation "steady in a frame drifting at c"
  (d/dt -> -c d/dlon; see :mod:`pinn.training.losses`), lives in the model so that it is optimised, saved and
  ensembled with the weights.

Derivatives for the residuals: values of (u, v, h, a, b) need first derivatives of A; the residual
needs their first derivatives in lat and lon, so second derivatives of the network. Two exact ways are
implemented, ``forward`` (nested jax.jvp along the two coordinate directions; batched over points) and
``reverse`` (per-point nested jax.grad/jax.jacrev, vmapped); they agree to 3e-6 (float32).
experiments/bench/bench_training.py measures both: a whole training step with ``forward`` is 2.3x faster
on CPU and 1.05x on an H200 (the fields pass alone 2.1x / 1.9x), so ``forward`` is the default
(``loss.derivatives``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from pinn.config.schema import NetworkConfig
from pinn.physics.equations import Fields

_PRECISION = {
    "highest": jax.lax.Precision.HIGHEST,
    "high": jax.lax.Precision.HIGH,
    "default": jax.lax.Precision.DEFAULT,
}

_ACTIVATIONS = {"tanh": jnp.tanh, "sin": jnp.sin, "gelu": jax.nn.gelu, "silu": jax.nn.silu}


class Buffer(nnx.Variable):
    """Non-trainable array state (Fourier frequencies, output scales): saved and vmapped, not optimised."""


class OutputScales(NamedTuple):
    """Magnitudes the raw network outputs are multiplied by (model units)."""

    h: float  # scale of h - 1
    A: float  # scale of the flux function
    flow: float  # scale of the velocity


# ---------------------------------------------------------------------------------------------
# Geometry


def sphere_embedding(lat, lon):
    """Cartesian unit vector of (lat, lon) in radians (broadcast together); shape (..., 3)."""
    lat, lon = jnp.broadcast_arrays(lat, lon)
    c = jnp.cos(lat)
    return jnp.stack([c * jnp.cos(lon), c * jnp.sin(lon), jnp.sin(lat)], axis=-1)


def tangent_basis(lat, lon):
    """Unit vectors (e_lon, e_lat) at (lat, lon), each shape (..., 3). dx/dlat = e_lat, dx/dlon = cos e_lon."""
    lat, lon = jnp.broadcast_arrays(lat, lon)
    sl, cl = jnp.sin(lat), jnp.cos(lat)
    so, co = jnp.sin(lon), jnp.cos(lon)
    e_lon = jnp.stack([-so, co, jnp.zeros_like(lon)], axis=-1)
    e_lat = jnp.stack([-sl * co, -sl * so, cl], axis=-1)
    return e_lon, e_lat


# ---------------------------------------------------------------------------------------------
# Layers


def _matmul(x, w, precision: str):
    """x (..., din) @ w (din, dout) as one 2-D matmul: batched/vmapped shapes and their transposes stay
    plain GEMMs (XLA:CPU falls back to a slow loop for dots with several contracting dimensions)."""
    lead = x.shape[:-1]
    y = jnp.dot(x.reshape(-1, x.shape[-1]), w, precision=_PRECISION[precision])
    return y.reshape(*lead, w.shape[-1])


class RWFLinear(nnx.Module):
    """Dense layer, optionally with random weight factorisation W = V diag(exp(s)) (Wang et al. 2022)."""

    def __init__(self, din: int, dout: int, *, factorize: bool, rwf_mean: float, rwf_std: float,
                 precision: str, rngs: nnx.Rngs):
        w = jax.nn.initializers.glorot_normal()(rngs.params(), (din, dout), jnp.float32)
        self.precision = precision
        if factorize:
            s = rwf_mean + rwf_std * jax.random.normal(rngs.params(), (dout,), jnp.float32)
            self.log_scale = nnx.Param(s)
            self.kernel = nnx.Param(w / jnp.exp(s))
        else:
            self.log_scale = None
            self.kernel = nnx.Param(w)
        self.bias = nnx.Param(jnp.zeros((dout,), jnp.float32))

    def __call__(self, x):
        w = self.kernel[...]
        if self.log_scale is not None:
            w = w * jnp.exp(self.log_scale[...])
        return _matmul(x, w, self.precision) + self.bias[...]


class SphereNet(nnx.Module):
    """MLP on the Cartesian sphere embedding with outputs (h, A, W); see the module docstring."""

    def __init__(self, config: NetworkConfig, scales: OutputScales, *, rngs: nnx.Rngs,
                 time_window: tuple[float, float] | None = None,
                 solid_body: tuple[float, float, bool] | None = None):
        """``time_window`` (t_first, t_last), model time units: the network also takes time t, fed to the
        trunk as tau = (t - t_mid) / t_half in [-1, 1] over the window (time-dependent formulation); None:
        (lat, lon) only (steady formulation). ``solid_body`` (omega0, G, trainable): add a solid-body rotation
        omega (initially omega0, rad per model time unit) to the flow, W += omega z x x (u = omega cos lat),
        and its balanced thickness h += -(2 omega + omega^2) (sin^2 lat - 1/3) / (2 G) (zero sphere mean;
        v-momentum G dh/dlat = -(u^2 tan + f u)); the parameter is omega / flow scale, so that an Adam step
        moves omega as much as it moves the MLP's flow; None: the MLP alone."""
        self.activation = config.activation
        self.precision = config.matmul_precision
        din = 3
        if config.fourier_features > 0:
            b = config.fourier_sigma * jax.random.normal(rngs.params(), (3, config.fourier_features), jnp.float32)
            self.fourier = Buffer(b)
            din = 3 + 2 * config.fourier_features
        else:
            self.fourier = None
        if time_window is not None:
            t0, t1 = (float(x) for x in time_window)
            self.time_norm = Buffer(jnp.asarray([0.5 * (t0 + t1), max(0.5 * (t1 - t0), 1e-6)], jnp.float32))
            din += 1
        else:
            self.time_norm = None
        kw = {"factorize": config.weight_factorization, "rwf_mean": config.rwf_mean, "rwf_std": config.rwf_std,
              "precision": config.matmul_precision, "rngs": rngs}
        layers = []
        for _ in range(config.depth):
            layers.append(RWFLinear(din, config.width, **kw))
            din = config.width
        self.layers = nnx.List(layers)
        self.head = RWFLinear(din, 5, **kw)
        self.scales = Buffer(jnp.asarray([scales.h, scales.A, scales.flow], jnp.float32))
        c0 = jnp.asarray(config.pattern_speed_init, jnp.float32)
        self.pattern_speed = nnx.Param(c0) if config.trainable_pattern_speed else Buffer(c0)
        if solid_body is None:
            self.solid_body_rate, self.solid_body_gravity = None, None
        else:
            theta = jnp.asarray(solid_body[0] / scales.flow, jnp.float32)
            self.solid_body_rate = nnx.Param(theta) if solid_body[2] else Buffer(theta)
            self.solid_body_gravity = Buffer(jnp.asarray(solid_body[1], jnp.float32))

    def features(self, x):
        if self.fourier is None:
            return x
        z = 2.0 * jnp.pi * _matmul(x, self.fourier[...], self.precision)
        return jnp.concatenate([x, jnp.cos(z), jnp.sin(z)], axis=-1)

    def __call__(self, x, t=None):
        """Raw physical outputs at embedded points x (..., 3) [and times t (...), model units, for a network
        built with a time window]: (h, A, W) with W of shape (..., 3)."""
        act = _ACTIVATIONS[self.activation]
        z = self.features(x)
        if t is not None:
            tn = self.time_norm[...]
            tau = (jnp.broadcast_to(t, x.shape[:-1]) - tn[0]) / tn[1]
            z = jnp.concatenate([z, tau[..., None]], axis=-1)
        for layer in self.layers:
            z = act(layer(z))
        o = self.head(z)
        s = self.scales[...]
        h, A, W = 1.0 + s[0] * o[..., 0], s[1] * o[..., 1], s[2] * o[..., 2:5]
        if self.solid_body_rate is None:
            return h, A, W
        om = s[2] * self.solid_body_rate[...]
        zx = jnp.stack([-x[..., 1], x[..., 0], jnp.zeros_like(x[..., 0])], axis=-1)  # z x x = cos(lat) e_lon
        h = h - (2.0 * om + om * om) * (x[..., 2] ** 2 - 1.0 / 3.0) / (2.0 * self.solid_body_gravity[...])
        return h, A, W + om * zx


def solid_body_rate(model: SphereNet) -> float | None:
    """The network's solid-body rotation omega (rad per model time unit; ``network.solid_body_flow``), or None."""
    if model.solid_body_rate is None:
        return None
    return float(model.scales[...][2] * model.solid_body_rate[...])


# ---------------------------------------------------------------------------------------------
# Fields and their derivatives


class FieldValues(NamedTuple):
    """The primitive fields and the flux function at a set of points."""

    fields: Fields  # u, v, h, a, b
    A: jnp.ndarray


def flow_and_scalars(model: SphereNet, lat, lon, t=None):
    """(u, v, h, A) at points [at times t], without the field (no derivatives needed): for priors and integrals."""
    x = sphere_embedding(lat, lon)
    e_lon, e_lat = tangent_basis(lat, lon)
    h, A, W = model(x) if t is None else model(x, t)
    return jnp.sum(W * e_lon, -1), jnp.sum(W * e_lat, -1), h, A


def field_values(model: SphereNet, lat, lon, mode: str = "forward", t=None) -> FieldValues:
    """(u, v, h, a, b) and A at points (arrays of the same shape, radians; 1-D for ``reverse``) [at times t,
    model units, ``forward`` only: for a network with a time input]."""
    if t is not None:
        if mode != "forward":
            raise ValueError("field values at times t are built in forward mode only")
        return _values_at(lambda xx: model(xx, t), lat, lon)
    if mode == "reverse":
        return jax.vmap(lambda la, lo: _point_values(model, la, lo))(lat, lon)
    return _values_at(model, lat, lon)


def _values_at(net, lat, lon) -> FieldValues:
    """Forward-mode :func:`field_values` of ``net`` (embedded points -> (h, A, W))."""
    x = sphere_embedding(lat, lon)
    e_lon, e_lat = tangent_basis(lat, lon)

    def net_A(xx):
        return net(xx)[1]

    (h, A, W) = net(x)
    # directional derivatives of A(x) along e_lat (= dA/dlat) and e_lon (= dA/dlon / cos lat); two plain
    # jvps, not one vmapped over the two tangents: the vmapped form differentiates (reverse, for the
    # parameter gradient) into 4-D intermediates that XLA:CPU runs ~8x slower (bench_training.py)
    dA_lat = jax.jvp(net_A, (x,), (e_lat,))[1]
    dA_lon = jax.jvp(net_A, (x,), (e_lon,))[1]
    u = jnp.sum(W * e_lon, -1)
    v = jnp.sum(W * e_lat, -1)
    return FieldValues(Fields(u, v, h, -dA_lat / h, dA_lon / h), A)


def _point_values(model: SphereNet, lat, lon) -> FieldValues:
    """Single-point version built with reverse mode (jax.grad) for the inner derivative of A."""
    x = sphere_embedding(lat, lon)
    e_lon, e_lat = tangent_basis(lat, lon)
    h, A, W = model(x)
    gA = jax.grad(lambda xx: model(xx)[1])(x)
    return FieldValues(Fields(W @ e_lon, W @ e_lat, h, -(gA @ e_lat) / h, (gA @ e_lon) / h), A)


def _stack(fv: FieldValues):
    return jnp.stack([*fv.fields, fv.A])


def _unstack(arr) -> FieldValues:
    return FieldValues(Fields(*arr[:5]), arr[5])


class FieldDerivatives(NamedTuple):
    """Values and first derivatives (lat, lon) of (u, v, h, a, b, A) at points."""

    q: FieldValues
    dlat: FieldValues
    dlon: FieldValues


def field_derivatives(model: SphereNet, lat, lon, mode: str = "forward") -> FieldDerivatives:
    """Values and exact first lat/lon derivatives of the fields at points of shape (N,).

    ``forward``: the fields of the batch are linearised once (jax.linearize: one primal pass over the
    inner jvps of A) and the linear map is applied to the all-ones tangent of lat, then of lon; the
    points are independent, so each application gives every point's partial derivative in one batched
    pass. (Two separate jax.jvp calls would recompute the primal; the FLOP counts are in
    experiments/bench.)
    ``reverse``: per point, jax.jacrev of the point function (which itself uses jax.grad), vmapped.
    """
    if mode == "forward":
        def f(la, lo):
            return _stack(field_values(model, la, lo, "forward"))

        ones, zeros = jnp.ones_like(lat), jnp.zeros_like(lat)
        q, tangent = jax.linearize(f, lat, lon)
        return FieldDerivatives(_unstack(q), _unstack(tangent(ones, zeros)), _unstack(tangent(zeros, ones)))
    if mode == "reverse":
        def g(la, lo):
            return _stack(_point_values(model, la, lo))

        def point(la, lo):
            val = g(la, lo)
            dla, dlo = jax.jacrev(g, argnums=(0, 1))(la, lo)
            return val, dla, dlo

        q, dla, dlo = jax.vmap(point, out_axes=1)(lat, lon)
        return FieldDerivatives(_unstack(q), _unstack(dla), _unstack(dlo))
    raise ValueError(f"unknown derivative mode {mode!r} (forward or reverse)")
