"""Named runs of the MHD-SWT solver (``pinn solve``): the Williamson test case and solar band cases.

The layer on top of :mod:`pinn.physics.states` and :mod:`pinn.physics.solver`: a case builds its start,
integrates it and returns the trajectory as an xarray Dataset with its conservation diagnostics.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from pinn.errors import ConfigError
from pinn.physics import states as S
from pinn.physics.bands import DEFAULT_STRENGTH_KG, antisymmetric_pair
from pinn.physics.constants import CARRINGTON_SYNODIC_DAYS
from pinn.physics.equations import SWTParams, ZonalFlow
from pinn.physics.solver import SolverSettings, check_thickness, make_solver, trajectory_dataset
from pinn.physics.units import ModelUnits

CASES = ("williamson2", "band-equilibrium", "band-unstable")
UNSTABLE_PERTURBATION_MODES = (1, 2, 3)  # longitudinal wavenumbers of the band-unstable seed
UNSTABLE_PERTURBATION_AMPLITUDE = 1e-4  # its amplitude in h (band h - 1 is ~1e-3 at 20 kG); assumption


def _plain_attrs(attrs: dict) -> dict:
    out = {}
    for k, v in attrs.items():
        if v is None:
            v = "none"
        elif isinstance(v, bool):
            v = int(v)
        elif isinstance(v, (np.floating, np.integer)):
            v = v.item()
        out[k] = v
    return out


def run_case(
    case: str,
    days: float | None = None,
    trunc: int = 42,
    strength_kG: float | None = None,
    balance: str = "pressure",
    x64: bool = False,
    dissipation: bool = True,
    *,
    settings: SolverSettings | None = None,
    params: SWTParams | None = None,
    flow: ZonalFlow | None = None,
    units: ModelUnits | None = None,
    output_every_days: float = 1.0,
    alpha: float = 0.0,
):
    """Run a named case and return its trajectory as an xarray Dataset.

    Cases:
      ``williamson2``: Williamson et al. (1992) test case 2 (Earth, made dimensionless; ``alpha`` tilts
        the flow and the rotation axis); ``days`` in Earth days (default 5). attrs ``h_l2_error``.
      ``band-equilibrium``: background rotation u0 (``flow``) plus the antisymmetric toroidal band
        (20 deg, 10 deg wide, ``strength_kG``, default 20 kG in ``units``) in exact ``balance``
        ('pressure' or 'jet'); steady with dissipation off. ``params`` gives G (default SWTParams()).
      ``band-unstable``: the same plus small symmetric m = 1, 2, 3 perturbations of h (amplitude 1e-4);
        stays in the antisymmetric parity class; growth depends on the band.
    Band cases run in solar model units; ``days`` are days of simulated time (default one Carrington
    rotation, 27.2753 d). Snapshots every ``output_every_days`` (adjusted to divide ``days``). ``settings``
    are the solver's (truncation, x64 and dissipation are then set from the arguments).

    The Dataset has u, v, h, a, b, A on (time, lat, lon) (time in days, lat/lon in degrees), energy,
    mass and dissipated on time, and in attrs the model parameters, ``mass_drift`` and
    ``energy_drift`` ((X(end) - X(0)) / X(0)), ``energy_budget_residual`` ((E'(end) - E'(0) + D) / E'(0)),
    ``energy_dissipated`` (D / E'(0)), ``rotations`` and ``h_min``. Raises PinnError if h <= 0.
    """
    if case not in CASES:
        raise ConfigError(f"unknown case {case!r}; choose one of {', '.join(CASES)}")
    flow = flow or ZonalFlow()
    units = units or ModelUnits.solar()
    base = settings or SolverSettings()
    base = dataclasses.replace(
        base,
        truncation=int(trunc),
        x64=bool(x64),
        dissipation_efold_rotations=base.dissipation_efold_rotations if dissipation else None,
    )
    attrs: dict[str, Any] = {"case": case, "truncation": base.truncation, "x64": base.x64,
                                 "dissipation": base.dissipation if dissipation else "off",
                                 "dissipation_efold_rotations": base.dissipation_efold_rotations,
                                 "hyperdiffusion_order": base.hyperdiffusion_order, "time_stepper": base.time_stepper}
    if case == "williamson2":
        earth = S.WILLIAMSON
        params = S.williamson2_params(alpha, earth)
        days = 5.0 if days is None else float(days)
        day_model = earth.days_to_model(1.0)
        attrs.update(G=params.gravity, r0_m=earth.radius_m, Omega_s=earth.omega_s, alpha=float(alpha),
                     s0="n/a", s2="n/a", s4="n/a", field_unit_G="n/a", units="Williamson (1992) Earth: length a, time 1/Omega, h/h0")
    else:
        params = params or SWTParams()
        days = CARRINGTON_SYNODIC_DAYS if days is None else float(days)
        day_model = units.carrington_rotation_model / CARRINGTON_SYNODIC_DAYS
        kG = DEFAULT_STRENGTH_KG if strength_kG is None else float(strength_kG)
        attrs.update(G=params.gravity, r0_cm=units.r0_cm, r0_rsun=units.r0_rsun, Omega_s=units.omega_s,
                     core_rate_nHz=units.core_rate_nHz, s0=flow.s0, s2=flow.s2, s4=flow.s4,
                     field_unit_G=float(units.field_unit.value), strength_kG=kG, balance=balance,
                     rho_g_cm3=units.rho_g_cm3, units="MHD-SWT model units: length r0, time 1/Omega")
    if days <= 0:
        raise ConfigError(f"days must be positive, got {days}")
    n_out = max(1, round(days / output_every_days))
    interval = days * day_model / n_out
    steps_per_out = max(1, math.ceil(interval / base.dt - 1e-9))
    solver = make_solver(base, params, dt=interval / steps_per_out)

    if case == "williamson2":
        state = S.williamson2_state(solver, alpha, earth)
    else:
        strength = S.strength_from_kG(kG, units)
        attrs["strength_model"] = strength
        state = S.band_state(solver, antisymmetric_pair(), strength, balance, flow)
        if case == "band-unstable":
            state = S.add_mode_perturbation(solver, state, list(UNSTABLE_PERTURBATION_MODES), UNSTABLE_PERTURBATION_AMPLITUDE)
    track = base.dissipation_efold_rotations is not None
    traj = solver.integrate(state, n_out * steps_per_out, steps_per_out, track_budget=track)
    ds = trajectory_dataset(solver, traj, np.asarray(traj.time, np.float64) / day_model)
    check_thickness(ds["h"].values, f"{case} run")
    energy, mass, dissipated = ds["energy"].values, ds["mass"].values, ds["dissipated"].values
    attrs.update(
        dt_model=solver.dt,
        steps=n_out * steps_per_out,
        rotations=float(traj.time[-1]) / solver.rotation_period,
        mass_drift=float((mass[-1] - mass[0]) / mass[0]),
        energy_drift=float((energy[-1] - energy[0]) / energy[0]),
        energy_budget_residual=float((energy[-1] - energy[0] + dissipated[-1]) / energy[0]),
        energy_dissipated=float(dissipated[-1] / energy[0]),
        h_min=float(ds["h"].min()),
    )
    if case == "williamson2":
        lat, lon = solver.lat_lon_rad
        _, _, h_true = S.williamson2_fields(lat, lon, alpha, earth)
        attrs["h_l2_error"] = S.l2_error(solver, ds["h"].values[-1], h_true)
    ds.attrs.update(_plain_attrs(attrs))
    return ds
