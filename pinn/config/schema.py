"""Typed run configuration: YAML files validated into frozen dataclasses, with dotted overrides.

Every command reads one :class:`Config`. A YAML file gives any subset of keys; the rest keep the
defaults below. ``--set toroids.threshold_G=150`` overrides a single value. An unknown key, or a
value of the wrong type or outside its allowed set, raises :class:`~pinn.errors.ConfigError` with a
one-line message naming the key. Every numeric key has a :class:`Domain` (``bounded(default, ge=...)``
in its field metadata), checked on loading and listed in the config reference. The resolved config is written next to every output
(:func:`dump_yaml`), so each result records exactly how it was made.

Sections hold the parameters of one concept each; physical defaults carry their source or are
labelled assumptions in the field comments (those comments are the config reference).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pinn.errors import ConfigError
from pinn.io import write_text

# ---------------------------------------------------------------------------------------------
# Domains of numeric keys: kept in the field metadata, checked on loading, shown in the reference


@dataclass(frozen=True)
class Domain:
    """Allowed values of a numeric config key (each element, for a list); numbers are always finite.

    ``lo``/``hi`` bound the value (``None``: unbounded), ``lo_open``/``hi_open`` exclude the bound itself;
    ``choices`` lists the only allowed values instead; ``increasing`` asks a list to be strictly increasing.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[float, ...] | None = None
    increasing: bool = False

    def contains(self, value: float) -> bool:
        """Whether one number is allowed."""
        if self.choices is not None:
            return value in self.choices
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return False
        return not (self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)))

    def phrase(self, integer: bool, is_list: bool) -> str:
        """What a value must be, e.g. 'an integer >= 1', 'a finite number', 'a list of numbers >= 0'."""
        kind = ("integers" if integer else "numbers") if is_list else ("an integer" if integer else "a number")
        if self.choices is not None:
            return f"{'a list of ' if is_list else ''}{self.describe()}"
        if self.describe() == "finite":
            return f"a list of finite {kind}" if is_list else f"a finite {kind.split()[-1]}"
        return f"{'a list of ' if is_list else ''}{kind} {self.describe()}"

    def describe(self) -> str:
        """The allowed values in words: ``>= 1``, ``in (0, 52]``, ``one of -1, 1``, ``finite``."""
        if self.choices is not None:
            return "one of " + ", ".join(map(_number, self.choices))
        if self.lo is not None and self.hi is not None:
            text = f"in {'(' if self.lo_open else '['}{_number(self.lo)}, {_number(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            text = f"{'>' if self.lo_open else '>='} {_number(self.lo)}"
        elif self.hi is not None:
            text = f"{'<' if self.hi_open else '<='} {_number(self.hi)}"
        else:
            text = "finite"
        return text + (", increasing" if self.increasing else "")


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def bounded(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[float, ...] | None = None,
    increasing: bool = False,
) -> Any:
    """A dataclass field with ``default`` and the :class:`Domain` given by ``ge``/``gt`` (lower bound,
    inclusive/exclusive), ``le``/``lt`` (upper bound), ``choices`` or ``increasing``; none = finite only."""
    domain = Domain(
        lo=gt if gt is not None else ge,
        hi=lt if lt is not None else le,
        lo_open=gt is not None,
        hi_open=lt is not None,
        choices=choices,
        increasing=increasing,
    )
    return field(default=default, metadata={"domain": domain})


def domain_of(f: dataclasses.Field) -> Domain | None:
    """The :class:`Domain` of a config field, or None for non-numeric keys."""
    return f.metadata.get("domain")


def check_key(cls: type, name: str, value: Any, label: str) -> None:
    """Check ``value`` against the domain of field ``name`` of config dataclass ``cls`` (e.g. a CLI flag that
    stands for that key); :class:`ConfigError` names ``label``."""
    _check_domain(next(f for f in dataclasses.fields(cls) if f.name == name), value, label)


def _check_domain(f: dataclasses.Field, value: Any, key: str) -> None:
    """Raise :class:`ConfigError` naming ``key`` and its allowed range if ``value`` is outside it."""
    domain = domain_of(f)
    if domain is None or value is None:
        return
    values = list(value) if isinstance(value, tuple) else [value]
    ok = all(domain.contains(v) for v in values)
    if ok and domain.increasing:
        ok = all(a < b for a, b in itertools.pairwise(values))
    if not ok:
        integer = all(isinstance(v, int) for v in values)
        name = key if key.startswith("-") else f"config key '{key}'"
        raise ConfigError(f"{name} = {_yaml_value(value)}: must be "
                          f"{domain.phrase(integer, isinstance(value, tuple))}")


@dataclass(frozen=True)
class ObservationsConfig:
    """Reading synoptic magnetograms."""

    min_finite_fraction: float = bounded(0.5, ge=0, le=1)  # reject maps with fewer finite pixels than this (HMI: ~0.99)
    regrid: Literal["native", "uniform"] = "native"  # native sine-latitude rows, or uniform latitude
    uniform_nlat: int = bounded(180, ge=2)  # rows of the uniform-latitude grid when regrid = uniform
    strict: bool = False  # refuse files with documented, repairable header defects (and implausible pixels) instead of repairing
    max_abs_field_G: float = bounded(1.0e4, gt=0)  # |Br| above this is physically impossible: strongest photospheric fields measured ~6-8 kG (Livingston et al. 2006; Okamoto & Sakurai 2018)
    max_implausible_fraction: float = bounded(0.01, ge=0, le=1)  # maps with more finite pixels above max_abs_field_G than this are refused; fewer are masked to NaN
    check_structure: bool = True  # refuse maps without the heavy-tailed, coherent structure of the solar field (pure noise, constants; pinn.data.structure); false only for synthetic test patterns


@dataclass(frozen=True)
class ToroidsConfig:
    """Toroid extraction (docs/science.md section 3; Dikpati et al. 2021, ApJ 910, 91)."""

    threshold_G: float = bounded(100.0, gt=0)  # |Br| threshold that keeps ARs and drops network field (docs/science.md section 3)
    max_modes: int = bounded(3, ge=0)  # largest longitudinal wavenumber M tried for the centre line
    modes: int | None = bounded(None, ge=0)  # fixed M; None chooses M by the BIC over 0..max_modes
    lat_limit_deg: float = bounded(50.0, gt=0, le=90)  # pixels beyond this |latitude| are ignored (polar field, not ARs)
    min_pixels: int = bounded(20, ge=1)  # fewer strong pixels in a hemisphere than this: no fit
    width_bounds_deg: tuple[float, float] = bounded((1.0, 25.0), gt=0, le=90, increasing=True)  # bounds of the band width w
    amplitude_bound_deg: float = bounded(20.0, gt=0, le=90)  # bound on each |A_m|
    window: int = bounded(5, ge=1)  # rotations combined for one estimate (published method: about 5)
    combine_weights: tuple[float, ...] = bounded((1.0, 2.0, 3.0, 2.0, 1.0), ge=0)  # centred window weights
    causal_weights: tuple[float, ...] = bounded((1.0, 2.0, 3.0, 4.0, 5.0), ge=0)  # trailing window, oldest first
    hale_window_deg: float = bounded(8.0, gt=0, le=180)  # Hale moment: neighbourhood (deg) of the reference centroid (assumption)
    strip_deg: float = bounded(20.0, gt=0, le=360)  # lon strips taken as independent units in errors and n_eff (assumption)
    max_vif: float = bounded(1.5, ge=1)  # modes allowed if they inflate var(lat0) at most this much (assumption)
    hale_sign_north_fallback: int = bounded(-1, choices=(-1, 1))  # north sign(a) if no polarity information (cycle 25, docs/science.md section 2)
    drift_deg_per_rotation: float = bounded(0.0, ge=-360, le=360)  # toroid drift vs Carrington frame when stacking (0: published)
    strength_smoothing_deg: float = bounded(25.0, gt=0, le=180)  # s(lon): flux along the band smoothed by exp(-(dlon/L)^2), periodic, L in deg (assumption: a few AR sizes, like the 20-deg strips)


@dataclass(frozen=True)
class PhysicsConfig:
    """MHD-SWT parameters (docs/science.md section 2). Sources in the comments; 'assumption' where none."""

    r0_rsun: float = bounded(0.7, gt=0, le=1)  # shell radius in solar radii (tachocline; Charbonneau et al. 1999)
    core_rate_nHz: float = bounded(430.0, gt=0)  # frame rotation rate (radiative core; Schou et al. 1998), Omega
    carrington_rate_s: float = bounded(2.865e-6, gt=0)  # Carrington sidereal rate, rad/s (25.38 d period)
    rho_g_cm3: float = bounded(0.2, gt=0)  # tachocline density (Christensen-Dalsgaard et al. 1996 model S)
    gravity: float = bounded(10.0, gt=0)  # nondimensional G (Dikpati & Gilman 2001: ~10 radiative tachocline)
    s0: float = bounded(0.0)  # u0 = cos(lat)(s0 + s2 sin^2 + s4 sin^4), core frame: equatorial rate (assumption: = core)
    s2: float = bounded(-0.1264)  # sin^2 coefficient (assumption: tachocline-scale shear, order of helioseismic profiles)
    s4: float = bounded(-0.1591)  # sin^4 coefficient (assumption; sweep it: the flow is not observed)
    band_strength_kG: float = bounded(20.0, gt=0)  # peak toroidal field a0 (PINNBARDS best case: 20-30 kG)
    zonal_flow: Literal["core", "tachocline", "surface_features"] = "core"  # u0 of PINN prior and starts: core = s0, s2, s4 above (equator at the frame rate: longitude structure drifts -0.8..-1.3 deg/day vs Carrington); tachocline = Omega(lat) at the base of the convection zone, 460.7 - 62.69 sin^2 - 67.13 sin^4 nHz (Charbonneau et al. 1999, ApJ 527, 445; Schou et al. 1998; Howe 2009, Living Rev. Sol. Phys. 6, 1); surface_features = Snodgrass (1983, ApJ 270, 288) magnetic-feature rate 2.902 - 0.464 sin^2 - 0.328 sin^4 urad/s (what AR nests follow, experiments/carrier); both relative to core_rate_nHz, s0..s4 then unused
    strength_profile: Literal["uniform", "observed"] = "uniform"  # toroid strength along the band in the PINN data term and the classical start: uniform a0, or a0 s(lon) with the fitted s(lon) of the toroids (pinn.toroids.fit; default uniform until hindcasts measure it)


@dataclass(frozen=True)
class SolverConfig:
    """Spectral MHD-SWT solver (dinosaur spherical-harmonic grid, IMEX time stepping)."""

    truncation: int = bounded(42, ge=4, le=425)  # triangular truncation T (21..170); a forecast refuses T whose Gaussian grid (2 ceil((3T+1)/4) latitudes, spacing 180/that deg) is coarser than the narrowest fitted toroid's half-width w (pinn.physics.resolution: T21 needs w >= 5.6 deg, T42 w >= 2.8 deg)
    dt: float = bounded(0.05, gt=0)  # time step in model time units (1/Omega)
    dissipation_efold_rotations: float | None = bounded(0.1, gt=0)  # e-folding time of the highest wavenumber, rotations; None = off
    hyperdiffusion_order: int = bounded(4, ge=1)  # power of the Laplacian in the hyperdiffusion (2 = del^4)
    x64: bool = False  # float64 (conservation tests) or float32 (production)
    output_every_days: float = bounded(1.0, gt=0)  # snapshot interval of written trajectories
    dissipation: Literal["hyperdiffusion", "exponential"] = "hyperdiffusion"  # form of the dissipation step filter
    exponential_filter_order: int = bounded(18, ge=1)  # order p of exp(-c k^(2p)) when dissipation = exponential (dinosaur default)
    time_stepper: Literal["imex_rk_sil3", "crank_nicolson_rk3", "crank_nicolson_rk4"] = "imex_rk_sil3"  # dinosaur IMEX
    reference_thickness: float = bounded(1.0, gt=0)  # H of the implicit gravity-wave term dh/dt <- -H div u (undisturbed h = 1)
    balance_start: bool = True  # forecasts: balance the start's divergence and h on the solver grid (pinn.physics.balance)


@dataclass(frozen=True)
class NetworkConfig:
    """PINN network (docs/science.md section 4): sphere embedding -> [Fourier features] -> MLP -> (h, A, flow)."""

    width: int = bounded(128, ge=1)  # hidden units per layer (assumption; PINNBARDS-scale MLP)
    depth: int = bounded(4, ge=1)  # hidden layers
    activation: Literal["tanh", "sin", "gelu", "silu"] = "tanh"  # smooth: residuals need 2nd derivatives
    fourier_features: int = bounded(64, ge=0)  # random Fourier features of the Cartesian embedding (cos+sin pairs); 0 = off
    fourier_sigma: float = bounded(1.0, gt=0)  # std of the Fourier frequencies (cycles per unit of the embedding)
    weight_factorization: bool = True  # random weight factorisation W = diag(exp(s)) V (Wang et al. 2022)
    rwf_mean: float = bounded(1.0)  # mean of the initial log-scales s (Wang et al. 2022: 1.0)
    rwf_std: float = bounded(0.1, ge=0)  # std of the initial log-scales s (Wang et al. 2022: 0.1)
    matmul_precision: Literal["highest", "high", "default"] = "highest"  # float32 matmuls at full precision
    flow_scale: float | None = bounded(None, gt=0)  # velocity output scale, model units; None = max |u0| (prior)
    field_scale: float | None = bounded(None, gt=0)  # flux-function output scale; None = a0 * band width (radians)
    h_scale: float | None = bounded(None, gt=0)  # (h - 1) output scale; None = (2U + U^2 + a0^2)/G clipped to [1e-3, 0.5]
    pattern_speed_init: float = bounded(0.0)  # initial pattern speed c (model units, rad per 1/Omega), frame = core
    trainable_pattern_speed: bool = True  # learn c (steady in a frame drifting at c: d/dt -> -c d/dlon)
    solid_body_flow: Literal["none", "maps_drift", "maps_drift_fixed"] = "none"  # train.formulation = time_dependent: maps_drift adds a trainable solid-body rotation omega cos(lat) to the flow (with its balanced h), omega initialised at the pattern drift the maps' s(lon) show between map times (model frame; pinn.training.timedep.maps_drift_rate); maps_drift_fixed: the same rotation held fixed (a carrier read from the maps; the MLP's flow adds to it); none = the MLP alone


@dataclass(frozen=True)
class LossConfig:
    """PINN loss terms (docs/science.md section 4). Each term is normalised by its scale before weighting."""

    toroids: str = "cr:2280"  # JSON written by `pinn toroids --json`, or cr:N = fit the bundled map of CR N
    collocation_points: int = bounded(4096, ge=1)  # residual + data points per step, uniform in sin(lat) and lon
    resample_every: int = bounded(1, ge=1)  # draw new collocation points every this many steps (a function of seed, step)
    quadrature_lats: int = bounded(64, ge=1)  # latitudes of the zonal-prior grid (stratified) and of the Gauss grid (sphere means)
    quadrature_lons: int = bounded(32, ge=1)  # equally spaced longitudes per quadrature latitude (random offset per step)
    derivatives: Literal["forward", "reverse"] = "forward"  # autodiff mode for the residual inputs (bench)
    w_pde: float = bounded(1.0, ge=0)  # weight of the six MHD-SWT residuals (each multiplied by cos lat)
    w_data: float = bounded(1.0, ge=0)  # weight of the toroid data term (a vs Gaussian bands about observed centre lines)
    w_prior: float = bounded(1.0, ge=0)  # weight of the zonal-mean flow prior u0 (needed: steady states are not unique)
    w_flow_dev: float = bounded(0.1, ge=0)  # weight of the whole-flow departure from u0 (selects the least-departure state)
    w_mean_h: float = bounded(1.0, ge=0)  # weight of the constraint mean(h) = 1
    w_gauge: float = bounded(1.0, ge=0)  # weight of the gauge mean(A) = 0
    w_div_tendency: float = bounded(0.0, ge=0)  # weight of the divergence of the momentum residual (gravity-wave imbalance); 0 = off
    div_tendency_points: int = bounded(1024, ge=1)  # collocation points (the first of each batch) for that term (3rd derivatives of A)
    residual_weights: tuple[float, float, float, float, float, float] = bounded((1.0, 1.0, 1.0, 1.0, 1.0, 1.0), ge=0)  # mom_u, mom_v, mass, ind_a, ind_b, div inside the pde group
    residual_cos_power: float = bounded(1.0, ge=0)  # residuals are multiplied by cos(lat)**p (1: docs/science.md; smaller constrains the polar caps more)
    residual_scale: float | None = bounded(None, gt=0)  # residual normaliser (model units) of residual_scales = single; None = max(max|u0|, a0)
    residual_scales: Literal["single", "natural"] = "single"  # how each MHD-SWT residual is normalised (pinn.training.residual_scales): single = all six by residual_scale R; natural = each by its own terms' magnitude for flow scale U and band strength a0: momentum 2U + U^2 + a0^2, continuity U, induction a0 U, div a0
    residual_scale_momentum: float | None = bounded(None, gt=0)  # scale of the momentum residuals mom_u, mom_v (model units), replacing the residual_scales rule's; None = the rule's
    residual_scale_continuity: float | None = bounded(None, gt=0)  # scale of the continuity residual mass (model units); None = the rule's
    residual_scale_induction: float | None = bounded(None, gt=0)  # scale of the induction residuals ind_a, ind_b and of div (model units); None = the rule's
    adaptive: bool = False  # gradient-norm loss balancing (Wang et al. 2021/2023); weights x static w_*
    adaptive_every: int = bounded(100, ge=1)  # steps between weight updates
    adaptive_alpha: float = bounded(0.9, ge=0, le=1)  # moving-average factor of the weights (Wang et al.: 0.9)
    adaptive_bounds: tuple[float, float] = bounded((1e-2, 1e4), gt=0, increasing=True)  # clip of the adaptive weights
    time_slices: int = bounded(4, ge=1)  # train.formulation = time_dependent: residual points are stratified over this many equal slices of the map window (the causal-weighting slices)
    causal_epsilon: float = bounded(0.0, ge=0)  # time_dependent: causal weighting of the residual slices, w_j = exp(-eps * sum of the earlier slices' residual losses) (Wang et al. 2022); 0 = off (every slice weight 1)


@dataclass(frozen=True)
class TrainConfig:
    """PINN optimisation: Adam with a schedule, then optional L-BFGS; checkpoints; logging."""

    formulation: Literal["steady", "time_dependent"] = "steady"  # PINN formulation (docs/science.md section 4): steady = steady in a frame drifting at a trainable pattern speed c, one toroid fit; time_dependent = the network takes time too, full d/dt residual over the window of maps (no c), a data term at each map's time, state = the network at the latest map's time (pinn.training.timedep)
    adam_steps: int = bounded(20000, ge=0)  # Adam steps (assumption; see experiments/ for convergence)
    learning_rate: float = bounded(1e-3, gt=0)  # peak Adam learning rate
    lr_schedule: Literal["constant", "exponential", "cosine"] = "exponential"  # after warmup
    warmup_steps: int = bounded(500, ge=0)  # linear warmup from 0
    lr_decay_rate: float = bounded(0.9, gt=0)  # exponential: factor per lr_decay_steps
    lr_decay_steps: int = bounded(1000, ge=1)  # exponential: steps per decay factor
    lr_final_ratio: float = bounded(0.01, ge=0, le=1)  # cosine: final lr / peak lr
    grad_clip: float | None = bounded(1.0, gt=0)  # global gradient-norm clip before Adam; None = off
    lbfgs_steps: int = bounded(0, ge=0)  # L-BFGS steps after Adam (fixed collocation batch), 0 = off
    lbfgs_memory: int = bounded(20, ge=1)  # L-BFGS history size
    steps_per_call: int = bounded(100, ge=1)  # steps fused in one jitted lax.scan call
    checkpoint_every: int = bounded(1000, ge=1)  # steps between orbax checkpoints (multiple of steps_per_call)
    checkpoints_kept: int = bounded(2, ge=1)  # most recent checkpoints kept
    log_every: int = bounded(100, ge=1)  # steps between metrics.jsonl lines (and progress-bar updates)
    shard: bool = True  # shard collocation batches over all devices (1-D mesh 'batch')
    xla_opt_level: int | None = bounded(None, ge=0, le=3)  # XLA backend optimisation level; None = default; 0 compiles ~2x faster, runs slower
    progress: bool = True  # tqdm progress bar with per-term losses
    output_nlat: int = bounded(90, ge=2)  # latitudes of state.nc (cell centres, symmetric about the equator)
    output_nlon: int = bounded(180, ge=2)  # longitudes of state.nc
    ensemble_strengths_kG: tuple[float, ...] = bounded((2.0, 10.0, 20.0, 30.0, 100.0), gt=0)  # train_ensemble sweep
    warm_start: Literal["none", "batch_mean", "previous"] = "none"  # batched PINN states (pinn.training.warm): none = cold start from config.seed; batch_mean = fine-tune each case from a network trained cold on the batch's mean toroids; previous = fine-tune each case from the previous case's network (the first case cold)
    warm_tolerance: float = bounded(1.5, ge=1)  # warm stopping rule: a case stops once its PDE and data losses (means over a check interval) are <= this factor x the cold-trained source's converged level; at most adam_steps steps
    warm_check_every: int = bounded(25, ge=1)  # steps between checks of the warm stopping rule (the fine-tune's chunk length)


@dataclass(frozen=True)
class ForecastConfig:
    """The forecast chain: integration horizon, output grids, the start state (docs/science.md section 5)."""

    weeks: float = bounded(6.0, gt=0, le=52)  # integration horizon; 1.5 rotations (5.8 weeks) covers the next rotation's observation times
    snapshot_days: float = bounded(1.0, gt=0)  # spacing of the predicted-toroid snapshots
    state_snapshot_days: float = bounded(7.0, gt=0)  # spacing of the state snapshots written to forecast.nc
    output_nlat: int = bounded(180, ge=2)  # density grid: latitudes (cell centres, uniform)
    output_nlon: int = bounded(360, ge=2)  # density grid: longitudes
    ridge_lat_limit_deg: float = bounded(60.0, gt=0, le=90)  # predicted toroids are searched between the equator and this latitude
    leads: tuple[int, ...] = bounded((1,), ge=1, le=12, increasing=True)  # rotations ahead the hindcast scores and the forecast writes, starting with 1: lead L forecasts N+L from the case of maps and ARs up to N (hindcast per_ar.csv column 'lead'; forecast.nc emergence_density_by_lead, forecast_lead<L>.png); forecast.weeks must reach the observation times of N+max(leads)
    start: Literal["pinn", "classical"] = "pinn"  # start state: the trained PINN, or the classical pressure-balanced band of the same toroids (ablation; pinn.chain.starts)
    cache_dir: str | None = ".pinn_cache"  # PINN states reused for identical inputs + config; null = no cache


@dataclass(frozen=True)
class EmergenceConfig:
    """The emergence model the forecast uses (pinn.emergence.models) and its fitted parameters (docs/science.md section 5)."""

    model: str = "hybrid"  # a registered emergence model (pinn.emergence.models.MODELS: ridge, hybrid, data_only, data_only_stack, band, ...), or chosen: the model the hindcast chose causally (the fit artifact's chosen_model)
    fit: str | None = None  # the fit artifact that `pinn hindcast` writes (fit.json: parameters fitted on rotations before the forecast one); a path relative to this config file; null = the unfitted model (the hybrid is then the data-only prior itself)
    prior: Literal["data_only", "data_only_stack"] = "data_only"  # the data-only density the hybrids tilt: the causally chosen method, or the stack (the linear pool of every method, weights fitted causally; pinn.emergence.stacking)
    hemisphere_weight: Literal["equal", "flux"] = "flux"  # share of each hemisphere: equal, or the window's strong flux
    floor: float = bounded(0.1, ge=0, le=1)  # ridge model: uniform mixture weight (start of the hindcast's fit, and its value until 5 rotations are scored)
    width_scale: float = bounded(1.0, gt=0)  # ridge model: Gaussian sigma = width_scale x predicted toroid half-width (fit start)
    min_sigma_deg: float = bounded(2.0, gt=0)  # ridge model: lower bound of the latitudinal sigma
    strength_power: float = bounded(1.0, ge=0)  # ridge model: density along a toroid ~ (local strength / mean strength)^power (fit start)


# Keys of earlier versions and where they went (a one-line error says so instead of 'unknown key').
MOVED_KEYS = {
    **{f"forecast.{k}": f"'emergence.{k}'" for k in ("hemisphere_weight", "floor", "width_scale", "min_sigma_deg",
                                                      "strength_power")},
    "forecast.emergence_model": "'emergence.model'",
    **{f"forecast.{k}": "in the fit artifact named by 'emergence.fit' (written by `pinn hindcast` as fit.json)"
       for k in ("data_only_candidate", "hybrid_features", "hybrid_betas", "hybrid_scales", "hybrid_fitted_on")},
}


@dataclass(frozen=True)
class Config:
    """A whole run: one section per concept."""

    seed: int = bounded(0, ge=0)
    observations: ObservationsConfig = field(default_factory=ObservationsConfig)
    toroids: ToroidsConfig = field(default_factory=ToroidsConfig)
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)  # PINN network (pinn.training.networks)
    loss: LossConfig = field(default_factory=LossConfig)  # PINN loss terms (pinn.training.losses)
    train: TrainConfig = field(default_factory=TrainConfig)  # PINN optimisation (pinn.training)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)  # forecast chain (pinn.chain.forecast)
    emergence: EmergenceConfig = field(default_factory=EmergenceConfig)  # emergence model (pinn.emergence.models)


# ---------------------------------------------------------------------------------------------
# Loading, validation, overrides


def load_config(path: str | os.PathLike | None = None, overrides: typing.Sequence[str] = ()) -> Config:
    """Build a :class:`Config` from an optional YAML file and ``key=value`` dotted overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: config is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                              f"{exc.start})") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        raw = loaded
    fit_in_file = isinstance(raw.get("emergence"), dict) and raw["emergence"].get("fit") is not None
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(raw, key, value)
        if key == "emergence.fit":
            fit_in_file = False  # an override's relative path is relative to the working directory
    config = from_dict(Config, raw)
    fit = config.emergence.fit
    if fit_in_file and path is not None and not Path(fit).is_absolute():
        # a fit artifact named in a config file sits beside that file (so the packaged config finds its fit)
        config = dataclasses.replace(config, emergence=dataclasses.replace(
            config.emergence, fit=str(Path(path).resolve().parent / fit)))
    return config


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``'a.b=value'``; the value is parsed as YAML (so ``1e-3``, ``[1, 2]``, ``null`` work)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like section.key=value")
    key, text = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    return key, value


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key '{part}' is a value, not a section (in override '{key}')")
        node = child
    node[parts[-1]] = value


def from_dict(cls: type, raw: dict, prefix: str = "") -> Any:
    """Validate ``raw`` against dataclass ``cls`` recursively; unknown keys, bad types and numbers outside
    their field's :class:`Domain` are errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config key '{prefix.rstrip('.')}' must be a section (mapping)")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        key = prefix + str(unknown[0])
        if key in MOVED_KEYS:
            raise ConfigError(f"config key '{key}' is now {MOVED_KEYS[key]}")
        raise ConfigError(f"unknown config key '{key}' (valid here: {', '.join(sorted(names))})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in raw.items():
        kwargs[name] = _coerce(hints[name], value, prefix + name)
        _check_domain(fields[name], kwargs[name], prefix + name)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"config key '{key}': {value!r} is not a {_type_name(tp)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}': {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"config key '{key}': expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, key) for a, v in zip(args, value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads '1e12' (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
    raise ConfigError(f"config key '{key}': unsupported type {tp!r}")  # pragma: no cover


def _type_name(tp: Any) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return " or ".join(getattr(a, "__name__", str(a)) for a in args)


def to_dict(cfg: Any) -> dict:
    """Plain nested dict of a config (tuples become lists), for YAML/JSON output."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


# keys added after states were cached: left out of training_inputs at their default (which reproduces the
# behaviour before they existed), so cached states and saved cases keep their keys
_KEYED_ONLY_IF_SET = {"loss": {"residual_scales": "single", "residual_scale_momentum": None,
                               "residual_scale_continuity": None, "residual_scale_induction": None},
                      "network": {"solid_body_flow": "none"}}


def training_inputs(cfg: Config) -> dict:
    """The parts of a config that a trained PINN depends on (seed, physics, network, loss, train), as plain
    dicts: the common core of the forecast's state-cache key and training's resume check."""
    parts = {k: to_dict(getattr(cfg, k)) for k in ("physics", "network", "loss", "train")}
    for section, defaults in _KEYED_ONLY_IF_SET.items():
        parts[section] = {k: v for k, v in parts[section].items() if k not in defaults or v != defaults[k]}
    return {"seed": cfg.seed, **parts}


def dump_yaml(cfg: Config) -> str:
    """The resolved config as YAML text (round-trips through :func:`load_config`)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def write_resolved(cfg: Config, out_dir: str | os.PathLike) -> Path:
    """Write ``resolved_config.yaml`` into ``out_dir`` atomically."""
    return write_text(Path(out_dir) / "resolved_config.yaml", dump_yaml(cfg))


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported for convenience."""
    return dataclasses.replace(cfg, **changes)


# ---------------------------------------------------------------------------------------------
# Reference documentation generated from the dataclasses (the README embeds it; a test compares)


def field_comments(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of each field in the dataclass source: the field's documentation."""
    import inspect
    import io
    import tokenize

    comments: dict[str, str] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    current = None
    for tok in tokenize.generate_tokens(io.StringIO(inspect.getsource(cls)).readline):
        if tok.type == tokenize.NAME and tok.start[1] == 4 and tok.string in names:
            current = tok.string
        elif tok.type == tokenize.COMMENT and current is not None:
            comments.setdefault(current, tok.string.lstrip("# ").strip())
        elif tok.type == tokenize.NEWLINE:
            current = None
    return comments


def reference_markdown() -> str:
    """Markdown tables of every config key: name, type, default and meaning, one table per section."""
    lines: list[str] = []
    hints = typing.get_type_hints(Config)
    sections = [f for f in dataclasses.fields(Config) if dataclasses.is_dataclass(hints[f.name])]
    plain = [f for f in dataclasses.fields(Config) if not dataclasses.is_dataclass(hints[f.name])]
    default = Config()
    head = ["| key | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    if plain:
        lines += head
        for f in plain:
            lines.append(f"| `{f.name}` | {_type_label(hints[f.name])} | `{getattr(default, f.name)!r}` | "
                         f"{_allowed(f)} | random seed |")
        lines.append("")
    for f in sections:
        cls = hints[f.name]
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        lines += [f"**`{f.name}`**: {doc}", "", *head]
        comments = field_comments(cls)
        sub_hints = typing.get_type_hints(cls)
        section_default = getattr(default, f.name)
        for sub in dataclasses.fields(cls):
            value = getattr(section_default, sub.name)
            meaning = comments.get(sub.name, "").replace("|", "\\|")
            lines.append(f"| `{f.name}.{sub.name}` | {_type_label(sub_hints[sub.name])} | `{_yaml_value(value)}` | "
                         f"{_allowed(sub)} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _allowed(f: dataclasses.Field) -> str:
    """The reference's 'allowed' cell: the field's domain (each element for lists), or blank."""
    domain = domain_of(f)
    return "" if domain is None else domain.describe()


def _type_label(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_label(a) for a in args)
    if origin is tuple:
        return "list of " + (_type_label(args[0]) if args else "values")
    return getattr(tp, "__name__", str(tp))


def _yaml_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
