"""Nonlinear solver vs linear tool: growth rate of the most unstable mode of an unstable band.

The linear tool (pinn.physics.linear) gives the most unstable m-mode of a steady axisymmetric band
state; the nonlinear spectral solver (pinn.physics.solver, float64, dissipation off) is started from
the same basic state (h0, u0 from the linear tool's exact balance, A0 with -dA0/dlat = h0 a0, then the
solver's own discrete balance) plus the eigenfunction at amplitude 1e-6. The amplitude of the m
component of v (max over latitude of the modulus of its longitudinal Fourier coefficient) is fitted by
a straight line in log amplitude vs time while it grows from 1e-6 to 1e-3; its slope must match the
eigenvalue's growth rate Im(omega) (within 2 %). The linear tool's own convergence (n_lat doubled) is
recorded too.

Usage: python experiments/linear/growth_rate_check.py [--truncation 42] [--out growth_rate_check.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pinn.physics import equations as eq
from pinn.physics import linear as L
from pinn.physics.solver import SolverSettings

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    """The unstable band of the check (see README/report for why the background rotation is scaled)."""

    gravity: float = 10.0
    strength: float = 0.1  # ~20 kG for the default density (pinn.physics.units)
    center_deg: float = 20.0
    width_deg: float = 10.0
    balance: str = "pressure"
    s0: float = 0.0
    s2: float = -0.1264 * 2.5  # 2.5 x the default tachocline differential rotation (PhysicsConfig)
    s4: float = -0.1591 * 2.5
    m: int = 1
    n_lat: int = 96


def basic_state(case: Case) -> L.BasicState:
    params = eq.SWTParams(gravity=case.gravity)
    return L.band_state(
        case.strength,
        case.center_deg,
        case.width_deg,
        params,
        balance=case.balance,
        background=(case.s0, case.s2, case.s4),
    )


def linear_mode(case: Case, n_lat: int | None = None) -> L.LinearMode:
    return L.most_unstable(basic_state(case), case.m, n_lat or case.n_lat)


def solver_initial_state(solver, state: L.BasicState, mode: L.LinearMode, amplitude: float):
    """Solver state = linear tool's basic state (discretely balanced) + amplitude * eigenfunction."""
    from pinn.physics import states as S
    from pinn.physics.balance import discrete_balance

    lat_deg, lon_deg = solver.lat, solver.lon
    prof = state.profiles(np.deg2rad(lat_deg))
    shape = (lat_deg.size, lon_deg.size)
    u0 = np.broadcast_to(prof["u"][:, None], shape)
    h0 = np.broadcast_to(prof["h"][:, None], shape)
    flux = np.broadcast_to((prof["h"] * prof["a"])[:, None], shape)
    # A0 with -dA0/dlat = h0 a0 (spectral least squares, exact for a zonal field)
    A0 = S.thickness_from_gradient(solver, -flux, mean=1.0) - 1.0
    base = solver.from_nodal(u0, np.zeros(shape), h0, A0)
    base, change = discrete_balance(solver, base)
    pert = L.eigenfunction_on_grid(mode, lat_deg, lon_deg, amplitude)
    start = S.add_nodal_perturbation(solver, base, u=pert.u, v=pert.v, h=pert.h, A=pert.A)
    return base, start, change


def m_component(solver, states, m: int) -> np.ndarray:
    """v_m(t, lat): the m-th longitudinal Fourier coefficient of v (v = Re[v_m exp(i m lon)])."""
    v = np.asarray(solver.to_nodal(states)["v"], np.float64)  # (time, lat, lon)
    return np.fft.rfft(v, axis=-1)[..., m] * (2.0 / v.shape[-1])


def m_amplitude(solver, states, m: int) -> np.ndarray:
    """max over latitude of |v_m|, per saved state."""
    return np.max(np.abs(m_component(solver, states, m)), axis=-1)


def fit_frequency(t, coef, sel):
    """Re(omega) from the phase of v_m at its peak latitude: v_m ~ exp(-i omega t)."""
    j = int(np.argmax(np.abs(coef[-1])))
    phase = np.unwrap(np.angle(coef[sel, j]))
    return float(-np.polyfit(t[sel], phase, 1)[0])


def fit_growth(t, amp, lo=1e-6, hi=1e-3):
    sel = (amp >= lo * 0.999) & (amp <= hi)
    coeffs = np.polyfit(t[sel], np.log(amp[sel]), 1)
    resid = np.log(amp[sel]) - np.polyval(coeffs, t[sel])
    return float(coeffs[0]), int(sel.sum()), float(np.max(np.abs(resid)))


def run(
    case: Case,
    truncation: int = 42,
    dt: float = 0.05,
    amplitude: float = 1e-6,
    max_amplitude: float = 1e-3,
    save_every: int = 20,
    max_time: float | None = None,
    check_convergence: bool = True,
) -> dict:
    import jax

    from pinn.physics.solver import make_solver

    t0 = time.time()
    state = basic_state(case)
    mode = L.most_unstable(state, case.m, case.n_lat)
    mode2 = L.most_unstable(state, case.m, 2 * case.n_lat) if check_convergence else mode
    t_linear = time.time() - t0
    growth = mode.growth_rate
    duration = max_time or 1.15 * math.log(max_amplitude / amplitude) / growth
    config = SolverSettings(truncation=truncation, dt=dt, dissipation_efold_rotations=None, x64=True)
    solver = make_solver(config, state.params)
    _base, start, change = solver_initial_state(solver, state, mode, amplitude)
    n_steps = math.ceil(duration / dt / save_every) * save_every
    t1 = time.time()
    traj = solver.integrate(start, n_steps, save_every)
    jax.block_until_ready(traj.states)
    t_solver = time.time() - t1
    t = np.asarray(traj.time, np.float64)
    coef = m_component(solver, traj.states, case.m)
    amp = np.max(np.abs(coef), axis=-1)
    hi = min(max_amplitude, float(amp.max()))
    rate, npts, resid = fit_growth(t, amp, amplitude, hi)
    freq = fit_frequency(t, coef, (amp >= amplitude * 0.999) & (amp <= hi))
    # second half of the window only (after any transient of the non-modal part of the seed)
    half = amp >= math.sqrt(amplitude * hi)
    rate_late, _, _ = fit_growth(t[half], amp[half], math.sqrt(amplitude * hi), hi)
    return {
        "case": asdict(case),
        "truncation": truncation,
        "dt": dt,
        "seed_amplitude": amplitude,
        "fit_window": [amplitude, hi],
        "linear_omega": [mode.omega.real, mode.omega.imag],
        "linear_growth_rate": growth,
        "linear_growth_rate_2x_nlat": mode2.growth_rate,
        "linear_convergence_rel": abs(mode2.growth_rate - growth) / abs(mode2.growth_rate),
        "linear_n_lat": [mode.n_lat, mode2.n_lat],
        "linear_phase_speed": mode.phase_speed,
        "linear_parity": mode.parity,
        "solver_growth_rate": rate,
        "solver_growth_rate_late_half": rate_late,
        "relative_difference": (rate - mode2.growth_rate) / mode2.growth_rate,
        "relative_difference_late_half": (rate_late - mode2.growth_rate) / mode2.growth_rate,
        "solver_frequency": freq,
        "frequency_difference": freq - mode.omega.real,
        "fit_points": npts,
        "fit_max_log_residual": resid,
        "discrete_balance_h_change": change,
        "amplitude_series": {"t": t.tolist(), "amp": amp.tolist()},
        "seconds_linear": t_linear,
        "seconds_solver": t_solver,
        "steps": n_steps,
        "jax_backend": jax.default_backend(),
    }


CASES = {
    # 20 kG band at 20 deg on 2.5 x the default differential rotation: growth ~0.081 (the fast CI case)
    "band20_dr2.5": Case(),
    # ~31 kG band at 60 deg on the default tachocline differential rotation: growth ~0.044
    "band60_default_dr": Case(strength=0.15, center_deg=60.0, s2=-0.1264, s4=-0.1591),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truncation", type=int, default=42)
    ap.add_argument("--dt", type=float, default=0.05)
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--out", default=str(HERE / "growth_rate_check.json"))
    args = ap.parse_args()
    import jax

    jax.config.update("jax_enable_x64", True)
    checks = {}
    keys = (
        "linear_growth_rate",
        "linear_growth_rate_2x_nlat",
        "linear_convergence_rel",
        "solver_growth_rate",
        "solver_growth_rate_late_half",
        "relative_difference",
        "relative_difference_late_half",
        "linear_omega",
        "solver_frequency",
        "seconds_solver",
    )
    for name in args.cases:
        result = run(CASES[name], truncation=args.truncation, dt=args.dt)
        checks[name] = result
        print(name, json.dumps({k: result[k] for k in keys}, indent=1), flush=True)
    summary = {
        "description": __doc__.strip().splitlines()[0],
        "all_within_2_percent": all(abs(c["relative_difference"]) < 0.02 for c in checks.values()),
        "all_linear_converged_0.5_percent": all(c["linear_convergence_rel"] < 5e-3 for c in checks.values()),
        "checks": checks,
    }
    Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
