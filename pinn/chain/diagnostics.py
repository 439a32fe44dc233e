"""Self-consistency of a start state for the MHD-SWT solver (docs/science.md section 4).

A start that is a steady, self-consistent MHD-SWT state sheds no gravity waves: its divergence tendency
at t = 0 is small and its divergence stays small. The measures, on the solver's Gaussian grid
(quadrature-weighted RMS, model units):

* ``rms_div_tendency_t0``: RMS of d(div)/dt at t = 0;
* ``rms_div_0_2days``: RMS over the snapshots of the first ``days`` of the RMS divergence (and its max,
  its series, its value at t = 0);
* ``rms_div_fast_0_2days`` / ``rms_div_slow_0_2days``: the divergence split into a slow part (running
  mean over about one day of fine snapshots) and the fast rest (the gravity waves).

:func:`self_consistency` measures the PINN start against the 'naive' (band, no balance) and
'classical' (axisymmetric pressure balance, and its per-longitude form) starts of the same band, and
reports the ratios.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jax
import numpy as np
import xarray as xr
from scipy.ndimage import uniform_filter1d

from pinn.config.physics import band_strength, model_units, physics_bands, solver_for, zonal_flow
from pinn.config.schema import Config, PhysicsConfig
from pinn.emergence.ridges import state_on_grid
from pinn.physics import equations as eq
from pinn.physics import states as st
from pinn.physics.balance import balance_start
from pinn.physics.bands import flux_density, flux_function
from pinn.training import evaluate_fields
from pinn.training.losses import TERM_NAMES, loss_terms, sample_batch

log = logging.getLogger(__name__)

Evaluator = Callable[..., dict]  # (model, lat_deg, lon_deg) -> {"u", "v", "h", "a", "b", "A"} on the grid
REFERENCE_STARTS = ("naive", "classical", "classical_perlon")
RATIO_MEASURES = ("rms_div_tendency_t0", "rms_div_0_2days", "rms_div_fast_0_2days")


@dataclass(frozen=True)
class DivergenceSchedule:
    """Time stepping of the divergence measurement (model time units; counts of solver steps)."""

    dt: float  # solver step
    per_fine: int  # steps per fine snapshot
    fine_per_snap: int  # fine snapshots per reported snapshot
    n_fine: int  # fine snapshots after t = 0
    window: int  # running-mean length (fine snapshots, odd) of the slow part
    days: float
    snap_days: float

    @property
    def steps(self) -> int:
        return self.n_fine * self.per_fine


def divergence_schedule(config: Config, days: float = 2.0, snap_days: float = 0.25,
                        fine_per_snap: int = 5) -> DivergenceSchedule:
    """Snapshots every ``snap_days`` (days) over ``days``, each split into ``fine_per_snap`` fine ones.

    The solver step is the largest not above ``solver.dt`` that divides a fine interval.
    """

    day = 1.0 / model_units(config.physics).time_unit.to_value("day")  # model units per day
    fine = snap_days * day / fine_per_snap
    per_fine = max(1, math.ceil(fine / config.solver.dt - 1e-9))
    n_snap = round(days / snap_days)
    window = round(1.0 / (snap_days / fine_per_snap)) | 1  # ~1 day, odd
    return DivergenceSchedule(fine / per_fine, per_fine, fine_per_snap, n_snap * fine_per_snap, window, days, snap_days)


def divergence_measures(solver, state, schedule: DivergenceSchedule) -> dict:
    """The docs/science.md section 4 measures of one start ``state`` (a solver State), integrated per ``schedule``."""

    qw = solver.quadrature_weights

    def rms(x) -> float:
        x = np.asarray(x, np.float64)
        return float(np.sqrt(np.sum(qw * x * x) / np.sum(qw)))

    s = schedule
    r0 = rms(solver.modal_to_nodal(solver.tendency(state).divergence))
    traj = solver.integrate(state, s.n_fine * s.per_fine, s.per_fine)
    D = np.stack([np.asarray(solver.modal_to_nodal(traj.states.divergence[i]), np.float64) for i in range(s.n_fine + 1)])
    divs = [rms(D[i]) for i in range(0, s.n_fine + 1, s.fine_per_snap)]
    slow = uniform_filter1d(D, size=s.window, axis=0, mode="nearest")
    end = solver.to_nodal(jax.tree.map(lambda x: x[-1], traj.states))
    return {
        "rms_div_tendency_t0": r0,
        "rms_div_0_2days": float(np.sqrt(np.mean(np.square(divs)))),
        "max_div_0_2days": float(np.max(divs)),
        "rms_div_series": divs,
        "rms_div_t0": divs[0],
        "rms_div_fast_0_2days": float(np.sqrt(np.mean([rms(d) ** 2 for d in D - slow]))),
        "rms_div_slow_0_2days": float(np.sqrt(np.mean([rms(d) ** 2 for d in slow]))),
        "rms_vorticity_t0": rms(solver.to_nodal(state)["vorticity"]),
        "h_min_end": float(np.min(end["h"])),
        "finite": bool(np.all(np.isfinite(divs))),
    }


def classical_perlon_state(solver, hemis: Sequence, strength: float, physics: PhysicsConfig,
                           n_fine: int = 4001, n_iter: int = 4):
    """'classical' start, literal form: at each longitude, h(lat) from integrating
    steady_axisymmetric_dh_dlat(lat, u0, a(lat)) in latitude (trapezoid, fine grid pole to pole) with that
    longitude's a = (h a)/h profile (fixed point, n_iter passes); the per-longitude constant makes each
    longitude's cos-weighted column mean equal (a symmetric choice), then the area mean of h is 1.
    u = u0, v = 0, A from the band (so b follows, div(hB) = 0). ``strength``: peak h a, model units."""

    flow = zonal_flow(physics)
    lat_s, lon_s = solver.lat_lon_rad
    lon = lon_s[0]
    fine = np.linspace(-0.5 * np.pi, 0.5 * np.pi, n_fine)
    LA, LO = np.meshgrid(fine, lon, indexing="ij")
    u0f = np.asarray(flow(LA), np.float64)
    flux = flux_density(LA, LO, hemis, strength)
    h = np.ones_like(flux)
    for _ in range(n_iter):
        h = eq.axisymmetric_thickness(fine, u0f, flux / h, solver.params)
    h_s = np.stack([np.interp(lat_s[:, 0], fine, h[:, j]) for j in range(len(lon))], axis=1)
    u0 = np.asarray(flow(lat_s), np.float64)
    A = flux_function(lat_s, lon_s, hemis, strength)
    st.check_thickness(h_s, "classical per-longitude start")
    return solver.from_nodal(u0, np.zeros_like(u0), h_s, A)


def _bands(toroids, physics: PhysicsConfig) -> tuple:
    return physics_bands(toroids, physics.strength_profile)


def classical_start(solver, toroids, strength_kG: float, physics: PhysicsConfig):
    """The 'classical' start: the toroids' band at ``strength_kG`` (kG; times the observed s(lon) when
    ``physics.strength_profile`` is ``observed``), h in pressure balance with u0 and the band
    (:func:`pinn.physics.states.band_state`); modal state on ``solver``'s grid."""

    return st.band_state(solver, _bands(toroids, physics), band_strength(physics, strength_kG),
                         balance="pressure", flow=zonal_flow(physics))


def reference_starts(solver, toroids, strength_kG: float, physics: PhysicsConfig) -> dict:
    """The 'naive', 'classical' and 'classical_perlon' starts of the toroids' band at ``strength_kG`` (kG)."""

    hemis = _bands(toroids, physics)
    strength = band_strength(physics, strength_kG)
    return {
        "naive": st.band_state(solver, hemis, strength, balance="none", flow=zonal_flow(physics)),
        "classical": classical_start(solver, toroids, strength_kG, physics),
        "classical_perlon": classical_perlon_state(solver, hemis, strength, physics),
    }


def pinn_starts(solver, model, out_grid_ds: xr.Dataset, evaluate: Evaluator | None = None) -> dict:
    """The PINN start: ``pinn`` (network evaluated on the solver grid) and ``pinn_interp`` (the written
    output-grid state ``out_grid_ds`` bilinearly interpolated to it). ``evaluate`` defaults to
    :func:`pinn.training.evaluate_fields`; pass a jitted one to reuse its compilation across calls."""
    if evaluate is None:
        evaluate = evaluate_fields
    f = evaluate(model, solver.lat, solver.lon)
    g = {k: state_on_grid(out_grid_ds[k], solver.lat, solver.lon) for k in ("u", "v", "h", "A")}
    return {"pinn": solver.from_nodal(f["u"], f["v"], f["h"], f["A"]),
            "pinn_interp": solver.from_nodal(g["u"], g["v"], g["h"], g["A"])}


def ratios(measures: Mapping[str, dict], starts: Sequence[str], references: Sequence[str] = REFERENCE_STARTS,
           names: Sequence[str] = RATIO_MEASURES) -> dict[str, float]:
    """``ratio_<start>_over_<reference>_<measure>`` for every pair (below 1: the start is better balanced)."""
    return {f"ratio_{p}_over_{ref}_{m}": measures[p][m] / max(measures[ref][m], 1e-300)
            for ref in references for p in starts for m in names}


def self_consistency(config: Config, model, toroids, strength_kG: float, out_grid_ds: xr.Dataset,
                     days: float = 2.0, snap_days: float = 0.25, fine_per_snap: int = 5, balanced: bool = False,
                     evaluate: Evaluator | None = None) -> dict:
    """docs/science.md section 4 measures for the PINN start and the naive/classical starts of the same band.

    ``model``: the trained network; ``out_grid_ds``: its state on the output grid (state.nc);
    ``strength_kG``: the band strength (kG). ``balanced``: also measure each of pinn, naive and classical
    after the solver-grid balance initialisation (:func:`pinn.physics.balance.balance_start`; divergence
    and h adjusted, vorticity and A kept), as ``<start>_balanced``. Returns one dict of measures per start
    (:func:`divergence_measures`), the ratios of the PINN starts over the references, the solver set-up
    and the balance iterations.
    """
    sched = divergence_schedule(config, days, snap_days, fine_per_snap)
    solver = solver_for(config, dt=sched.dt)
    starts = {**pinn_starts(solver, model, out_grid_ds, evaluate),
              **reference_starts(solver, toroids, strength_kG, config.physics)}
    balance_info = {}
    if balanced:

        speeds = {"pinn": float(model.pattern_speed[...]), "naive": 0.0, "classical": 0.0}
        for name, c in speeds.items():
            t_b = time.time()
            ref = balance_start(solver, starts[name], c)
            starts[f"{name}_balanced"] = ref.state
            balance_info[name] = {"pattern_speed": c, "residual_start": ref.residual_start,
                                  "residual_end": ref.residual_end, "change": ref.change,
                                  "iterations": ref.iterations, "wall_s": round(time.time() - t_b, 1)}
            log.info("balance %s: residual %.2e -> %.2e in %d iterations, change %.2e", name, ref.residual_start,
                     ref.residual_end, ref.iterations, ref.change)
    res: dict = {
        "solver": {"truncation": config.solver.truncation, "dt_model": sched.dt, "x64": config.solver.x64,
                   "days": days, "snapshot_days": snap_days, "steps": sched.steps,
                   "fast_slow_split": f"snapshots every {snap_days / fine_per_snap:g} d; slow = running mean "
                                      f"over {sched.window} snapshots (~1 d), fast = the rest"},
        "strength_kG": strength_kG, "balance": balance_info}
    for name, s0 in starts.items():
        res[name] = divergence_measures(solver, s0, sched)
        log.info("self-consistency %-12s: rms d(div)/dt(0) = %.3e, rms div 0-2 d = %.3e (fast part %.3e)", name,
                 res[name]["rms_div_tendency_t0"], res[name]["rms_div_0_2days"], res[name]["rms_div_fast_0_2days"])
    res.update(ratios(res, ("pinn", "pinn_interp") + (("pinn_balanced",) if balanced else ())))
    return res


@functools.cache
def _jitted_loss_terms():


    return jax.jit(loss_terms)


def residual_rms(model, problem, n_points: int = 8192, seed: int = 12345) -> dict[str, float]:
    """RMS of cos(lat) * residual / R per PDE on a fixed area-uniform batch of ``n_points`` points.

    ``res_rms_<eq>`` is that RMS, ``res_rms_<eq>_model`` the same times that equation's scale (R,
    ``residual_scale_R``, unless ``loss.residual_scales`` gives each its own; model units); the loss's other terms come as ``term_<name>``. One jit of the loss terms serves all calls.
    """


    batch = sample_batch(jax.random.key(seed), n_points, 32, 32)
    terms = np.asarray(_jitted_loss_terms()(model, problem, batch))
    R = float(problem.residual_scale)
    scales = np.asarray(problem.residual_scales, np.float64)
    out = {"residual_scale_R": R}
    for i, (name, t) in enumerate(zip(TERM_NAMES, terms)):
        if name in ("mom_u", "mom_v", "mass", "ind_a", "ind_b", "div"):
            out[f"res_rms_{name}"] = float(np.sqrt(max(t, 0.0)))
            out[f"res_rms_{name}_model"] = float(np.sqrt(max(t, 0.0)) * scales[i])
        else:
            out[f"term_{name}"] = float(t)
    return out
