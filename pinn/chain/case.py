"""One case of the chain: maps up to rotation N and a config -> the predicted toroids of rotation N+1.

The one construction that the forecast (:func:`pinn.chain.forecast.run_forecast`) and the hindcast
(:mod:`pinn.chain.hindcast`) share: read the maps and fit the toroids causally (:mod:`pinn.chain.inputs`),
build the start state (the PINN or the classical band, :mod:`pinn.chain.starts`), integrate it
(:mod:`pinn.chain.integration`), track the predicted toroids and read them at the observation times of
rotation N+1 (:mod:`pinn.emergence.ridges`; and at those of N+L for each further lead L of ``forecast.leads``
that the hindcast asks for), beside the current toroids unchanged (the static ridge). A
:class:`Case` is what every emergence model reads; a :class:`CaseRun` adds what made it (kept in memory by
the forecast, never saved).
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr

from pinn.chain.inputs import ForecastInputs, hemisphere_weights, prepare_inputs
from pinn.chain.integration import integrate_state, integrate_states
from pinn.chain.starts import start_state, start_states
from pinn.config.physics import model_units
from pinn.config.schema import Config, ForecastConfig, check_key
from pinn.emergence.hybrid import static_ridge
from pinn.emergence.ridge_model import density_grid
from pinn.emergence.ridges import lead_days, minimum_horizon_days, predicted_toroids, toroids_at_observation
from pinn.errors import ConfigError, InputError, PinnError, TrainingWarning
from pinn.io import write_netcdf
from pinn.training import case_mesh
from pinn.training.convergence import unconverged_message

DAYS_PER_WEEK = 7.0
# Version of the saved case file (attribute ``case_format``), raised whenever a saved case would lack something
# the models read: 1 (no attribute): before the static ridge's ``kinematic_strength``; 2: with it. A saved case of
# another version is refused by :meth:`Case.load` and recomputed by the hindcast (its key holds the version).
CASE_FORMAT = 2
STATIC_PREFIX = "static_"  # saved name of a static-ridge variable that the predicted ridge does not have


LEAD_KIND = "predicted_lead{}"  # the saved case's kind of the predicted ridge at a further lead


@dataclass(frozen=True)
class Case:
    """A forecast of N+lead from maps up to N: enough to score it with any emergence model, and to save."""

    cr: int  # N, the latest rotation used
    maps: tuple[int, ...]  # rotations of the maps used, the latest last
    ridge: xr.Dataset  # predicted toroids at the observation times of N+lead (toroids_at_observation)
    static_ridge: xr.Dataset  # the current toroids, unchanged, in the same form
    hemisphere_weights: dict
    latest_path: Path  # the map of rotation N
    map_notes: tuple[dict, ...] = ()  # per map used: header repairs and masked pixels (pinn.chain.inputs.map_notes)
    lead: int = 1  # rotations ahead: the target is N+lead
    lead_ridges: Mapping[int, xr.Dataset] = field(default_factory=dict)  # further leads L >= 2: ridge at N+L

    @property
    def target(self) -> int:
        """The forecast rotation N+lead."""
        return self.cr + self.lead

    def at_lead(self, lead: int) -> Case:
        """The same case scoring N+``lead``: the predicted ridge read at the observation times of N+lead (the
        static ridge, maps and weights are those of N whatever the lead)."""
        if lead == self.lead:
            return self
        if self.lead != 1:
            raise ValueError(f"at_lead({lead}) of a lead-{self.lead} view; take it from the lead-1 case")
        ridge = self.lead_ridges.get(lead)
        if ridge is None:
            raise PinnError(f"the case of CR {self.cr} has no predicted ridge for lead {lead} (it was made with other "
                            f"forecast.leads: leads {[1, *sorted(self.lead_ridges)]})")
        return dataclasses.replace(self, ridge=ridge, lead=lead)

    def save(self, path: Path) -> None:
        """The ridges in one NetCDF (dimension ``kind``: predicted, static, and the predicted ridge of each further
        lead); static-only variables (``kinematic_strength``) as ``static_<name>``; the format version
        :data:`CASE_FORMAT` in the attribute ``case_format``."""
        if self.lead != 1:
            raise ValueError("save the lead-1 case (Case.at_lead views are not saved)")
        only = [v for v in self.static_ridge.data_vars if v not in self.ridge.data_vars]
        parts = [self.ridge, self.static_ridge.drop_vars(only),
                 *(_as_lead_one(self.lead_ridges[k], self.ridge) for k in sorted(self.lead_ridges))]
        kinds = ["predicted", "static", *(LEAD_KIND.format(k) for k in sorted(self.lead_ridges))]
        ds = xr.concat(parts, dim=pd.Index(kinds, name="kind"))
        for v in only:
            ds[STATIC_PREFIX + v] = self.static_ridge[v]
        ds.attrs.update(cr=self.cr, maps=json.dumps(list(self.maps)), weights=json.dumps(self.hemisphere_weights),
                        latest_path=str(self.latest_path), map_notes=json.dumps(list(self.map_notes)),
                        case_format=CASE_FORMAT)
        write_netcdf(ds, path)

    @classmethod
    def load(cls, path: Path) -> Case:
        """The case saved by :meth:`save`; InputError for a case file of another format (rebuild it)."""
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
        version = int(ds.attrs.get("case_format", 1))
        if version != CASE_FORMAT:
            raise InputError(path, f"saved case of format {version}, this version reads format {CASE_FORMAT} (the "
                                   "static ridge's kinematic_strength); rebuild it (pinn hindcast recomputes it)")
        only = [v for v in ds.data_vars if v.startswith(STATIC_PREFIX)]
        static = ds.drop_vars(only).sel(kind="static").drop_vars("kind")
        static = static.assign({v.removeprefix(STATIC_PREFIX): ds[v] for v in only})
        ridges = ds.drop_vars(only)
        kinds = [str(k) for k in ridges["kind"].values]
        leads = sorted(int(k.removeprefix(LEAD_KIND.format(""))) for k in kinds if k.startswith(LEAD_KIND.format("")))
        lead_ridges = {k: _lead_ridge(ridges.sel(kind=LEAD_KIND.format(k)).drop_vars("kind"), k) for k in leads}
        return cls(int(ds.attrs["cr"]), tuple(json.loads(ds.attrs["maps"])),
                   ridges.sel(kind="predicted").drop_vars("kind"), static, json.loads(ds.attrs["weights"]),
                   Path(ds.attrs["latest_path"]), tuple(json.loads(ds.attrs.get("map_notes", "[]"))),
                   lead_ridges=lead_ridges)


def _as_lead_one(ridge: xr.Dataset, lead_one: xr.Dataset) -> xr.Dataset:
    """A further lead's ridge with the lead-1 lead times, so it stacks with the lead-1 ridges in one saved file (its
    own lead times, a function of longitude and the lead, are put back on loading: :func:`_lead_ridge`)."""
    ridge = ridge.drop_vars("lead_days", errors="ignore")
    return ridge.assign_coords(lead_days=lead_one["lead_days"]) if "lead_days" in lead_one.coords else ridge


def _lead_ridge(ds: xr.Dataset, lead: int) -> xr.Dataset:
    """A saved lead-``lead`` ridge with its lead times (days, a function of longitude) put back."""
    return ds.drop_vars("lead_days", errors="ignore").assign_coords(lead_days=("lon", lead_days(ds["lon"].values,
                                                                                                lead=lead)))


@dataclass(frozen=True)
class CaseRun:
    """A :class:`Case` with what made it: the inputs, the start state, the trajectory and the predicted toroids."""

    case: Case
    inputs: ForecastInputs
    state: xr.Dataset  # the start state (PINN or classical), model units on (lat, lon)
    trajectory: xr.Dataset  # the integration (time in days)
    predicted: xr.Dataset  # predicted toroids in the model frame (pinn.emergence.ridges.predicted_toroids)
    drift_deg_per_day: float  # longitude drift of the model frame against the Carrington frame


def case_strength(config: Config, strength_kG: float | None = None) -> float:
    """The band strength of a case (kG): ``strength_kG``, or ``physics.band_strength_kG`` when None."""
    return config.physics.band_strength_kG if strength_kG is None else float(strength_kG)


def horizon_days(config: Config, weeks: float | None = None) -> float:
    """The integration horizon in days: ``weeks``, or ``forecast.weeks`` when None."""
    return DAYS_PER_WEEK * (config.forecast.weeks if weeks is None else float(weeks))


def minimum_weeks(fc: ForecastConfig, lead: int = 1) -> float:
    """Shortest horizon (weeks) whose integration reaches the last observation time of rotation N+``lead``."""
    return minimum_horizon_days(fc.output_nlon, lead=lead) / DAYS_PER_WEEK


def check_horizon(weeks: float, fc: ForecastConfig, lead: int = 1) -> None:
    """Refuse a horizon outside the domain of ``forecast.weeks`` or too short for rotation N+``lead``, before any
    work (the hindcast passes the largest of ``forecast.leads``).

    The density at Carrington longitude phi is read at phi's observation time in rotation N+lead
    (:func:`pinn.emergence.ridges.lead_days`), so the integration must reach the latest of them.
    """
    check_key(ForecastConfig, "weeks", weeks, "forecast.weeks")
    need = minimum_weeks(fc, lead)
    if weeks < need:
        shown = math.ceil(need * 100) / 100  # rounded up, so the value shown is accepted
        why = "" if lead == 1 else f", the largest of forecast.leads = {list(fc.leads)}"
        raise ConfigError(
            f"config key 'forecast.weeks' = {weeks:g}: shorter than the minimum {shown:.2f} weeks "
            f"({DAYS_PER_WEEK * need:.1f} d: when rotation N+{lead} sees its last longitude{why}, "
            f"forecast.output_nlon = {fc.output_nlon})")


def check_leads(fc: ForecastConfig) -> tuple[int, ...]:
    """``forecast.leads`` checked for the hindcast (its domain, and 1 first: the counts and the fit artifact are
    lead-1 products) and the horizon checked against the largest lead; returns the leads."""
    check_key(ForecastConfig, "leads", fc.leads, "forecast.leads")
    if not fc.leads or fc.leads[0] != 1:
        raise ConfigError(f"config key 'forecast.leads' = {list(fc.leads)}: must start with 1 (the counts and the fit "
                          "artifact are those of lead 1)")
    check_horizon(fc.weeks, fc, max(fc.leads))
    return tuple(fc.leads)


def finish_case(paths: Sequence[str | Path], inputs: ForecastInputs, state: xr.Dataset, trajectory: xr.Dataset,
                config: Config, leads: Sequence[int] = (1,)) -> CaseRun:
    """The :class:`CaseRun` of an integration: predicted toroids read at the observation times of N+1 (and of
    N+L for the further ``leads``)."""
    fc = config.forecast
    predicted = predicted_toroids(trajectory, fc.ridge_lat_limit_deg)
    drift = model_units(config.physics).frame_drift_deg_per_day()
    _, lon = density_grid(fc)
    ridge = toroids_at_observation(predicted, lon, drift)
    further = {k: toroids_at_observation(predicted, lon, drift, lead=k) for k in sorted(set(leads) - {1})}
    case = Case(int(inputs.crs[-1]), tuple(inputs.crs), ridge, static_ridge(inputs.toroids, lon),
                hemisphere_weights(inputs, config.emergence), Path(paths[-1]), inputs.map_notes, lead_ridges=further)
    return CaseRun(case, inputs, state, trajectory, predicted, float(drift))


def warn_unconverged(runs: Sequence[CaseRun]) -> None:
    """One :class:`TrainingWarning` for the PINN states of ``runs`` that ended far from convergence
    (:func:`pinn.training.convergence.unconverged_message`), naming the first and counting the rest."""
    messages = [m for r in runs if (m := unconverged_message(r.state.attrs, r.inputs.toroids)) is not None]
    if messages:
        more = f" (and {len(messages) - 1} more of {len(runs)} cases)" if len(messages) > 1 else ""
        warnings.warn(messages[0] + more, TrainingWarning, stacklevel=3)


def build_case(paths: Sequence[str | Path], config: Config, strength_kG: float | None = None,
               weeks: float | None = None, inputs: ForecastInputs | None = None, leads: Sequence[int] = (1,)) -> CaseRun:
    """The case of the consecutive maps ``paths`` (latest last; nothing after it is read); ``inputs``: the
    already prepared :func:`pinn.chain.inputs.prepare_inputs` of ``paths``; ``leads``: the rotations ahead whose
    ridges the case holds (the hindcast's ``forecast.leads``)."""
    inputs = prepare_inputs(paths, config) if inputs is None else inputs
    state = start_state(inputs.toroids, config, case_strength(config, strength_kG), inputs.series)
    trajectory = integrate_state(state, config, horizon_days(config, weeks))
    run = finish_case(paths, inputs, state, trajectory, config, leads)
    warn_unconverged([run])
    return run


def static_case(paths: Sequence[str | Path], config: Config) -> Case:
    """The case of ``paths`` without physics: no start state, no integration; the 'predicted' ridge is the
    current toroids (the ablation that isolates what the PINN and the dynamics add, and the cheap case of models
    that read only the maps and the ARISE record)."""
    inputs = prepare_inputs(paths, config)
    _, lon = density_grid(config.forecast)
    ridge = static_ridge(inputs.toroids, lon)
    further = {k: ridge.assign_coords(lead_days=("lon", lead_days(lon, lead=k))) for k in config.forecast.leads if k > 1}
    return Case(int(inputs.crs[-1]), tuple(inputs.crs), ridge, ridge, hemisphere_weights(inputs, config.emergence),
                Path(paths[-1]), inputs.map_notes, lead_ridges=further)


def build_cases(path_lists: Sequence[Sequence[str | Path]], config: Config, strength_kG: float | None = None,
                mesh=None, leads: Sequence[int] = (1,)) -> list[CaseRun]:
    """:func:`build_case` of many map runs with the heavy steps batched: the PINN trainings as one vmapped
    program and the integrations as one ensemble, both with the case axis sharded over ``mesh`` (default: a 1-D
    mesh of this process's local devices). Equal to :func:`build_case` per run up to float32 round-off."""
    mesh = case_mesh() if mesh is None else mesh
    inputs = [prepare_inputs(paths, config) for paths in path_lists]
    states = start_states([i.toroids for i in inputs], config, case_strength(config, strength_kG), mesh,
                          [i.series for i in inputs])
    trajectories = integrate_states(states, config, horizon_days(config), mesh)
    runs = [finish_case(paths, i, s, t, config, leads) for paths, i, s, t in zip(path_lists, inputs, states, trajectories)]
    warn_unconverged(runs)
    return runs
