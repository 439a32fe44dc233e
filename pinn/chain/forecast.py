"""The one-rotation forecast: the case of maps up to N (:func:`pinn.chain.case.build_case`) turned into the
emergence density of rotation N+1 by the configured model, written as forecast.nc, summary.json, forecast.png.

The emergence model is ``emergence.model`` from the registry (:mod:`pinn.emergence.models`), with its
parameters from the fit artifact ``emergence.fit`` (written by the hindcast; refused before any work if it saw
rotation N+1 or later). The expected counts are the mean of the last 5 rotations per hemisphere
(:mod:`pinn.emergence.counts`), and each hotspot gets its chance of at least one new AR nearby.

Further leads (``forecast.leads``, e.g. [1, 2, 3]; default [1]): the same case also forecasts N+L from maps and ARs
up to N, as the hindcast scores it (:mod:`pinn.chain.leads`): the predicted ridge read at the observation times of
N+L, the data-only prior made L rotations ahead, the same fitted parameters (the fit artifact is a lead-1 fit) and
the same expected counts (those known at N). forecast.nc then holds ``emergence_density_by_lead`` (lead, lat, lon;
its lead-1 slice is ``emergence_density``), ``observation_lead_days_by_lead`` and ``forecast_rotation_by_lead``;
summary.json a ``leads`` entry per lead (rotation, lead days, hotspots); and forecast_lead<L>.png each further lead's
figure. With the default [1] the outputs are those of the one-rotation forecast, unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from pinn.chain.case import Case, CaseRun, build_case, case_strength, check_horizon, check_leads
from pinn.chain.inputs import ForecastInputs, prepare_inputs
from pinn.chain.integration import physical_state
from pinn.chain.plotting import plot_forecast
from pinn.config.physics import model_units
from pinn.config.schema import Config, dump_yaml, to_dict
from pinn.data.arise import ars_of, load_arise
from pinn.data.bundled import arise_table
from pinn.emergence import counts as ct
from pinn.emergence import density as dn
from pinn.emergence.data_only import FAMILIES, STACK, label_density, pooled_density
from pinn.emergence.fit_artifact import FitArtifact, read_fit
from pinn.emergence.models import CHOSEN, MODELS, ModelInputs
from pinn.emergence.ridge_model import density_grid, hotspots
from pinn.emergence.ridges import SYNODIC_DAYS, ridge_in_carrington_frame
from pinn.errors import ConfigError
from pinn.io import save_figure, write_directory, write_json, write_netcdf, write_text
from pinn.physics.constants import HEMISPHERES

log = logging.getLogger(__name__)

HOTSPOT_RADIUS_DEG = 10.0  # great-circle radius of the per-hotspot probability of a new AR
COUNT_METHOD = ("mean of the last 5 observed rotations per hemisphere (pinn.emergence.counts.mean5_rates; tied with "
                "EW in the hindcast, the simpler)")
DEFAULT_CANDIDATE = "b0 f0.05 sNone"  # the data-only prior without a fit artifact: the floored latitude band


def arise_history(path: str | Path | None, target: int) -> pd.DataFrame:
    """ARISE new-AR rows of rotations before ``target`` only (the bundled table by default)."""
    table = load_arise(arise_table() if path is None else path)
    return table[table["cr"] < target].reset_index(drop=True)


@dataclass(frozen=True)
class ModelDensity:
    """An emergence density (per sr) and what produced it (for forecast.nc attrs and summary.json)."""

    density: xr.DataArray
    record: dict


def resolve_model(config: Config) -> Config:
    """``config`` with ``emergence.model: chosen`` replaced by the fit artifact's causal choice (one-line errors when
    there is no artifact or it has no choice); other configs unchanged. Cheap: call it before any training."""
    if config.emergence.model != CHOSEN:
        return config
    if config.emergence.fit is None:
        raise ConfigError("config key 'emergence.model' = 'chosen' needs the fit artifact that chose it (emergence.fit)")
    fit = read_fit(config.emergence.fit)
    if not fit.chosen_model:
        raise ConfigError(f"config key 'emergence.fit' = {config.emergence.fit}: no chosen model (written before the "
                          f"hindcast chose one); name a model in emergence.model")
    return dataclasses.replace(config, emergence=dataclasses.replace(config.emergence, model=fit.chosen_model))


def model_fit(config: Config, target: int) -> FitArtifact | None:
    """The fit artifact of ``emergence.fit`` (None when not set), checked to be causal for ``target``; also checks
    that ``emergence.model`` is registered (after :func:`resolve_model`). Cheap: call it before any training."""
    name = config.emergence.model
    if name not in MODELS.names():
        raise ConfigError(f"config key 'emergence.model' = {name!r}: not a registered emergence model "
                          f"({', '.join(MODELS.names())})")
    if name in FAMILIES:
        raise ConfigError(f"config key 'emergence.model' = {name!r}: a data-only method the hindcast scores; the "
                          f"forecast has the fit artifact's data-only choice (data_only) and stack ({STACK}) only")
    if config.emergence.fit is None:
        return None
    fit = read_fit(config.emergence.fit)
    fit.check_causal(target, config.emergence.fit)
    if MODELS.get(name).fitted:
        fit.params_of(name, config.emergence.fit)
    if uses_stack(config):
        fit.stack_of(config.emergence.fit)
    return fit


def uses_stack(config: Config) -> bool:
    """Whether the forecast reads the data-only stack (as the hybrids' prior, or as the model itself)."""
    return config.emergence.prior == STACK or config.emergence.model == STACK


def forecast_density(case: Case, config: Config, history: pd.DataFrame, fit: FitArtifact | None,
                     latest_br=None) -> ModelDensity:
    """The density of ``emergence.model`` for the case's target, with the parameters of ``fit`` (or unfitted)."""
    model = MODELS.get(config.emergence.model)
    lat, lon = density_grid(config.forecast)
    candidate = fit.data_only_candidate if fit is not None else DEFAULT_CANDIDATE
    stack = fit.stack_of(config.emergence.fit) if fit is not None and uses_stack(config) else ((candidate, 1.0),)

    @functools.cache
    def reference(method: str) -> xr.DataArray:
        """The data-only forecasts the artifact records for the target: its causal choice and its stack."""
        if method == "data_only":
            return label_density(history, case.target, lat, lon, candidate, case.lead)
        if method == STACK:
            return pooled_density(history, stack, case.target, lat, lon, case.lead)
        raise ConfigError(f"config key 'emergence.model' = {model.name!r}: the forecast has the data-only choice and "
                          f"stack of the fit artifact only, not the data-only method {method!r} (a hindcast scores it)")

    inputs = ModelInputs(case.target, lat, lon, case.ridge, case.static_ridge, case.hemisphere_weights, history,
                         reference(config.emergence.prior), reference=reference, latest_br=latest_br, lead=case.lead)
    if not model.fitted:
        params = None
    elif fit is None:
        params = model.unfitted(config)
    else:
        params = model.from_json(fit.params_of(model.name, config.emergence.fit))
    density = model.density(inputs, model.prepare(inputs), params)
    record = {"model": model.name, "description": model.description, "data_only_candidate": candidate,
              "prior": config.emergence.prior, "data_only_stack": [list(c) for c in stack] if uses_stack(config) else [],
              "fit": config.emergence.fit, "fitted_on": [min(fit.fitted_on), max(fit.fitted_on)] if fit and fit.fitted_on
              else [], "params": model.to_json(params) if params is not None else {}}
    return ModelDensity(density, record)


@dataclass(frozen=True)
class LeadForecast:
    """The forecast of N+lead (lead > 1) from the same case: its density and hotspots."""

    lead: int
    case: Case  # the case's lead-L view (Case.at_lead)
    model: ModelDensity
    spots: list[dict]


@dataclass(frozen=True)
class ForecastResult:
    dataset: xr.Dataset  # forecast.nc contents
    summary: dict
    inputs: ForecastInputs
    trajectory: xr.Dataset
    case: Case  # what the hindcast would score for the same maps (pinn.chain.case)
    further: tuple[LeadForecast, ...] = ()  # the forecasts of N+L for the leads L > 1 of forecast.leads


def with_hotspots(density: xr.DataArray, rates: dict) -> list[dict]:
    """The density's hotspots, each with its chance of at least one new AR within HOTSPOT_RADIUS_DEG."""
    spots = hotspots(density)
    for spot, p in zip(spots, ct.prob_at_least_one_near(density, rates, spots, HOTSPOT_RADIUS_DEG)):
        spot[f"prob_new_ar_within_{HOTSPOT_RADIUS_DEG:g}deg"] = p
    return spots


def run_forecast(
    paths: Sequence[str | Path],
    config: Config,
    strength_kG: float | None = None,
    weeks: float | None = None,
    arise: str | Path | None = None,
) -> ForecastResult:
    """Forecast the emergence density of rotation N+1 (and of N+L for the further ``forecast.leads``) from maps up to
    N (nothing after N is read).

    ``arise``: the ARISE table for the data-only prior and the counts (default the bundled one); only its rows
    before N+1 are used. The horizon must reach N+max(leads) (refused before any work).
    """
    fc = config.forecast
    weeks = fc.weeks if weeks is None else float(weeks)
    check_horizon(weeks, fc)
    leads = check_leads(dataclasses.replace(fc, weeks=weeks))
    inputs = prepare_inputs(paths, config)
    target = int(inputs.crs[-1] + 1)
    asked = config.emergence.model
    config = resolve_model(config)  # emergence.model: chosen -> the fit artifact's causal choice
    fit = model_fit(config, target)  # refusals that depend only on the config and N come before any training
    log.info("toroids of CR %d from CR %s (causal)", inputs.crs[-1], ",".join(map(str, inputs.crs)))
    run = build_case(paths, config, strength_kG, weeks, inputs=inputs, leads=leads)
    history = arise_history(arise, target)
    model = forecast_density(run.case, config, history, fit, latest_br=lambda: inputs.latest)
    if asked == CHOSEN:
        model.record["chosen_by"] = "the hindcast's causal choice among its models (the fit artifact's chosen_model)"
    rates = ct.mean5_rates(history, target)
    spots = with_hotspots(model.density, rates)
    further = []
    for lead in leads[1:]:
        view = run.case.at_lead(lead)
        density = forecast_density(view, config, history, fit, latest_br=lambda: inputs.latest)
        further.append(LeadForecast(lead, view, density, with_hotspots(density.density, rates)))
    dataset = with_leads(forecast_dataset(run, model, rates, config, weeks, strength_kG), further)
    summary = forecast_summary(run, model, rates, spots, config, weeks, strength_kG)
    if further:
        summary["leads"] = lead_summaries(run.case, model, spots, further)
    return ForecastResult(dataset, summary, inputs, run.trajectory, run.case, tuple(further))


def with_leads(ds: xr.Dataset, further: Sequence[LeadForecast]) -> xr.Dataset:
    """forecast.nc with the densities of every lead stacked on a ``lead`` dimension (rotations; lead 1 first, equal
    to ``emergence_density``); ``ds`` unchanged without further leads."""
    if not further:
        return ds
    leads = [1, *(f.lead for f in further)]
    density = xr.concat([ds["emergence_density"], *(f.model.density for f in further)], dim="lead")
    lead_days = np.stack([ds["observation_lead_days"].values, *(f.case.ridge["lead_days"].values for f in further)])
    out = ds.assign(
        emergence_density_by_lead=density.assign_attrs(
            long_name="expected new ARs per sr of rotation N+lead (integrates to 1)", units="sr-1"),
        observation_lead_days_by_lead=(("lead", "lon"), lead_days, {"units": "days"}),
        forecast_rotation_by_lead=("lead", np.asarray([ds.attrs["forecast_rotation"] - 1 + k for k in leads], np.int32)),
    ).assign_coords(lead=("lead", np.asarray(leads, np.int32), {"units": "rotations",
                                                                "long_name": "rotations after the latest map"}))
    out.attrs["leads"] = np.asarray(leads, np.int32)
    return out


def lead_summaries(case: Case, model: ModelDensity, spots: list[dict], further: Sequence[LeadForecast]) -> dict:
    """summary.json's ``leads``: per lead the forecast rotation, lead days, density integral and hotspots."""
    def entry(c: Case, m: ModelDensity, s: list[dict]) -> dict:
        return {"forecast_rotation": c.target, "lead_time_days": [float(c.ridge["lead_days"].min()),
                                                                  float(c.ridge["lead_days"].max())],
                "density_integral": dn.integral(m.density), "hotspots": s}
    return {"1": entry(case, model, spots)} | {str(f.lead): entry(f.case, f.model, f.spots) for f in further}


def lead_view(result: ForecastResult, lead: LeadForecast) -> ForecastResult:
    """``result`` as the forecast of N+lead (its density, lead days, rotation and hotspots): for its figure."""
    ds = result.dataset.assign(emergence_density=lead.model.density,
                               observation_lead_days=("lon", lead.case.ridge["lead_days"].values, {"units": "days"}))
    ds.attrs["forecast_rotation"] = lead.case.target
    return dataclasses.replace(result, dataset=ds, summary=result.summary | {"hotspots": lead.spots}, case=lead.case,
                               further=())


def forecast_dataset(run: CaseRun, model: ModelDensity, rates: dict, config: Config, weeks: float,
                     strength_kG: float | None) -> xr.Dataset:
    """forecast.nc: the density, the predicted toroids (Carrington frame), expected counts and state snapshots."""
    fc = config.forecast
    units = model_units(config.physics)
    lat, lon = density_grid(fc)
    ridge, pred, drift = run.case.ridge, run.predicted, run.drift_deg_per_day
    every = max(1, round(fc.state_snapshot_days / fc.snapshot_days))
    snaps = physical_state(run.trajectory[["u", "v", "h", "a", "b", "A"]].isel(time=slice(None, None, every)),
                           units).rename({"time": "state_time", "lat": "state_lat", "lon": "state_lon"})
    field_G = float(units.field_unit.to_value("G"))
    ds = xr.Dataset(
        {
            "emergence_density": model.density,
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
                "time": ("time", pred["time"].values, {"units": "days", "long_name": "days after reference_time (the "
                                                                                     "middle of the latest rotation)"})},
    )
    ds.attrs.update({
        "title": "pinn AR-emergence forecast for the rotation after the latest map",
        "input_rotations": np.asarray(run.inputs.crs, np.int32),
        "forecast_rotation": run.case.target,
        "lead_time_days_min": float(ridge["lead_days"].min()),
        "lead_time_days_max": float(ridge["lead_days"].max()),
        "horizon_weeks": float(weeks),
        "field_strength_kG": case_strength(config, strength_kG),
        "code_version": _version(),
        "frame_drift_deg_per_day": float(drift),
        "reference_time": _reference_time(run.inputs),
        "density_integral": dn.integral(model.density),
        **{f"emergence_{k}": json.dumps(v) if isinstance(v, (list, dict)) or v is None else v
           for k, v in model.record.items()},
    })
    return ds


def forecast_summary(run: CaseRun, model: ModelDensity, rates: dict, spots: list[dict], config: Config,
                     weeks: float, strength_kG: float | None) -> dict:
    """summary.json: what was forecast, from what, with which model, and the checks of the run."""
    traj, ridge = run.trajectory, run.case.ridge
    return {
        "input_rotations": list(run.inputs.crs),
        "forecast_rotation": run.case.target,
        "field_strength_kG": case_strength(config, strength_kG),
        "start": config.forecast.start,
        "horizon_weeks": weeks,
        "lead_time_days": [float(ridge["lead_days"].min()), float(ridge["lead_days"].max())],
        "density_integral": dn.integral(model.density),
        "toroids": run.inputs.toroids.to_json_dict(),
        **({} if run.inputs.series is None else {"toroid_series": run.inputs.series.to_json_dict()}),  # time_dependent
        "hemisphere_weights": run.case.hemisphere_weights,
        "emergence_model": model.record,
        "expected_count": {**rates, "total": float(sum(rates.values())), "method": COUNT_METHOD},
        "pinn_final_losses": {k: float(v) for k, v in run.state.attrs.items() if k.startswith("final_")},
        "solver_mass_drift": float((traj["mass"][-1] - traj["mass"][0]) / traj["mass"][0]),
        "start_balance": {k[len("balance_"):]: float(v) for k, v in traj.attrs.items()
                          if k.startswith("balance_") and k != "balance_start"},
        "hotspots": spots,
        "input_maps": list(run.inputs.map_notes),
        "code_version": _version(),
        "config": to_dict(config),
    }


def _reference_time(inputs: ForecastInputs) -> str:
    """ISO time of the middle of the latest rotation (the state's time), or 'unknown'."""
    if np.isnat(inputs.t_start):
        return "unknown"
    mid = inputs.t_start + np.timedelta64(int(SYNODIC_DAYS / 2 * 86400), "s")
    return str(np.datetime_as_string(mid, unit="s")) + "Z"


def _version() -> str:
    try:
        return version("pinn")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def emerged_ars(path: str | Path | None, target: int) -> pd.DataFrame:
    """The ARISE new ARs of ``target`` (empty where the table ends before it): for the figure only, read after
    the forecast is made."""
    return ars_of(load_arise(arise_table() if path is None else path), target)


def write_outputs(result: ForecastResult, out_dir: str | Path, config: Config,
                  arise: str | Path | None = None) -> dict[str, Path]:
    """Write forecast.nc, forecast.png, summary.json and resolved_config.yaml (and forecast_lead<L>.png per further
    lead) into ``out_dir`` all-or-nothing (:func:`pinn.io.write_directory`: a reader sees the old complete set or the
    new one, never a mix).

    Each figure marks the ARs of its forecast rotation from ``arise`` (default the bundled table) where known.
    """
    figures = {"forecast.png": plot_forecast(result, emerged_ars(arise, int(result.summary["forecast_rotation"])))}
    for lead in result.further:
        figures[f"forecast_lead{lead.lead}.png"] = plot_forecast(lead_view(result, lead),
                                                                 emerged_ars(arise, lead.case.target))
    return write_directory(out_dir, {
        "forecast.nc": lambda p: write_netcdf(result.dataset, p),
        "summary.json": lambda p: write_json(p, result.summary),
        "resolved_config.yaml": lambda p: write_text(p, dump_yaml(config)),
        **{name: (lambda p, fig=fig: save_figure(fig, p, dpi=110, bbox_inches="tight")) for name, fig in figures.items()},
    })
