"""PINN loss: MHD-SWT residuals, toroid data term, zonal-flow prior and constraints (docs/science.md section 4).

Formulation: the state is *steady in a frame drifting at a trainable pattern speed c* (model units,
radians of longitude per 1/Omega, relative to the core-rate model frame): every field is a function of
(lat, lon - c t), so d/dt = -c d/dlon in the residuals. At t = 0 the model longitude is the Carrington
longitude of the fitted toroids (the map's reference time; docs/science.md section 2 'frames and time' is applied
downstream when the state is advanced or compared with later maps). An axisymmetric state leaves c
undetermined (its gradient is then zero and c stays at its initial value).
The other formulation, time-dependent over the window of maps (``train.formulation: time_dependent``), is
:mod:`pinn.training.timedep`; it reuses this module's Problem, sampling and data target.

Terms (every one logged unweighted, each normalised by a scale so that O(1) means 'as large as the
problem's own magnitudes'):

* ``mom_u, mom_v, mass, ind_a, ind_b, div``: mean over area-uniform collocation points (uniform in sin
  lat and lon, redrawn from (seed, step)) of (cos(lat)^p * residual / R)^2, residuals from
  :func:`pinn.physics.equations.primitive_residuals` (the only copy of the equations). R is each
  equation's scale (:mod:`pinn.training.residual_scales`): by default one R = ``loss.residual_scale``
  (default max(max|u0|, a0)) for all six; ``loss.residual_scales: natural`` gives each equation its own
  natural magnitude. ``div`` is zero by construction (field from A) and is logged as a check of the
  derivative code.
* ``data``: mean over the same points of (a - a_obs)^2 / a0^2, with a_obs = a0 * sum over hemispheres of
  sign * s(lon) exp(-((lat - lam_c(lon)) / w)^2): the observed toroid centre lines and widths, Hale signs per
  hemisphere, s(lon) the toroid's fitted strength along the band with ``physics.strength_profile: observed``
  (else 1); a hemisphere without a fitted toroid is not constrained by data.
* ``prior``: zonal mean of u at stratified latitudes (one per equal-area band, jittered) from
  ``quadrature_lons`` equally spaced longitudes (random offset), against u0 = differential_rotation(lat,
  s0, s2, s4), normalised by max|u0|^2. Without it the problem is under-determined (any u(lat) with its
  balanced h is steady).
* ``flow_dev``: mean over the same grid of ((u - u0)^2 + v^2) / max|u0|^2, the whole flow's departure
  from the prior. Steady non-axisymmetric flows in geostrophic balance (with their h) have almost zero
  residual, so residuals + zonal prior leave them free; this term, at a small weight, selects the
  solution closest to the prior (minimum deviation kinetic energy). The observed non-axisymmetric
  toroids still drive non-axisymmetric flow through the residuals.
* ``mean_h``: (<h> - 1)^2 / h_scale^2 and ``gauge``: <A>^2 / A_scale^2, sphere means by Gauss-Legendre
  quadrature in sin(lat) (``quadrature_lats`` nodes) x equispaced longitudes (random offset). A random
  (even stratified) estimate of the mean would be unbiased for Adam but leaves an O(1e-4) bias in the
  constant part of h on the fixed L-BFGS batch, a few per cent of h - 1.

* ``div_tendency`` (off unless ``loss.w_div_tendency`` > 0): mean over the first ``div_tendency_points``
  collocation points of (cos(lat)^p div(R_u, R_v) / R)^2, the spherical divergence of the momentum
  residual. It is the part of the imbalance that the solver turns into gravity waves (the divergence
  tendency of docs/science.md section 4's self-consistency measure), a gradient-enhanced residual in the sense of
  Yu et al. 2022 (gPINN), restricted to the one combination that matters for the forward start.

Residual weighting: cos(lat)^p with p = ``loss.residual_cos_power`` (default 1, docs/science.md section 4).

Group weights: pde (sum of the six residual terms), data, prior, flow_dev, mean_h, gauge, div_tendency; static weights from the
config times optional adaptive weights (gradient-norm balancing, Wang, Teng & Perdikaris 2021 /
Wang et al. 2023: lambda_g = sum_k |grad L_k| / |grad L_g|, moving average).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pinn.config.physics import band_strength, zonal_flow
from pinn.config.schema import Config
from pinn.errors import InputError
from pinn.physics.bands import gaussian_profile
from pinn.physics.equations import (
    Fields,
    SWTParams,
    differential_rotation,
    drift_frame_tendency,
    primitive_residuals,
)
from pinn.training.networks import OutputScales, SphereNet, field_derivatives, flow_and_scalars
from pinn.training.residual_scales import residual_scales

TERM_NAMES = ("mom_u", "mom_v", "mass", "ind_a", "ind_b", "div", "data", "prior", "flow_dev", "mean_h", "gauge",
              "div_tendency")
GROUP_NAMES = ("pde", "data", "prior", "flow_dev", "mean_h", "gauge", "div_tendency")
_N_PDE = 6
_TWO_PI = 2.0 * math.pi


class Problem(NamedTuple):
    """Everything the loss needs besides the network, as arrays (a pytree: vmappable over an ensemble)."""

    a0: jnp.ndarray  # peak toroidal field, model units
    gravity: jnp.ndarray  # G
    s: jnp.ndarray  # (s0, s2, s4) of the zonal-flow prior
    centre_lon: jnp.ndarray  # (L,) longitudes (rad) of the tabulated centre lines, periodic grid
    centre_lat: jnp.ndarray  # (2, L) centre latitude (rad), north then south
    width: jnp.ndarray  # (2,) band widths (rad)
    sign: jnp.ndarray  # (2,) toroidal-field sign per hemisphere
    strength_dev: jnp.ndarray  # (2, L) s(lon) - 1 on centre_lon (zeros: uniform strength along the band)
    has_data: jnp.ndarray  # (2,) 1 where the hemisphere has a fitted toroid
    flow_scale: jnp.ndarray  # U = max |u0| (prior normaliser)
    residual_scale: jnp.ndarray  # R (residual normaliser of loss.residual_scales = single; div_tendency's)
    h_scale: jnp.ndarray  # scale of h - 1
    A_scale: jnp.ndarray  # scale of A
    residual_scales: jnp.ndarray  # (6,) scale of each residual, ordered as TERM_NAMES[:6] (all R by default)


class Batch(NamedTuple):
    """Collocation points of one step."""

    lat: jnp.ndarray  # (N,) residual/data points, uniform in sin(lat)
    lon: jnp.ndarray  # (N,)
    qlat: jnp.ndarray  # (nz,) stratified latitudes (one per equal-area band) for the zonal-flow prior
    qlon: jnp.ndarray  # (nz, nl) equally spaced longitudes with a random offset per latitude
    glat: jnp.ndarray  # (nz,) Gauss-Legendre latitudes (nodes in sin lat) for sphere means
    gw: jnp.ndarray  # (nz,) their weights, summing to 1
    glon: jnp.ndarray  # (nz, nl) equally spaced longitudes with a random offset per latitude


# ---------------------------------------------------------------------------------------------
# Problem set-up (plain numpy; runs once)

_CENTRE_TABLE = 720  # tabulation of the toroid centre lines (0.5 deg; linear interpolation error ~1e-4 deg)


def band_strength_model(config: Config, strength_kG: float | None = None) -> float:
    """Peak toroidal field a0 in model units (``physics.band_strength_kG`` unless given)."""
    return band_strength(config.physics, strength_kG)


def make_problem(config: Config, toroids, strength_kG: float | None = None) -> Problem:
    """Build the loss inputs from the config and fitted toroids (``Toroids`` with .north/.south)."""
    ph = config.physics
    a0 = band_strength_model(config, strength_kG)
    lon_deg = np.arange(_CENTRE_TABLE) * (360.0 / _CENTRE_TABLE)
    centre, width, sign, has, dev = [], [], [], [], []
    observed = ph.strength_profile == "observed"
    for hemi, default_lat in ((toroids.north, 15.0), (toroids.south, -15.0)):
        if hemi is None:
            centre.append(np.full(lon_deg.shape, default_lat))
            width.append(10.0)
            sign.append(0.0)
            has.append(0.0)
            dev.append(np.zeros(lon_deg.shape))
        else:
            prof = getattr(hemi, "strength_profile", ())
            dev.append(np.asarray(hemi.strength_at(lon_deg)) - 1.0 if observed and prof else np.zeros(lon_deg.shape))
            centre.append(np.asarray(hemi.centre_lat_deg(lon_deg), dtype=float))
            width.append(float(hemi.width_deg))
            sign.append(float(hemi.sign))
            has.append(1.0)
    if not any(has):
        raise InputError(None, "no toroid in either hemisphere: nothing for the PINN data term")
    lat_grid = np.linspace(-0.5 * np.pi, 0.5 * np.pi, 721)
    flow = zonal_flow(ph)
    u0 = np.asarray(differential_rotation(lat_grid, flow.s0, flow.s2, flow.s4))
    scales = output_scales(config, a0, float(np.max(np.abs(u0))), float(np.radians(max(width))))
    U = config.network.flow_scale or scales.flow
    R = config.loss.residual_scale or max(U, a0)
    scales_eq = residual_scales(config.loss, float(U), float(a0))
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    return Problem(
        a0=f32(a0), gravity=f32(ph.gravity), s=f32([flow.s0, flow.s2, flow.s4]),
        centre_lon=f32(np.radians(lon_deg)), centre_lat=f32(np.radians(np.stack(centre))),
        width=f32(np.radians(width)), sign=f32(sign), strength_dev=f32(np.stack(dev)), has_data=f32(has),
        flow_scale=f32(U), residual_scale=f32(R), h_scale=f32(scales.h), A_scale=f32(scales.A),
        residual_scales=f32(scales_eq),
    )


def output_scales(config: Config, a0: float, u0_max: float, width_rad: float) -> OutputScales:
    """Network output scales; config values win, else derived from the problem (see NetworkConfig)."""
    net, G = config.network, config.physics.gravity
    U = net.flow_scale or (u0_max if u0_max > 0 else max(a0, 1e-2))
    A = net.field_scale or max(a0, 1e-6) * width_rad
    h = net.h_scale or float(np.clip((2.0 * U + U * U + a0 * a0) / G, 1e-3, 0.5))
    return OutputScales(h=float(h), A=float(A), flow=float(U))


# ---------------------------------------------------------------------------------------------
# Sampling: a pure function of a key, so of (seed, step)


def sample_batch(key, n: int, nz: int, nl: int) -> Batch:
    """Area-uniform residual points, a stratified prior grid and a Gauss-Legendre grid for sphere means."""
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    lim = 1.0 - 1e-6  # keep cos(lat) > 0: the residuals contain 1/cos before the cos weighting
    mu = jax.random.uniform(k1, (n,), jnp.float32, -lim, lim)
    lon = jax.random.uniform(k2, (n,), jnp.float32, 0.0, _TWO_PI)
    qmu = -1.0 + (jnp.arange(nz) + jax.random.uniform(k3, (nz,), jnp.float32)) * (2.0 / nz)
    qlat = jnp.arcsin(jnp.clip(qmu, -lim, lim))
    qlon = (jnp.arange(nl)[None, :] + jax.random.uniform(k4, (nz, 1), jnp.float32)) * (_TWO_PI / nl)
    gmu, gw = np.polynomial.legendre.leggauss(nz)
    glon = (jnp.arange(nl)[None, :] + jax.random.uniform(k5, (nz, 1), jnp.float32)) * (_TWO_PI / nl)
    return Batch(jnp.arcsin(mu), lon, qlat, qlon, jnp.asarray(np.arcsin(gmu), jnp.float32),
                 jnp.asarray(gw / 2.0, jnp.float32), glon)


# ---------------------------------------------------------------------------------------------
# Terms


def toroid_target(problem: Problem, lat, lon):
    """Observed-toroid toroidal field a_obs = a0 s(lon) sign exp(-((lat - lam_c(lon)) / w)^2) and the data mask
    (hemispheres with a fit); s = 1 + strength_dev (exactly 1 for a uniform band)."""
    lonw = jnp.mod(lon, _TWO_PI)
    table = lambda c: jnp.interp(lonw, problem.centre_lon, c, period=_TWO_PI)
    centres = jax.vmap(table)(problem.centre_lat)
    strength = 1.0 + jax.vmap(table)(problem.strength_dev)
    bands = problem.sign[:, None] * strength * gaussian_profile(lat[None] - centres, problem.width[:, None], jnp)
    mask = jnp.where(lat >= 0.0, problem.has_data[0], problem.has_data[1])
    return problem.a0 * jnp.sum(bands, axis=0), mask


def zonal_prior(problem: Problem, lat):
    """Prior zonal-mean flow u0(lat)."""
    return differential_rotation(lat, problem.s[0], problem.s[1], problem.s[2])


def pde_residuals(model: SphereNet, problem: Problem, lat, lon, mode: str):
    """Residuals of the steady-in-the-drifting-frame equations at points (and the field derivatives)."""
    d = field_derivatives(model, lat, lon, mode)
    c = model.pattern_speed[...]
    dt = Fields(*(drift_frame_tendency(x, c) for x in d.dlon.fields))  # steady in the frame drifting at c
    params = SWTParams(gravity=problem.gravity)
    return primitive_residuals(lat, lon, d.q.fields, dt, d.dlat.fields, d.dlon.fields, params), d


def momentum_residual_divergence(model: SphereNet, problem: Problem, lat, lon):
    """cos(lat) times the spherical divergence of the momentum residual vector (R_u, R_v), at points.

    For a state steady in the drifting frame, the solver's divergence tendency is -c d(delta)/dlon minus
    this divergence: it is the part of the momentum imbalance that projects on gravity waves (docs/science.md
    section 4's self-consistency measure), one derivative order above the residual itself, so pointwise
    residuals of broadband structure feed it with weight ~ wavenumber. Forward mode over the residual
    (third derivatives of A). cos(lat) div R = dR_u/dlon + cos(lat) dR_v/dlat - sin(lat) R_v.
    """
    def mom(la, lo):
        res, _ = pde_residuals(model, problem, la, lo, "forward")
        return jnp.stack([res.momentum_u, res.momentum_v])

    ones, zeros = jnp.ones_like(lat), jnp.zeros_like(lat)
    r, linear = jax.linearize(mom, lat, lon)  # one primal pass for both directions
    d_lat, d_lon = linear(ones, zeros), linear(zeros, ones)
    return d_lon[0] + jnp.cos(lat) * d_lat[1] - jnp.sin(lat) * r[1]


def scaled_squares(problem: Problem, lat, residuals, cos_power: float = 1.0) -> list:
    """(cos(lat)^p residual_i / R_i)^2 at the points, per equation i (R_i = ``problem.residual_scales[i]``)."""
    c = jnp.cos(lat) ** cos_power
    return [(c / problem.residual_scales[i] * r) ** 2 for i, r in enumerate(residuals)]


def loss_terms(model: SphereNet, problem: Problem, batch: Batch, mode: str = "forward", *,
               cos_power: float = 1.0, div_points: int = 0):
    """The unweighted, normalised loss terms, a vector ordered as :data:`TERM_NAMES`.

    ``cos_power``: residuals are weighted by cos(lat)**cos_power (1 keeps the metric terms bounded near
    the poles; smaller values constrain the polar caps more). ``div_points`` > 0 adds the
    ``div_tendency`` term on the first ``div_points`` collocation points (0: the term is 0, not computed).
    """
    res, d = pde_residuals(model, problem, batch.lat, batch.lon, mode)
    pde = [jnp.mean(x) for x in scaled_squares(problem, batch.lat, res, cos_power)]
    if div_points > 0:
        lat, lon = batch.lat[:div_points], batch.lon[:div_points]
        dv = momentum_residual_divergence(model, problem, lat, lon)
        div_tendency = jnp.mean((jnp.cos(lat) ** (cos_power - 1.0) * dv / problem.residual_scale) ** 2)
    else:
        div_tendency = jnp.zeros((), jnp.float32)
    target, mask = toroid_target(problem, batch.lat, batch.lon)
    data = jnp.mean(mask * (d.q.fields.a - target) ** 2) / problem.a0**2
    u, v, _, _ = flow_and_scalars(model, batch.qlat[:, None], batch.qlon)
    u0 = zonal_prior(problem, batch.qlat)
    prior = jnp.mean((jnp.mean(u, axis=1) - u0) ** 2) / problem.flow_scale**2
    flow_dev = jnp.mean((u - u0[:, None]) ** 2 + v**2) / problem.flow_scale**2
    _, _, hg, Ag = flow_and_scalars(model, batch.glat[:, None], batch.glon)
    mean_h = ((jnp.sum(batch.gw * jnp.mean(hg, axis=1)) - 1.0) / problem.h_scale) ** 2
    gauge = (jnp.sum(batch.gw * jnp.mean(Ag, axis=1)) / problem.A_scale) ** 2
    return jnp.stack([*pde, data, prior, flow_dev, mean_h, gauge, div_tendency])


def group_losses(terms, residual_weights=None):
    """Terms -> group losses ordered as :data:`GROUP_NAMES` (pde = the six residual terms, summed with
    ``residual_weights``, default all 1)."""
    pde = terms[:_N_PDE] if residual_weights is None else jnp.asarray(residual_weights, terms.dtype) * terms[:_N_PDE]
    return jnp.concatenate([jnp.sum(pde)[None], terms[_N_PDE:]])


def static_weights(config: Config):
    lc = config.loss
    return jnp.asarray([lc.w_pde, lc.w_data, lc.w_prior, lc.w_flow_dev, lc.w_mean_h, lc.w_gauge,
                        lc.w_div_tendency], jnp.float32)


def loss_options(config: Config) -> dict:
    """Static (trace-time) options of :func:`loss_terms` from the config."""
    lc = config.loss
    div_points = min(lc.div_tendency_points, lc.collocation_points) if lc.w_div_tendency > 0 else 0
    return {"cos_power": float(lc.residual_cos_power), "div_points": int(div_points)}


def balanced_weights(group_grad_norms, old, alpha: float, bounds: tuple[float, float]):
    """Gradient-norm balancing: lambda_g = sum_k |grad L_k| / |grad L_g|, moving average, clipped."""
    n = group_grad_norms
    new = jnp.sum(n) / jnp.maximum(n, 1e-30)
    new = jnp.clip(new, bounds[0], bounds[1])
    return jnp.clip(alpha * old + (1.0 - alpha) * new, bounds[0], bounds[1])
