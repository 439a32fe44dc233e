"""The time-dependent PINN formulation (``train.formulation: time_dependent``; docs/science.md section 4).

The network takes time as a third input over the window of maps whose toroids are fitted, and the
residual is the full time-dependent MHD-SWT system of :func:`pinn.physics.equations.primitive_residuals`
(the one copy of the equations) with d/dt the network's own time derivative, in the core-rate model frame
the equations use; there is no pattern speed c.

Time: model units (1/Omega). The origin is the latest map's time t_N = 0 (the middle of rotation N, as in
:mod:`pinn.emergence.ridges`), earlier maps at t_k = days_k / time unit < 0; inside the network time enters
as tau = (t - t_mid) / t_half in [-1, 1] over the window. At t = 0 the model longitude is the Carrington
longitude (as in the steady formulation), so map k's toroids, seen in the Carrington frame at t_k, sit at
model longitude lambda = phi + (Omega_C - Omega_f) t_k (docs/science.md section 2 'frames and time').

Data term at each map's time: point i of a batch carries map k = i mod K at t_k and the target is map k's
band (its centre line, width, sign and s(lon) with ``physics.strength_profile: observed``), i.e. every map
contributes N/K data points per step. The toroids of each map come from a :class:`ToroidSeries`:

* **each map fitted alone** (:func:`fit_series`): the choice for this formulation, because its point is to
  let the maps tell how the band moves and changes between rotations; the window fit of the steady
  formulation stacks the maps in the Carrington frame (shifted by ``toroids.drift_deg_per_rotation``) and
  so averages that motion away. The forecast/hindcast chain trains on it
  (:func:`pinn.chain.inputs.map_series`).
* the window's fit evaluated at each map time (:func:`window_series`): what a caller holding only one fit
  gets (the chain, for a window of one map): the same band at each of the ``toroids.window`` map times,
  shifted as the fit assumed (fixed in the Carrington frame unless ``toroids.drift_deg_per_rotation`` is
  set). The PINN then evolves it consistently with the equations.

Residual points: t stratified over ``loss.time_slices`` equal slices of the window (point i in slice
i mod S). Causal weighting (Wang, Sankaran & Perdikaris 2022, jaxpi), on with ``loss.causal_epsilon`` > 0:
the pde group loss is the mean over slices of w_j L_j, w_j = exp(-eps sum_{i<j} L_i) (no gradient
through w), oldest slice first; with eps = 0 it is the plain mean. The zonal-flow prior rows and the
sphere-mean grid (mean h, gauge) are each evaluated at a time drawn uniformly in the window.

The state handed downstream (state.nc, the forecast's start) is the network at t = t_N
(:func:`pinn.training.schema.state_dataset`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

import astropy.units as u
import jax
import jax.numpy as jnp
import numpy as np

from pinn.config.physics import model_units
from pinn.config.schema import Config, ToroidsConfig
from pinn.errors import ConfigError, InputError
from pinn.physics.constants import CARRINGTON_SYNODIC_DAYS
from pinn.physics.equations import Fields, SWTParams, primitive_residuals
from pinn.toroids import fit as tor
from pinn.training.losses import (
    Batch,
    Problem,
    make_problem,
    sample_batch,
    scaled_squares,
    toroid_target,
    zonal_prior,
)
from pinn.training.networks import FieldDerivatives, FieldValues, SphereNet, field_values, flow_and_scalars

_N_PDE = 6


# ---------------------------------------------------------------------------------------------
# The toroids of a window of maps


@dataclass(frozen=True)
class ToroidSeries:
    """Toroids at several map times, oldest first, the latest last (what the data term is fitted to)."""

    toroids: tuple  # pinn.toroids.fit.Toroids per map (Carrington longitudes of that map)
    days: tuple[float, ...]  # each map's time relative to the latest map's, days (<= 0, the latest 0)
    shift_deg: tuple[float, ...] = ()  # band of map k = toroids[k] evaluated at Carrington lon + shift_k; () = 0

    def __post_init__(self) -> None:
        n = len(self.toroids)
        shift = tuple(float(x) for x in self.shift_deg) or (0.0,) * n
        if len(self.days) != n or len(shift) != n:
            raise InputError(None, f"toroid series: {n} maps but {len(self.days)} times, {len(shift)} shifts")
        if n < 2:
            raise InputError(None, "the time-dependent PINN needs the toroids of at least 2 map times")
        days = tuple(float(d) for d in self.days)
        if any(b <= a for a, b in pairwise(days)) or days[-1] != 0.0:
            raise InputError(None, f"toroid series: map times must increase to 0 (the latest map), got {days}")
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "shift_deg", shift)

    @property
    def latest(self):
        """The latest map's toroids (time 0)."""
        return self.toroids[-1]

    @property
    def cr(self) -> int | None:
        return getattr(self.latest, "cr", None)

    def to_json_dict(self) -> dict:
        return {"maps": [t.to_json_dict() for t in self.toroids], "days": list(self.days),
                "shift_deg": list(self.shift_deg)}

    @classmethod
    def from_json_dict(cls, d: dict) -> ToroidSeries:
        return cls(tuple(tor.Toroids.from_json_dict(m) for m in d["maps"]), tuple(d["days"]),
                   tuple(d.get("shift_deg", ())))


def fit_series(ds_seq, config: ToroidsConfig, period_days: float = CARRINGTON_SYNODIC_DAYS) -> ToroidSeries:
    """Each map of ``ds_seq`` (``Br(cr, lat, lon)``, consecutive rotations) fitted alone, at times
    (cr - latest cr) * ``period_days`` (each map at its middle). A map without strong pixels in a hemisphere
    gives no band there (its data term is masked); an unreadable one an InputError naming its rotation."""
    crs = [int(c) for c in ds_seq["cr"].values]
    fits = tuple(_fit_one(ds_seq, c, config) for c in crs)
    return ToroidSeries(fits, tuple((c - crs[-1]) * period_days for c in crs))


def _fit_one(ds_seq, cr: int, config: ToroidsConfig):
    """:func:`pinn.toroids.fit.fit_toroids` of the map of rotation ``cr``; its InputError names the rotation."""
    try:
        return tor.fit_toroids(ds_seq.sel(cr=cr), config)
    except InputError as exc:
        raise InputError(exc.path, f"toroids of the map of CR {cr} alone: {exc.problem}") from exc


def window_series(toroids, config: Config, period_days: float = CARRINGTON_SYNODIC_DAYS) -> ToroidSeries:
    """The window fit ``toroids`` (of the latest rotation) at each of the ``toroids.window`` map times:
    the same band, shifted in Carrington longitude by what the fit assumed (``drift_deg_per_rotation``)."""
    n = config.toroids.window
    if n < 2:
        raise ConfigError("config key 'toroids.window' must be >= 2 for train.formulation = time_dependent "
                          "(the network is fitted over the window's map times)")
    lags = np.arange(n - 1, -1, -1)  # rotations before the latest, oldest first
    # the fit shifted map c's pixels by drift * (target - c) to align them with the target rotation
    shift = tuple(float(config.toroids.drift_deg_per_rotation * k) for k in lags)
    return ToroidSeries((toroids,) * n, tuple(float(-k * period_days) for k in lags), shift)


# ---------------------------------------------------------------------------------------------
# Loss inputs and collocation points


class SeriesProblem(NamedTuple):
    """Loss inputs of the time-dependent formulation (a pytree, stackable over cases like Problem)."""

    latest: Problem  # the latest map's loss inputs: scales, a0, G, prior, and the t_N target of state.nc
    maps: Problem  # every map's loss inputs stacked on a leading map axis (K, ...)
    map_time: jnp.ndarray  # (K,) map times, model units (the latest 0)
    lon_shift: jnp.ndarray  # (K,) rad: map k's target at model lon lambda is its band at lambda - lon_shift_k
    window: jnp.ndarray  # (2,) first and last map time, model units


class SeriesBatch(NamedTuple):
    """Collocation points of one step: the steady batch's (lat, lon) points and grids, plus times."""

    space: Batch
    t: jnp.ndarray  # (N,) residual times, stratified over the slices
    slice: jnp.ndarray  # (N,) int32 slice of each residual point (i mod S)
    map_index: jnp.ndarray  # (N,) int32 map of each data point (i mod K)
    t_data: jnp.ndarray  # (N,) its map time
    qt: jnp.ndarray  # (nz,) time of each zonal-prior row
    gt: jnp.ndarray  # () time of the sphere-mean grid


def check_formulation(config: Config) -> None:
    """ConfigError naming the key for settings the time-dependent formulation does not support."""
    if config.train.formulation != "time_dependent":
        return
    if config.loss.derivatives != "forward":
        raise ConfigError("config key 'loss.derivatives' must be forward with train.formulation = time_dependent")
    if config.loss.w_div_tendency > 0:
        raise ConfigError("config key 'loss.w_div_tendency' must be 0 with train.formulation = time_dependent "
                          "(the term is built for the steady formulation)")
    if config.train.warm_start != "none":
        raise ConfigError("config key 'train.warm_start' must be none with train.formulation = time_dependent")


def make_series_problem(config: Config, series: ToroidSeries, strength_kG: float | None = None) -> SeriesProblem:
    """The loss inputs of ``series``: each map's :func:`make_problem`, its time and frame shift (model units)."""
    mu = model_units(config.physics)
    times = np.array([mu.time_to_model(d * u.day) for d in series.days], np.float64)
    delta = mu.carrington_minus_frame_rate  # Carrington frame vs model frame, rad per time unit
    shift = delta * times - np.radians(np.asarray(series.shift_deg, np.float64))
    maps = [make_problem(config, t, strength_kG) for t in series.toroids]
    stacked = Problem(*(jnp.stack(x) for x in zip(*maps)))
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    return SeriesProblem(maps[-1], stacked, f32(times), f32(shift), f32([times[0], times[-1]]))


def problem_for(config: Config, toroids, strength_kG: float | None = None):
    """The loss inputs of the configured formulation: :class:`Problem` (steady) or :class:`SeriesProblem`
    (time_dependent; ``toroids`` a :class:`ToroidSeries`, or one window fit, see :func:`window_series`)."""
    if config.train.formulation == "steady":
        if isinstance(toroids, ToroidSeries):
            raise ConfigError("config key 'train.formulation' is steady but the toroids are a series of map times: "
                              "set it to time_dependent, or give one window fit")
        return make_problem(config, toroids, strength_kG)
    check_formulation(config)
    series = toroids if isinstance(toroids, ToroidSeries) else window_series(toroids, config)
    return make_series_problem(config, series, strength_kG)


def sample_series_batch(key, problem: SeriesProblem, n: int, nz: int, nl: int, slices: int) -> SeriesBatch:
    """Area-uniform points with residual times stratified over ``slices`` slices of the window, data times
    the map times (point i: map i mod K), and one time per prior row and for the sphere-mean grid."""
    kb, kt, kq, kg = jax.random.split(key, 4)
    space = sample_batch(kb, n, nz, nl)
    t0, t1 = problem.window[0], problem.window[1]
    idx = jnp.arange(n, dtype=jnp.int32)
    sl = idx % slices
    t = t0 + (sl + jax.random.uniform(kt, (n,), jnp.float32)) * ((t1 - t0) / slices)
    k = idx % problem.map_time.shape[0]
    qt = t0 + jax.random.uniform(kq, (nz,), jnp.float32) * (t1 - t0)
    gt = t0 + jax.random.uniform(kg, (), jnp.float32) * (t1 - t0)
    return SeriesBatch(space, t, sl, k, problem.map_time[k], qt, gt)


# ---------------------------------------------------------------------------------------------
# Fields, residuals and loss terms


def _stack(fv: FieldValues):
    return jnp.stack([*fv.fields, fv.A])


def _unstack(arr) -> FieldValues:
    return FieldValues(Fields(*arr[:5]), arr[5])


def field_derivatives_t(model: SphereNet, lat, lon, t) -> tuple[FieldDerivatives, FieldValues]:
    """Values, first lat/lon derivatives and the time derivative of the fields at points (N,), forward mode:
    one linearisation, applied to the unit tangent of lat, of lon and of t."""
    def f(la, lo, tt):
        return _stack(field_values(model, la, lo, "forward", tt))

    ones, zeros = jnp.ones_like(lat), jnp.zeros_like(lat)
    q, tangent = jax.linearize(f, lat, lon, t)
    d = FieldDerivatives(_unstack(q), _unstack(tangent(ones, zeros, zeros)), _unstack(tangent(zeros, ones, zeros)))
    return d, _unstack(tangent(zeros, zeros, ones))


def series_residuals(model: SphereNet, problem: SeriesProblem, lat, lon, t):
    """Residuals of the full time-dependent MHD-SWT equations at points (lat, lon, t), and the derivatives."""
    d, dt = field_derivatives_t(model, lat, lon, t)
    params = SWTParams(gravity=problem.latest.gravity)
    return primitive_residuals(lat, lon, d.q.fields, dt.fields, d.dlat.fields, d.dlon.fields, params), d


def map_targets(problem: SeriesProblem, lat, lon, map_index):
    """Toroid target and data mask of each point's map (map_index), at model longitudes ``lon``."""
    def one(p: Problem, shift):
        return toroid_target(p, lat, lon - shift)

    targets, masks = jax.vmap(one)(problem.maps, problem.lon_shift)  # (K, N) each
    pick = lambda x: jnp.take_along_axis(x, map_index[None, :], axis=0)[0]
    return pick(targets), pick(masks)


def causal_pde(point_losses, slices_of_points, n_slices: int, epsilon: float):
    """Mean over slices of w_j L_j with L_j the slice's mean point loss and w_j = exp(-eps sum_{i<j} L_i)
    (no gradient through w): the pde group with causal weighting (eps = 0: plain mean of the slices)."""
    sums = jax.ops.segment_sum(point_losses, slices_of_points, n_slices)
    counts = jax.ops.segment_sum(jnp.ones_like(point_losses), slices_of_points, n_slices)
    means = sums / jnp.maximum(counts, 1.0)
    earlier = jnp.cumsum(means) - means
    w = jax.lax.stop_gradient(jnp.exp(-epsilon * earlier))
    return jnp.mean(w * means), w


def series_loss_terms(model: SphereNet, problem: SeriesProblem, batch: SeriesBatch, *, cos_power: float = 1.0,
                      residual_weights: Sequence[float] | None = None, slices: int = 1, epsilon: float = 0.0):
    """(terms ordered as :data:`pinn.training.losses.TERM_NAMES`, pde group loss with causal weighting).

    The terms are the steady formulation's, each an unweighted mean over its points (div_tendency 0);
    the pde group is :func:`causal_pde` of the ``residual_weights``-weighted sum of the six residuals.
    """
    p = problem.latest
    b = batch.space
    res, _ = series_residuals(model, problem, b.lat, b.lon, batch.t)
    sq = scaled_squares(p, b.lat, res, cos_power)
    pde = [jnp.mean(x) for x in sq]
    rw = jnp.ones((_N_PDE,), jnp.float32) if residual_weights is None else jnp.asarray(residual_weights, jnp.float32)
    point = sum(rw[i] * sq[i] for i in range(_N_PDE))
    pde_group, _ = causal_pde(point, batch.slice, slices, epsilon)
    a = field_values(model, b.lat, b.lon, "forward", batch.t_data).fields.a
    target, mask = map_targets(problem, b.lat, b.lon, batch.map_index)
    data = jnp.mean(mask * (a - target) ** 2) / p.a0**2
    uq, vq, _, _ = flow_and_scalars(model, b.qlat[:, None], b.qlon, batch.qt[:, None])
    u0 = zonal_prior(p, b.qlat)
    prior = jnp.mean((jnp.mean(uq, axis=1) - u0) ** 2) / p.flow_scale**2
    flow_dev = jnp.mean((uq - u0[:, None]) ** 2 + vq**2) / p.flow_scale**2
    _, _, hg, Ag = flow_and_scalars(model, b.glat[:, None], b.glon, batch.gt)
    mean_h = ((jnp.sum(b.gw * jnp.mean(hg, axis=1)) - 1.0) / p.h_scale) ** 2
    gauge = (jnp.sum(b.gw * jnp.mean(Ag, axis=1)) / p.A_scale) ** 2
    zero = jnp.zeros((), jnp.float32)
    return jnp.stack([*pde, data, prior, flow_dev, mean_h, gauge, zero]), pde_group


def drifting_bump_series(config: Config, rate_model: float, n_maps: int = 3, lat0_deg: float = 20.0,
                         width_deg: float = 8.0, bump: float = 0.5, bump_lon_deg: float = 180.0,
                         samples: int = 360, period_days: float = CARRINGTON_SYNODIC_DAYS) -> ToroidSeries:
    """Synthetic per-map toroids with a KNOWN drift: antisymmetric zonal bands at +-``lat0_deg`` whose
    strength s(lon) = 1 + ``bump`` cos(lon - lon_k) has its maximum at model longitude ``bump_lon_deg`` at
    the latest map and moves eastward at ``rate_model`` (rad per model time unit, in the model frame).
    Map k (time t_k <= 0) gives the Carrington longitude lon_k = bump_lon + deg((rate - (Omega_C -
    Omega_f)) t_k), i.e. what a synoptic map of a pattern drifting at that rate in the model frame shows."""
    north, south = (tor.HemisphereToroid(s * lat0_deg, width_deg, (), (), -s) for s in (1, -1))
    mu = model_units(config.physics)
    delta = mu.carrington_minus_frame_rate
    grid = np.arange(samples) * (360.0 / samples)
    days = tuple(float(-k * period_days) for k in range(n_maps - 1, -1, -1))
    maps = []
    for d in days:
        t = mu.time_to_model(d * u.day)
        lon_k = bump_lon_deg + np.degrees((rate_model - delta) * t)
        prof = tuple(1.0 + bump * np.cos(np.radians(grid - lon_k)))
        hemi = {h.sign: dataclasses.replace(h, strength_profile=prof) for h in (north, south)}
        maps.append(tor.Toroids(cr=2300 + len(maps), threshold_G=0.0, north=hemi[-1], south=hemi[1]))
    return ToroidSeries(tuple(maps), days)


def latest_time(problem: SeriesProblem) -> float:
    """t_N, the time of the state handed downstream (model units; 0 by construction)."""
    return float(problem.window[1])


def pattern_drift_deg(a_first, a_last, lon_deg) -> float:
    """Longitude shift (deg, eastward positive) that best maps a_first(lon) onto a_last(lon): the peak of
    their periodic cross-correlation, refined by a parabola through its neighbours (for reading a pattern's
    drift from two snapshots of a trained network)."""
    f = np.fft.rfft(np.asarray(a_first, float) - np.mean(a_first))
    g = np.fft.rfft(np.asarray(a_last, float) - np.mean(a_last))
    cc = np.fft.irfft(np.conj(f) * g, n=len(lon_deg))
    i = int(np.argmax(cc))
    y0, y1, y2 = cc[i - 1], cc[i], cc[(i + 1) % len(cc)]
    den = y0 - 2 * y1 + y2
    frac = 0.5 * (y0 - y2) / den if den != 0 else 0.0
    step = 360.0 / len(lon_deg)
    shift = (i + frac) * step
    return float((shift + 180.0) % 360.0 - 180.0)


def maps_drift_rate(problem: SeriesProblem) -> float:
    """Drift rate (rad per model time unit, eastward positive, model frame) of the strength pattern s(lon)
    between consecutive maps of ``problem``: each pair's :func:`pattern_drift_deg` of the maps' s(lon) - 1
    (Carrington longitudes) plus the change of their Carrington -> model frame shift, over the time between
    them; the mean over pairs and hemispheres with a non-uniform s. 0 where no map has one (nothing to read).
    Aliasing: a pair's shift in the Carrington frame, (rate - (Omega_C - Omega_f)) x the map spacing, must
    stay within +-180 deg (-22 deg for a pattern at rest in the model frame, maps one rotation apart)."""
    dev = np.asarray(problem.maps.strength_dev, np.float64)  # (K, 2, L)
    has = np.asarray(problem.maps.has_data, np.float64)  # (K, 2)
    lon = np.degrees(np.asarray(problem.maps.centre_lon[0], np.float64))
    t = np.asarray(problem.map_time, np.float64)
    shift = np.asarray(problem.lon_shift, np.float64)
    rates = []
    for k in range(len(t) - 1):
        for hemi in range(dev.shape[1]):
            a, b = dev[k, hemi], dev[k + 1, hemi]
            if min(has[k, hemi], has[k + 1, hemi]) == 0 or min(np.std(a), np.std(b)) < 1e-6:
                continue
            moved = np.radians(pattern_drift_deg(a, b, lon)) + (shift[k + 1] - shift[k])
            rates.append(moved / (t[k + 1] - t[k]))
    return float(np.mean(rates)) if rates else 0.0


def network_drift(model: SphereNet, lat_deg: float, t_first: float, t_last: float, nlon: int = 360) -> float:
    """Drift rate (rad per model time unit, eastward positive, model frame) of the toroidal field pattern
    a(lat_deg, lon) of a time-dependent network between times ``t_first`` and ``t_last``."""
    lon = np.arange(nlon) * (360.0 / nlon)
    lat = np.full(lon.shape, np.radians(lat_deg), np.float32)
    rows = [np.asarray(field_values(model, jnp.asarray(lat), jnp.asarray(np.radians(lon), jnp.float32), "forward",
                                    jnp.full(lon.shape, t, jnp.float32)).fields.a) for t in (t_first, t_last)]
    return np.radians(pattern_drift_deg(rows[0], rows[1], lon)) / (t_last - t_first)


def zonal_angular_rate(model: SphereNet, lat_deg: float, t: float | None = None, nlon: int = 360) -> float:
    """Zonal-mean u / cos(lat) at ``lat_deg`` (rad per model time unit, model frame) at time ``t`` (None: a
    steady network): the angular rate at which the flow carries a pattern along the band."""
    lon = jnp.asarray(np.radians(np.arange(nlon) * (360.0 / nlon)), jnp.float32)
    lat = jnp.full(lon.shape, np.radians(lat_deg), jnp.float32)
    uu = flow_and_scalars(model, lat, lon, None if t is None else jnp.full(lon.shape, t, jnp.float32))[0]
    return float(np.mean(np.asarray(uu)) / np.cos(np.radians(lat_deg)))


__all__ = [
    "SeriesBatch",
    "SeriesProblem",
    "ToroidSeries",
    "causal_pde",
    "check_formulation",
    "drifting_bump_series",
    "field_derivatives_t",
    "fit_series",
    "latest_time",
    "make_series_problem",
    "map_targets",
    "maps_drift_rate",
    "network_drift",
    "pattern_drift_deg",
    "problem_for",
    "sample_series_batch",
    "series_loss_terms",
    "series_residuals",
    "window_series",
    "zonal_angular_rate",
]
