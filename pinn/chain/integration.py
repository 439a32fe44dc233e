"""Forward integration of start states with the spectral MHD-SWT solver (:mod:`pinn.physics.solver`).

A gridded state (u, v, h, A on lat/lon in degrees, from the PINN or the classical start) is put on the solver's
Gaussian grid, balanced so that it sheds no gravity waves (``solver.balance_start``) and stepped with snapshots
every ``forecast.snapshot_days``; many states run as one ensemble program.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import astropy.units as u
import jax
import numpy as np
import xarray as xr

from pinn.config.physics import model_units, solver_for
from pinn.config.schema import Config
from pinn.emergence.ridges import state_on_grid
from pinn.physics.balance import balance_start
from pinn.physics.solver import check_thickness, trajectory_dataset


def integrate_state(state: xr.Dataset, config: Config, days: float) -> xr.Dataset:
    """Integrate a gridded MHD-SWT state (u, v, h, A on lat/lon in degrees) for ``days`` days.

    The state is interpolated onto the solver's Gaussian grid (periodic in longitude), converted to
    vorticity, divergence, h and A, balanced (``solver.balance_start``: divergence and h solved so that the
    start sheds no gravity waves, vorticity and A kept; :func:`pinn.physics.balance.balance_start`) and
    stepped with snapshots every ``forecast.snapshot_days``.
    Returns the trajectory Dataset (time in days since the state's time).
    """
    plan = integration_plan(config, days)
    initial, attrs = solver_start(state, plan.solver, config)
    traj = plan.solver.integrate(initial, plan.n_steps, plan.save_every)
    return trajectory_of(plan, traj, attrs)


@dataclass(frozen=True)
class IntegrationPlan:
    """The solver and step counts of a ``days``-long forecast integration (one per config and horizon)."""

    solver: object  # pinn.physics.solver.Solver with dt dividing the snapshot interval
    n_steps: int
    save_every: int  # steps between snapshots
    day_model: float  # one day in model time units


def integration_plan(config: Config, days: float) -> IntegrationPlan:
    """Solver (dt rounded down to divide ``forecast.snapshot_days``) and steps for ``days`` days."""
    units = model_units(config.physics)
    day_model = units.time_to_model(1.0 * u.day)
    n_out = max(1, round(days / config.forecast.snapshot_days))
    interval = days * day_model / n_out
    steps_per_out = max(1, math.ceil(interval / config.solver.dt - 1e-9))
    solver = solver_for(config, dt=interval / steps_per_out)
    return IntegrationPlan(solver, n_out * steps_per_out, steps_per_out, float(day_model))


def solver_start(state: xr.Dataset, solver, config: Config) -> tuple[object, dict]:
    """The PINN state on the solver grid as a modal start (balanced if ``solver.balance_start``), and the
    balance diagnostics as trajectory attributes."""
    fields = {k: state_on_grid(state[k], solver.lat, solver.lon) for k in ("u", "v", "h", "A")}
    check_thickness(fields["h"], "PINN state")
    initial = solver.from_nodal(fields["u"], fields["v"], fields["h"], fields["A"])
    attrs = {}
    if config.solver.balance_start:
        balanced = balance_start(solver, initial, float(state.attrs.get("pattern_speed_model", 0.0)))
        initial = balanced.state
        attrs = {"balance_start": 1, "balance_div_tendency_before": balanced.div_tendency_start,
                 "balance_div_tendency_after": balanced.div_tendency_end, "balance_change": balanced.change}
    return initial, attrs


def trajectory_of(plan: IntegrationPlan, traj, attrs: dict) -> xr.Dataset:
    """The trajectory Dataset of one integration (time in days), thickness checked."""
    ds = trajectory_dataset(plan.solver, traj, np.asarray(traj.time, np.float64) / plan.day_model, attrs=attrs)
    check_thickness(ds["h"].values, "forecast integration")
    return ds


# State variable -> (physical unit (CF/astropy string), model unit in words, factor(ModelUnits) model -> physical).
_STATE_UNITS = {
    "u": ("m s-1", "r0 Omega", lambda mu: mu.velocity_unit.to_value("m/s")),
    "v": ("m s-1", "r0 Omega", lambda mu: mu.velocity_unit.to_value("m/s")),
    "h": ("1", "undisturbed thickness", lambda mu: 1.0),
    "a": ("G", "sqrt(4 pi rho) r0 Omega", lambda mu: mu.field_unit.to_value("G")),
    "b": ("G", "sqrt(4 pi rho) r0 Omega", lambda mu: mu.field_unit.to_value("G")),
    "A": ("G m", "sqrt(4 pi rho) r0^2 Omega", lambda mu: mu.field_unit.to_value("G") * mu.r0_cm / 100.0),
}


def physical_state(traj: xr.Dataset, units) -> xr.Dataset:
    """The state variables of a trajectory (model units) in physical units with CF ``units`` attributes.

    Each variable keeps ``model_unit_in_physical`` (physical = model x that) and ``model_unit`` (what one model
    unit is), so the model values can be recovered; time stays in days.
    """
    out = traj.copy()
    for name in set(_STATE_UNITS) & set(traj.data_vars):
        unit, model_unit, factor_of = _STATE_UNITS[name]
        factor = float(factor_of(units))
        attrs = {**traj[name].attrs, "units": unit, "model_unit_in_physical": factor, "model_unit": model_unit}
        out[name] = (traj[name] * factor).assign_attrs(attrs)
    return out

def integrate_states(states: Sequence[xr.Dataset], config: Config, days: float, mesh=None) -> list[xr.Dataset]:
    """:func:`integrate_state` of many states in one program (``Solver.integrate_ensemble``).

    Every state gets the same solver and steps; each start is prepared (and balanced) alone, the
    integrations run together with the member axis sharded over ``mesh`` (padded to a multiple of its
    size by repeating the last start). Returns one trajectory Dataset per state.
    """
    plan = integration_plan(config, days)
    starts = [solver_start(s, plan.solver, config) for s in states]
    members = [initial for initial, _ in starts]
    size = 1 if mesh is None else mesh.size
    members += [members[-1]] * (-len(members) % size)
    stacked = jax.tree.map(lambda *x: np.stack([np.asarray(v) for v in x]), *members)
    traj = plan.solver.integrate_ensemble(stacked, plan.n_steps, plan.save_every, mesh=mesh)
    traj = jax.device_get(traj)
    return [trajectory_of(plan, jax.tree.map(lambda x, i=i: x[i], traj), attrs)
            for i, (_, attrs) in enumerate(starts)]
