"""The forecast chain: maps -> toroids -> PINN state -> MHD-SWT integration -> emergence density.

For rotation N (the latest map) the chain estimates the toroids causally (trailing window, nothing
after map N), trains the PINN for a self-consistent MHD-SWT state (:mod:`pinn.training.state_cache`, cached by
inputs + config; or the classical band of the same toroids, ``forecast.start``, :mod:`pinn.chain.starts`), integrates it forward with the spectral solver, tracks the predicted toroids at the
observation times of rotation N + 1 (:mod:`pinn.emergence.ridges`) and turns them into a probability density of
new-AR emergence (:mod:`pinn.emergence.ridge_model`). This module only orchestrates those steps and writes the
outputs (forecast.nc, summary.json, forecast.png via :mod:`pinn.chain.plotting`).
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from pinn.chain.starts import start_state
from pinn.config.schema import Config, ForecastConfig, check_key, to_dict
from pinn.data import arise
from pinn.emergence import counts as ct
from pinn.emergence import density as dn
from pinn.emergence.hybrid import static_ridge
from pinn.emergence.ridge_model import EmergenceParams, density_grid, emergence_density, hotspots
from pinn.emergence.ridges import (
    HEMISPHERES,
    SYNODIC_DAYS,
    minimum_horizon_days,
    predicted_toroids,
    ridge_in_carrington_frame,
    state_on_grid,
    toroids_at_observation,
)
from pinn.errors import ConfigError, InputError, InputWarning

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Horizon


def minimum_weeks(fc: ForecastConfig) -> float:
    """Shortest horizon (weeks) whose integration reaches the last observation time of rotation N+1."""
    return minimum_horizon_days(fc.output_nlon) / 7.0


def check_horizon(weeks: float, fc: ForecastConfig) -> None:
    """Refuse a horizon outside the domain of ``forecast.weeks`` or too short for rotation N+1, before any work.

    The density at Carrington longitude phi is read at phi's observation time in rotation N+1
    (:func:`pinn.emergence.ridges.lead_days`), so the integration must reach the latest of them.
    """
    check_key(ForecastConfig, "weeks", weeks, "forecast.weeks")
    need = minimum_weeks(fc)
    if weeks < need:
        shown = math.ceil(need * 100) / 100  # rounded up, so the value shown is accepted
        raise ConfigError(
            f"config key 'forecast.weeks' = {weeks:g}: shorter than the minimum {shown:.2f} weeks "
            f"({7 * need:.1f} d: when rotation N+1 sees its last longitude, forecast.output_nlon = {fc.output_nlon})")


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class ForecastInputs:
    """What the forecast may know at the end of rotation N: the maps up to N and their toroids."""

    crs: tuple[int, ...]  # rotations used, the latest last
    latest: xr.DataArray  # Br(lat, lon) of rotation N, G
    toroids: object  # pinn.toroids.fit.Toroids of rotation N (causal window)
    hemisphere_flux: dict  # unsigned flux share of strong pixels per hemisphere over the window
    t_start: np.datetime64  # start of rotation N (NaT if unknown)
    t_stop: np.datetime64  # end of rotation N (NaT if unknown)
    map_notes: tuple[dict, ...] = ()  # per map used: cr, source, header_repairs, masked_implausible_pixels


def prepare_inputs(paths: Sequence[str | Path], config: Config) -> ForecastInputs:
    """Load up to ``toroids.window`` consecutive maps (latest last) and fit the latest toroids causally."""
    from pinn.data.observations import check_consecutive, load_sequence
    from pinn.toroids import fit as tor

    if not paths:
        raise InputError(None, "no synoptic maps given")
    seq = load_sequence(paths, config.observations)
    crs = [int(c) for c in seq["cr"].values]
    check_consecutive(crs)
    instruments = {str(v) for v in np.atleast_1d(seq["instrument"].values)} if "instrument" in seq else set()
    if len(instruments) > 1:
        raise InputError(paths[-1], f"maps from different instruments mixed ({', '.join(sorted(instruments))})")
    window = config.toroids.window
    if len(crs) > window:
        seq = seq.isel(cr=slice(-window, None))
        crs = crs[-window:]
    elif len(crs) < window:
        warnings.warn(f"toroids of CR {crs[-1]} from {len(crs)} map{'s' if len(crs) > 1 else ''} (CR "
                      f"{crs[0]}-{crs[-1]}), fewer than toroids.window = {window}", InputWarning, stacklevel=2)
    toroids = tor.fit_toroids_window(seq, config.toroids, causal=True) if len(crs) > 1 else tor.fit_toroids(
        seq.isel(cr=0), config.toroids)
    latest = seq["Br"].isel(cr=-1)
    flux = _hemisphere_flux(seq["Br"], config.toroids.threshold_G, config.toroids.lat_limit_deg)
    t_start = seq["t_start"].values[-1] if "t_start" in seq else np.datetime64("NaT")
    t_stop = seq["t_stop"].values[-1] if "t_stop" in seq else np.datetime64("NaT")
    return ForecastInputs(tuple(crs), latest, toroids, flux, t_start, t_stop, map_notes(seq))


def map_notes(seq: xr.Dataset) -> tuple[dict, ...]:
    """What the reader repaired or masked in each map of a sequence (its ``header_repairs`` and
    ``masked_implausible_pixels`` coordinates), one dict per rotation."""
    n = seq.sizes["cr"]
    repairs = seq["header_repairs"].values if "header_repairs" in seq.coords else [""] * n
    masked = seq["masked_implausible_pixels"].values if "masked_implausible_pixels" in seq.coords else [0] * n
    sources = seq["source"].values if "source" in seq.coords else [""] * n
    return tuple({"cr": int(c), "source": str(s), "header_repairs": str(r), "masked_implausible_pixels": int(m)}
                 for c, s, r, m in zip(seq["cr"].values, sources, repairs, masked))


def hemisphere_weights(inputs: ForecastInputs, fc: ForecastConfig) -> dict[str, float]:
    """Weight of each hemisphere in the emergence model: the flux shares, or equal (``forecast.hemisphere_weight``)."""
    return inputs.hemisphere_flux if fc.hemisphere_weight == "flux" else {"north": 0.5, "south": 0.5}


def _hemisphere_flux(br: xr.DataArray, threshold: float, lat_limit: float) -> dict:
    """Share of the strong-pixel unsigned flux (|Br| x pixel solid angle) in each hemisphere."""
    from pinn.data.grid import pixel_solid_angle

    lat = br["lat"]
    strong = np.abs(br).where((np.abs(br) >= threshold) & (np.abs(lat) <= lat_limit), 0.0).fillna(0.0)
    flux = strong * pixel_solid_angle(br)  # the grid (sine-latitude or uniform) is inferred from lat
    north = float(flux.where(lat > 0, 0.0).sum())
    south = float(flux.where(lat < 0, 0.0).sum())
    total = north + south
    if total <= 0:
        return {"north": 0.5, "south": 0.5}
    return {"north": north / total, "south": south / total}


# ---------------------------------------------------------------------------------------------
# Forward integration


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
    from pinn.config.physics import model_units, solver_for

    units = model_units(config.physics)
    day_model = units.time_to_model(1.0 * _day())
    n_out = max(1, round(days / config.forecast.snapshot_days))
    interval = days * day_model / n_out
    steps_per_out = max(1, math.ceil(interval / config.solver.dt - 1e-9))
    solver = solver_for(config, dt=interval / steps_per_out)
    return IntegrationPlan(solver, n_out * steps_per_out, steps_per_out, float(day_model))


def solver_start(state: xr.Dataset, solver, config: Config) -> tuple[object, dict]:
    """The PINN state on the solver grid as a modal start (balanced if ``solver.balance_start``), and the
    balance diagnostics as trajectory attributes."""
    from pinn.physics.solver import check_thickness

    fields = {k: state_on_grid(state[k], solver.lat, solver.lon) for k in ("u", "v", "h", "A")}
    check_thickness(fields["h"], "PINN state")
    initial = solver.from_nodal(fields["u"], fields["v"], fields["h"], fields["A"])
    attrs = {}
    if config.solver.balance_start:
        from pinn.physics.balance import balance_start

        balanced = balance_start(solver, initial, float(state.attrs.get("pattern_speed_model", 0.0)))
        initial = balanced.state
        attrs = {"balance_start": 1, "balance_div_tendency_before": balanced.div_tendency_start,
                 "balance_div_tendency_after": balanced.div_tendency_end, "balance_change": balanced.change}
    return initial, attrs


def trajectory_of(plan: IntegrationPlan, traj, attrs: dict) -> xr.Dataset:
    """The trajectory Dataset of one integration (time in days), thickness checked."""
    from pinn.physics.solver import check_thickness, trajectory_dataset

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
    import jax

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


def _day():
    import astropy.units as u

    return u.day


# ---------------------------------------------------------------------------------------------
# The whole chain


HOTSPOT_RADIUS_DEG = 10.0  # great-circle radius of the per-hotspot probability of a new AR
COUNT_METHOD = "mean of the last 5 observed rotations per hemisphere (pinn.emergence.counts.mean5_rates; tied with EW in the hindcast, the simpler)"


def arise_history(path: str | Path | None, target: int):
    """ARISE new-AR rows of rotations before ``target`` only (the bundled table by default)."""
    from pinn.data.bundled import arise_table

    table = arise.load_arise(arise_table() if path is None else path)
    return table[table["cr"] < target].reset_index(drop=True)


@dataclass(frozen=True)
class ModelDensity:
    """An emergence density (per sr) and what produced it (for forecast.nc attrs and summary.json)."""

    density: xr.DataArray
    record: dict


def hybrid_fit_of(fc: ForecastConfig):
    """The :class:`pinn.emergence.hybrid.HybridFit` stored in the config (``forecast.hybrid_*``)."""
    from pinn.emergence.hybrid import HybridFit

    names = tuple(fc.hybrid_features)
    if not len(names) == len(fc.hybrid_betas) == len(fc.hybrid_scales):
        raise ConfigError(f"config keys 'forecast.hybrid_features', 'forecast.hybrid_betas', 'forecast.hybrid_scales': "
                          f"lengths {len(names)}, {len(fc.hybrid_betas)}, {len(fc.hybrid_scales)} differ")
    fitted = tuple(fc.hybrid_fitted_on or ())  # first and last scored rotation only
    return HybridFit(names, np.asarray(fc.hybrid_betas, float), np.zeros(len(names)),
                     np.asarray(fc.hybrid_scales, float), fitted)


def check_fit_is_causal(fc: ForecastConfig, target: int) -> None:
    """Refuse a hybrid fit that saw the forecast rotation or later."""
    if fc.hybrid_fitted_on is not None and fc.hybrid_fitted_on[1] >= target:
        raise ConfigError(f"config key 'forecast.hybrid_fitted_on' = {list(fc.hybrid_fitted_on)}: the fit saw "
                          f"CR {fc.hybrid_fitted_on[1]}, not before the forecast rotation CR {target}")


def emergence_model_density(ridge: xr.Dataset, static: xr.Dataset, lat: np.ndarray, weights: dict,
                            params: EmergenceParams, fc: ForecastConfig, history, target: int) -> ModelDensity:
    """The density of ``forecast.emergence_model``: the ridge model, or the hybrid (data-only prior of
    ``history`` (rows before ``target``) tilted by the features of the predicted and static ridges)."""
    from pinn.emergence import data_only as do
    from pinn.emergence import hybrid as hy

    if fc.emergence_model == "ridge":
        return ModelDensity(emergence_density(ridge, lat, weights, params), {"model": "ridge"})
    check_fit_is_causal(fc, target)
    fit = hybrid_fit_of(fc)
    lon = ridge["lon"].values
    prior = do.candidate_density(history, target, lat, lon, fc.data_only_candidate)
    density = hy.hybrid_density(prior, hy.ridge_features(ridge, static, lat, fit.names), fit)
    record = {"model": "hybrid", "data_only_candidate": fc.data_only_candidate, "features": list(fit.names),
              "betas": [float(b) for b in fit.beta], "scales": [float(s) for s in fit.scale],
              "fitted_on": list(fc.hybrid_fitted_on) if fc.hybrid_fitted_on else []}
    return ModelDensity(density, record)


@dataclass(frozen=True)
class ForecastResult:
    dataset: xr.Dataset  # forecast.nc contents
    summary: dict
    inputs: ForecastInputs
    trajectory: xr.Dataset


def run_forecast(
    paths: Sequence[str | Path],
    config: Config,
    strength_kG: float | None = None,
    weeks: float | None = None,
    params: EmergenceParams | None = None,
    arise: str | Path | None = None,
) -> ForecastResult:
    """Forecast the emergence density of rotation N+1 from maps up to N (nothing after N is read).

    ``arise``: the ARISE table for the hybrid prior and the counts (default the bundled one); only its rows
    before N+1 are used.
    """

    from pinn.config.physics import model_units

    fc = config.forecast
    strength = config.physics.band_strength_kG if strength_kG is None else float(strength_kG)
    weeks = fc.weeks if weeks is None else float(weeks)
    check_horizon(weeks, fc)
    params = params or EmergenceParams.from_config(fc)
    inputs = prepare_inputs(paths, config)
    log.info("toroids of CR %d from CR %s (causal)", inputs.crs[-1], ",".join(map(str, inputs.crs)))
    state = start_state(inputs.toroids, config, strength)
    traj = integrate_state(state, config, days=7.0 * weeks)
    pred = predicted_toroids(traj, fc.ridge_lat_limit_deg)
    units = model_units(config.physics)
    drift = units.frame_drift_deg_per_day()
    lat, lon = density_grid(fc)
    ridge = toroids_at_observation(pred, lon, drift)
    weights = hemisphere_weights(inputs, fc)
    target = int(inputs.crs[-1] + 1)
    history = arise_history(arise, target)
    model = emergence_model_density(ridge, static_ridge(inputs.toroids, lon), lat, weights, params, fc, history, target)
    density = model.density
    rates = ct.mean5_rates(history, target)
    spots = hotspots(density)
    for spot, p in zip(spots, ct.prob_at_least_one_near(density, rates, spots, HOTSPOT_RADIUS_DEG)):
        spot[f"prob_new_ar_within_{HOTSPOT_RADIUS_DEG:g}deg"] = p

    every = max(1, round(fc.state_snapshot_days / fc.snapshot_days))
    snaps = physical_state(traj[["u", "v", "h", "a", "b", "A"]].isel(time=slice(None, None, every)), units).rename(
        {"time": "state_time", "lat": "state_lat", "lon": "state_lon"})
    field_G = float(units.field_unit.to_value("G"))
    version = _version()
    ds = xr.Dataset(
        {
            "emergence_density": density,
            "toroid_lat": (("hemisphere", "lon", "time"), ridge_in_carrington_frame(pred, "ridge_lat", lon, drift),
                           {"units": "degrees_north", "long_name": "predicted toroid centre latitude (Carrington frame)"}),
            "toroid_strength": (("hemisphere", "lon", "time"),
                                field_G * ridge_in_carrington_frame(pred, "ridge_strength", lon, drift),
                                {"units": "G", "model_unit_in_physical": field_G, "model_unit": "sqrt(4 pi rho) r0 Omega",
                                 "long_name": "predicted peak |a| along the toroid"}),
            "observation_lead_days": ("lon", ridge["lead_days"].values, {"units": "days"}),
            "expected_count": ("hemisphere", [rates[h] for h in HEMISPHERES],
                               {"units": "1", "long_name": "expected number of new ARs in rotation N+1",
                                "method": COUNT_METHOD}),
            **{f"state_{k}": snaps[k] for k in ("u", "v", "h", "a", "b", "A")},
        },
        coords={"lat": ("lat", lat, {"units": "degrees_north"}),
                "lon": ("lon", lon, {"units": "degrees_east", "long_name": "Carrington longitude (latest map frame)"}),
                "hemisphere": list(HEMISPHERES),
                "time": ("time", pred["time"].values, {"units": "days", "long_name": "days after reference_time (the middle "
                                                             "of the latest rotation)"})},
    )
    ds.attrs.update({
        "title": "pinn AR-emergence forecast for the rotation after the latest map",
        "input_rotations": np.asarray(inputs.crs, np.int32),
        "forecast_rotation": int(inputs.crs[-1] + 1),
        "lead_time_days_min": float(ridge["lead_days"].min()),
        "lead_time_days_max": float(ridge["lead_days"].max()),
        "horizon_weeks": float(weeks),
        "field_strength_kG": float(strength),
        "code_version": version,
        "emergence_params": json.dumps(params.__dict__),
        "frame_drift_deg_per_day": float(drift),
        "reference_time": _reference_time(inputs),
        "density_integral": dn.integral(density),
        **{f"emergence_{k}": json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in model.record.items()},
    })
    summary = {
        "input_rotations": list(inputs.crs),
        "forecast_rotation": int(inputs.crs[-1] + 1),
        "field_strength_kG": strength,
        "start": fc.start,
        "horizon_weeks": weeks,
        "lead_time_days": [float(ridge["lead_days"].min()), float(ridge["lead_days"].max())],
        "density_integral": dn.integral(density),
        "toroids": inputs.toroids.to_json_dict(),
        "hemisphere_weights": weights,
        "emergence_params": params.__dict__,
        "emergence_model": model.record,
        "expected_count": {**rates, "total": float(sum(rates.values())), "method": COUNT_METHOD},
        "pinn_final_losses": {k: float(v) for k, v in state.attrs.items() if k.startswith("final_")},
        "solver_mass_drift": float((traj["mass"][-1] - traj["mass"][0]) / traj["mass"][0]),
        "start_balance": {k[len("balance_"):]: float(v) for k, v in traj.attrs.items()
                          if k.startswith("balance_") and k != "balance_start"},
        "hotspots": spots,
        "input_maps": list(inputs.map_notes),
        "code_version": version,
        "config": to_dict(config),
    }
    return ForecastResult(ds, summary, inputs, traj)


def _reference_time(inputs: ForecastInputs) -> str:
    """ISO time of the middle of the latest rotation (the state's time), or 'unknown'."""
    if np.isnat(inputs.t_start):
        return "unknown"
    mid = inputs.t_start + np.timedelta64(int(SYNODIC_DAYS / 2 * 86400), "s")
    return str(np.datetime_as_string(mid, unit="s")) + "Z"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pinn")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def emerged_ars(path: str | Path | None, target: int):
    """The ARISE new ARs of ``target`` (empty where the table ends before it): for the figure only, read after
    the forecast is made."""
    from pinn.data.bundled import arise_table

    return arise.ars_of(arise.load_arise(arise_table() if path is None else path), target)


def write_outputs(result: ForecastResult, out_dir: str | Path, config: Config,
                  arise: str | Path | None = None) -> dict[str, Path]:
    """Write forecast.nc, forecast.png, summary.json and resolved_config.yaml into ``out_dir`` all-or-nothing
    (:func:`pinn.io.write_directory`: a reader sees the old complete set or the new one, never a mix).

    The figure marks the ARs of the forecast rotation from ``arise`` (default the bundled table) where known.
    """
    from pinn.chain.plotting import plot_forecast
    from pinn.config.schema import dump_yaml
    from pinn.io import save_figure, write_directory, write_json, write_netcdf, write_text

    fig = plot_forecast(result, emerged_ars(arise, int(result.summary["forecast_rotation"])))
    return write_directory(out_dir, {
        "forecast.nc": lambda p: write_netcdf(result.dataset, p),
        "summary.json": lambda p: write_json(p, result.summary),
        "resolved_config.yaml": lambda p: write_text(p, dump_yaml(config)),
        "forecast.png": lambda p: save_figure(fig, p, dpi=110, bbox_inches="tight"),
    })
