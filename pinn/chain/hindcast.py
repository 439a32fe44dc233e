"""Hindcast: forecast every rotation N+1 from maps up to N only, score it against ARISE, and write the fit.

For each rotation N whose map exists and whose successor N+1 has ARs in the ARISE remove-repeat
table, the case of the consecutive maps ending at N is built exactly as the forecast builds it
(:func:`pinn.chain.case.build_case`; up to ``toroids.window`` maps, where the data have gaps the shorter run it
has, recorded as ``n_maps``). Every registered emergence model (:data:`pinn.emergence.models.MODELS`: the
ridge model on the predicted and on the current toroids, the baselines, the data-only methods and forecast, the
hybrids) scores the new ARs of N+1 (docs/science.md section 5), each with its parameters fitted on the
rotations scored *before* N+1 only (their unfitted values until ``min_fit_rotations`` earlier rotations exist).
Beside the per-AR and per-rotation scores the hindcast writes the count forecasts (counts.csv), the calibration
of per-cell probabilities (reliability.png) and the fit artifact for the rotation after the last one scored
(fit.json, what ``emergence.fit`` of a forecast names).

Nothing from N+1 or later is read when forecasting N: maps are selected by rotation number before any
file is opened, and the ARISE rows given to the models are those of rotations <= N. Each finished
case is saved under ``OUT/cases`` so an interrupted hindcast resumes where it stopped; a rerun on the same
``OUT`` rescores the saved cases without retraining.

Lead time (``forecast.leads``, default [1]): at lead L the case of N scores N+L, every model from maps and ARs up
to N only (:mod:`pinn.chain.leads`); per_ar.csv and per_rotation.csv carry a ``lead`` column and summary.json a
summary per lead. The counts, the calibration and the fit artifact are those of lead 1.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from pinn.chain import leads as ld
from pinn.chain.case import Case, build_case, build_cases, case_strength, check_leads
from pinn.chain.case_keys import CaseKeys, file_digest_or_none
from pinn.chain.plotting import plot_hindcast
from pinn.config.schema import Config
from pinn.data import arise
from pinn.data.observations import load_synoptic
from pinn.emergence import counts as ct
from pinn.emergence import data_only as do
from pinn.emergence import data_only_cache as dc
from pinn.emergence import fit_cache as fc
from pinn.emergence.fit_artifact import FitArtifact, write_fit
from pinn.emergence.map_channel import hemisphere_flux
from pinn.emergence.models import (
    CHOSEN,
    MODELS,
    REFERENCES,
    Example,
    ModelInputs,
    causal_model_choice,
    forecastable,
    map_fits,
)
from pinn.emergence.ridge_model import density_grid
from pinn.errors import InputError, InputWarning
from pinn.io import atomic_path, save_figure, write_json
from pinn.scoring import calibration as cal
from pinn.scoring import scores as ev

log = logging.getLogger(__name__)

MAP_PATTERN = re.compile(r"\.(\d{4})\.fits$")
PLOTTED = ("ridge", "band", "data_only", "hybrid", "hybrid_static")
CALIBRATED = ("band", "data_only", "ridge", "hybrid")  # models whose per-cell probabilities are calibrated


# ---------------------------------------------------------------------------------------------
# Data discovery


# ---------------------------------------------------------------------------------------------
# Data discovery


def find_maps(data_dir: str | Path) -> dict[int, Path]:
    """Synoptic maps under ``data_dir`` (recursively) by rotation, from names like ``*.2280.fits``."""
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(root, "data directory not found")
    maps: dict[int, Path] = {}
    for path in sorted(root.rglob("*.fits")):
        m = MAP_PATTERN.search(path.name)
        if m:
            cr = int(m.group(1))
            if cr in maps:
                raise InputError(path, f"second map of CR {cr} (also {maps[cr]})")
            maps[cr] = path
    if not maps:
        raise InputError(root, "no synoptic maps named *.<CR>.fits found")
    return maps


def find_arise(data_dir: str | Path) -> Path:
    """The ARISE remove-repeat table under ``data_dir`` (or the bundled one)."""
    hits = sorted(Path(data_dir).rglob("ARISE_database_remove_repeat_ARs.csv"))
    if hits:
        return hits[0]
    from pinn.data.bundled import arise_table

    return arise_table()


def trailing_run(maps: dict[int, Path], n: int, window: int) -> list[int]:
    """The consecutive rotations ending at ``n`` that have maps, at most ``window`` of them."""
    run = []
    cr = n
    while cr in maps and len(run) < window:
        run.append(cr)
        cr -= 1
    return run[::-1]


@dataclass
class MapPool:
    """The maps by rotation; each is read once when a window first needs it, and one that is unreadable or
    refused (:class:`InputError`) is dropped, so every window treats it as a gap. A skip records the file's
    SHA-256, so a resumed hindcast reads a map again once its file has changed (:meth:`restore`)."""

    maps: dict[int, Path]
    skipped: dict[int, dict] = dataclasses.field(default_factory=dict)  # CR -> file and error
    checked: set[int] = dataclasses.field(default_factory=set)

    def run(self, n: int, config: Config) -> list[int]:
        """:func:`trailing_run` of ``n`` over the maps that read (nothing after ``n`` is opened)."""
        from pinn.data import observations as obs

        run = trailing_run(self.maps, n, config.toroids.window)
        for cr in reversed(run):
            if cr in self.checked:
                continue
            self.checked.add(cr)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", InputWarning)  # repairs are reported when the chain reads it
                    obs.load_synoptic(self.maps[cr], config.observations)
            except InputError as exc:
                self.skip(cr, exc)
                return self.run(n, config)
        return run

    def skip(self, cr: int, exc: InputError) -> None:
        """Drop CR ``cr`` and record why, with one warning line."""
        path = self.maps.pop(cr)
        self.skipped[cr] = {"cr": cr, "file": str(path), "error": str(exc), "sha256": file_digest_or_none(path)}
        warnings.warn(f"skipped the map of CR {cr}: {exc} (windows use the remaining consecutive maps)",
                      InputWarning, stacklevel=2)

    def restore(self, records: dict[int, dict]) -> None:
        """Skips recorded by an earlier run (``skipped_maps.json``): a map stays skipped while its file is the
        one skipped (same path and SHA-256); a changed (fixed) file, or a record without a hash, is read again
        when a window needs it; a record whose file is gone is dropped."""
        for cr, rec in records.items():
            path = self.maps.get(cr)
            if path is None:
                continue
            if str(path) == rec.get("file") and rec.get("sha256") is not None and file_digest_or_none(path) == rec["sha256"]:
                self.skipped[cr] = rec
                self.maps.pop(cr)
            else:
                log.info("the map of CR %d changed since it was skipped; reading it again", cr)


# ---------------------------------------------------------------------------------------------
# One case: the forecast's own construction (pinn.chain.case)


def forecast_case(maps: dict[int, Path], n: int, config: Config, strength_kG: float | None) -> Case:
    """The case of rotation N from the maps of rotations <= N (trailing run; nothing after N is opened)."""
    crs = trailing_run(maps, n, config.toroids.window)
    return build_case([maps[c] for c in crs], config, strength_kG, leads=config.forecast.leads).case


def forecast_batch(maps: dict[int, Path], ns: Sequence[int], config: Config, strength_kG: float | None,
                   mesh=None) -> list[Case]:
    """:func:`forecast_case` of every rotation in ``ns`` with the heavy steps batched
    (:func:`pinn.chain.case.build_cases`); equal to the per-case path up to float32 round-off."""
    runs = [[maps[c] for c in trailing_run(maps, n, config.toroids.window)] for n in ns]
    return [r.case for r in build_cases(runs, config, strength_kG, mesh, leads=config.forecast.leads)]


# ---------------------------------------------------------------------------------------------
# Producing the cases: batched, resumable, shared between processes


def process_share(items: Sequence[int], index: int, count: int) -> list[int]:
    """The items process ``index`` of ``count`` takes: every ``count``-th, from position ``index``."""
    if not 0 <= index < count:
        raise ValueError(f"process index {index} not in [0, {count})")
    return list(items[index::count])


def batches(items: Sequence[int], size: int | None) -> list[list[int]]:
    """``items`` cut into consecutive batches of ``size`` (None: one batch of all)."""
    items = list(items)
    if not items:
        return []
    size = len(items) if size is None else size
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    return [items[i:i + size] for i in range(0, len(items), size)]


def case_path(cases_dir: Path, n: int) -> Path:
    """Where the finished case of rotation N is saved."""
    return cases_dir / f"cr{n}.nc"


def produce_cases(maps: dict[int, Path], ns: Sequence[int], config: Config, strength_kG: float | None,
                  cases_dir: Path, batch_size: int | None = None, progress: bool = True,
                  process: tuple[int, int] = (0, 1)) -> dict[int, Case]:
    """Forecast this process's share of ``ns``, batch after batch, saving each case as its batch ends.

    ``batch_size`` is the number of cases per batch (None: all of the share in one batch; 1: the per-case
    path, :func:`forecast_case`, exactly as before batching). Cases already saved in ``cases_dir`` are
    loaded, not recomputed, so an interrupted run resumes at the batch it stopped in. ``process`` is
    (index, count) of this process among those sharing the work (:func:`process_share`). The progress bar
    counts cases of the share (done, rate, time left). Returns the share's cases by rotation.
    """
    from tqdm import tqdm

    share = process_share(ns, *process)
    keys = CaseKeys(cases_dir, maps, config, case_strength(config, strength_kG))
    stale = {n: why for n in share if case_path(cases_dir, n).exists() and (why := keys.mismatch(n)) is not None}
    if stale:
        n, why = next(iter(stale.items()))
        warnings.warn(f"{len(stale)} saved case(s) in {cases_dir} were made from another config or other map files "
                      f"(CR {n}: {why}); recomputing them", InputWarning, stacklevel=2)
    done = {n: Case.load(case_path(cases_dir, n)) for n in share if case_path(cases_dir, n).exists()
            and n not in stale}
    todo = [n for n in share if n not in done]
    with tqdm(total=len(share), initial=len(done), desc="hindcast", unit="case", disable=not progress) as bar:
        for batch in batches(todo, batch_size):
            if batch_size == 1:
                cases = [forecast_case(maps, batch[0], config, strength_kG)]
            else:
                cases = forecast_batch(maps, batch, config, strength_kG)
            for case in cases:
                case.save(case_path(cases_dir, case.cr))
                keys.write(case.cr)  # after the case: a kill in between leaves a case without key (recomputed)
                done[case.cr] = case
            bar.update(len(cases))
    return done


def wait_for_cases(cases_dir: Path, ns: Sequence[int], timeout_s: float, poll_s: float = 2.0) -> None:
    """Wait until every case of ``ns`` is saved (by other processes); PinnError after ``timeout_s``."""
    import time

    from pinn.errors import PinnError

    t0 = time.monotonic()
    while missing := [n for n in ns if not case_path(cases_dir, n).exists()]:
        if time.monotonic() - t0 > timeout_s:
            raise PinnError(f"cases of CR {missing} not written by the other processes after {timeout_s:.0f} s")
        time.sleep(poll_s)


def process_position() -> tuple[int, int]:
    """(index, count) of this process in a ``jax.distributed`` run; (0, 1) in a single process."""
    import jax

    return jax.process_index(), jax.process_count()


# ---------------------------------------------------------------------------------------------
# Scoring: every registered model, causally fitted


def repair_columns(notes: Sequence[dict]) -> dict:
    """per_rotation.csv columns of what the reader did to the maps of a case: header repairs, masked pixels."""
    repairs = "; ".join(f"CR {m['cr']}: {m['header_repairs']}" for m in notes if m.get("header_repairs"))
    return {"header_repairs": repairs, "masked_pixels": int(sum(m.get("masked_implausible_pixels", 0) for m in notes))}


def _ridge_error(ridge: xr.Dataset, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """|AR latitude - predicted toroid centre| in the AR's hemisphere at the AR's longitude (deg)."""
    grid_lon = ridge["lon"].values
    out = []
    for la, lo in zip(lat, lon):
        hemi = "north" if la >= 0 else "south"
        centre = np.interp(np.mod(lo, 360.0), grid_lon, ridge["ridge_lat"].sel(hemisphere=hemi).values, period=360.0)
        out.append(abs(la - centre))
    return np.asarray(out)


def case_model_inputs(case: Case, table: pd.DataFrame, record: do.DataOnlyResult, config: Config) -> ModelInputs:
    """What the models may know when forecasting the case's target N+lead: ARISE rows up to N, the causal data-only
    prior and methods of ``record`` (made at the case's lead), the latest map (read on demand)."""
    lat, _ = density_grid(config.forecast)
    lon = case.ridge["lon"].values
    target = case.target

    @functools.cache
    def reference(method: str) -> xr.DataArray:  # cached: the prior is also a model of its own
        return do.method_density(table, record, target, method, lat, lon, case.lead)

    @functools.cache
    def latest_br() -> xr.DataArray:  # read once per case, whichever models need it (persistence, map channel)
        return load_synoptic(case.latest_path, config.observations)["Br"]

    return ModelInputs(target, lat, lon, case.ridge, case.static_ridge, case.hemisphere_weights,
                       table[table["cr"] <= case.cr], reference(config.emergence.prior), reference, latest_br, case.lead)


def causal_params(model, examples: Sequence[Example], config: Config, min_fit_rotations: int, lead: int = 1,
                  cache: bool = True, cache_dir: str | Path | None = None) -> list:
    """Per example, the model's parameters fitted on the examples whose target was scored by the time this one is
    forecast ``lead`` rotations ahead (targets <= this target - lead; unfitted until ``min_fit_rotations`` of them
    exist). ``cache``: load the fits from / save them to the content-hash cache (:mod:`pinn.emergence.fit_cache`,
    folder ``cache_dir``, None: ``~/.cache/pinn/fits``)."""
    subsets = [[j for j, x in enumerate(examples) if x.inputs.target <= e.inputs.target - lead] for e in examples]
    fitted = [model.fitted and len(s) >= min_fit_rotations for s in subsets]
    todo = [s for s, f in zip(subsets, fitted) if f]
    fit_subsets = getattr(model, "fit_subsets", None)  # optional: many fits sharing per-case work

    def compute() -> list:
        return (fit_subsets(examples, todo, config) if fit_subsets is not None
                else map_fits(lambda s: model.fit([examples[j] for j in s], config), todo))

    fits = iter(fc.cached_fits(model, examples, todo, config, compute, cache_dir) if cache else compute())
    return [next(fits) if f else model.unfitted(config) for f in fitted]


@dataclass(frozen=True)
class HindcastResult:
    per_ar: pd.DataFrame
    per_rotation: pd.DataFrame
    summary: dict
    counts: pd.DataFrame | None = None  # per rotation: observed counts and count forecasts (pinn.emergence.counts)
    reliability: dict[str, pd.DataFrame] | None = None  # per calibrated model: reliability table
    fit: FitArtifact | None = None  # the fit for the rotation after the last one scored


def data_only_record(table: pd.DataFrame, lat: np.ndarray, lon: np.ndarray, last: int, first: int | None = None,
                     cache: bool = True, cache_dir: str | Path | None = None, lead: int = 1) -> do.DataOnlyResult:
    """The causal data-only record (:func:`pinn.emergence.data_only.score_methods`, ``lead`` rotations ahead) of the
    targets ``first..last`` (None: from the start of the ARISE table) on the density grid ``lat``, ``lon``
    (degrees); what :func:`rescore` computes when not given one. ``cache``: load it from / save it to the
    content-hash cache (:mod:`pinn.emergence.data_only_cache`, folder ``cache_dir``, None:
    ``~/.cache/pinn/data_only``), keyed on the table, the grid, the targets, the lead and the code that scores them."""
    rows, targets = table[table["cr"] <= last], do.default_targets(table, first, last, lead)
    if cache:
        return dc.cached_score_methods(rows, lat, lon, targets, cache_dir, lead)
    return do.score_methods(rows, lat, lon, targets, lead)


def rescore(cases: Sequence[Case], table: pd.DataFrame, config: Config, min_fit_rotations: int = 5,
            data_only_from: int | None = None, data_only=None, models: Sequence[str] | None = None,
            crs: Sequence[int] | None = None) -> HindcastResult:
    """Score saved cases (no retraining) at every lead of ``forecast.leads`` with every registered model (or
    ``models``), counts and calibration (lead 1).

    At lead L the case of N scores N+L if it has ARs (and is in ``crs``, None: any), each model from maps and ARs
    up to N (:mod:`pinn.chain.leads`). ``data_only``: a precomputed :func:`data_only_record` of the lead-1 targets
    (or a mapping lead -> record), to save recomputing it; see :func:`rescore_lead` for the rest.
    """
    leads = tuple(config.forecast.leads)
    records = data_only if isinstance(data_only, dict) else {1: data_only}
    results = {}
    for lead in leads:
        views = ld.lead_cases(cases, lead, lambda cr: len(arise.ars_of(table, cr)) > 0, crs)
        if views:
            results[lead] = rescore_lead(views, table, config, min_fit_rotations, data_only_from, records.get(lead), models)
    if 1 not in results:
        raise ValueError("no case scores a rotation with ARs at lead 1")
    first = results[1]
    summary = first.summary | {"leads": ld.lead_summary({k: r.summary for k, r in results.items()})}
    return dataclasses.replace(first, per_ar=ld.join_tables({k: r.per_ar for k, r in results.items()}),
                               per_rotation=ld.join_tables({k: r.per_rotation for k, r in results.items()}),
                               summary=summary)


def rescore_lead(cases: Sequence[Case], table: pd.DataFrame, config: Config, min_fit_rotations: int = 5,
                 data_only_from: int | None = None, data_only=None, models: Sequence[str] | None = None) -> HindcastResult:
    """Score the cases of one lead L (:meth:`Case.at_lead` views, all of the same lead) with every registered model
    (or ``models``); at lead 1 also the counts, calibration and fit artifact.

    Every fitted parameter used for N+L (emergence parameters, data-only choices, hybrid betas) comes from
    rotations whose target was scored by N (targets <= N). ``data_only_from``: first target of the data-only causal
    record (None: the whole ARISE table, as in ``experiments/baselines``); ``data_only``: a precomputed
    :func:`data_only_record` of the same targets and lead, to save recomputing it.
    """
    cases = sorted(cases, key=lambda c: c.cr)
    lead = cases[0].lead
    if any(c.lead != lead for c in cases):
        raise ValueError("rescore_lead: cases of several leads")
    names = tuple(models) if models is not None else MODELS.names()
    lat, _ = density_grid(config.forecast)
    lon = cases[0].ridge["lon"].values
    record = data_only or data_only_record(table, lat, lon, max(c.target for c in cases), data_only_from, lead=lead)
    inputs = [case_model_inputs(c, table, record, config) for c in cases]
    truths = [arise.ars_of(table, c.target) for c in cases]
    per_ar = [pd.DataFrame({"cr": c.target, "lat": t["lat"].values, "lon": t["lon"].values}) for c, t in zip(cases, truths)]
    per_rot = [{"cr": c.target, "n_ars": len(t), "n_maps": len(c.maps), **repair_columns(c.map_notes)}
               for c, t in zip(cases, truths)]
    rates = [ct.ew_rates(table, c.cr + 1) for c in cases]  # the count rate known at N (lead 1: of the target)
    observed = [cal.cell_observed(t["lat"], t["lon"]) for t in truths]
    probabilities: dict[str, list[np.ndarray]] = {}
    params_of: dict[str, list] = {}
    examples_of: dict[str, list[Example]] = {}
    for name in names:
        model = MODELS.get(name)
        prepared = [model.prepare(i) for i in inputs]
        examples_of[name] = [Example(i, p, t["lat"].values, t["lon"].values) for i, p, t in zip(inputs, prepared, truths)]
    # every model's causal fits, the models side by side (a model's own fits run in sequence: pinn.emergence.models)
    own = [n for n in names if getattr(MODELS.get(n), "params_from", None) not in names]
    params_of.update(zip(own, map_fits(lambda n: causal_params(MODELS.get(n), examples_of[n], config, min_fit_rotations,
                                                               lead), own)))
    for name in names:
        model = MODELS.get(name)
        examples = examples_of[name]
        shared = getattr(model, "params_from", None)
        params = params_of[name] if name in own else params_of[shared]
        params_of[name] = params
        for k, (e, p) in enumerate(zip(examples, params)):
            density = model.density(e.inputs, e.prepared, p)
            per_ar[k][f"bits_{name}"] = ev.log2_likelihood(density, e.ar_lat, e.ar_lon)
            per_rot[k][f"auc_{name}"] = ev.roc_auc(density, e.ar_lat, e.ar_lon)
            per_rot[k][f"bits_{name}"] = float(per_ar[k][f"bits_{name}"].mean())
            per_rot[k].update(model.columns(p) if shared is None else {})
            if name in CALIBRATED:
                probabilities.setdefault(name, []).append(cal.cell_probability(density, rates[k]))
    for k, c in enumerate(cases):
        per_ar[k]["toroid_lat_err_predicted"] = _ridge_error(c.ridge, per_ar[k]["lat"], per_ar[k]["lon"])
        per_ar[k]["toroid_lat_err_static"] = _ridge_error(c.static_ridge, per_ar[k]["lat"], per_ar[k]["lon"])
        per_rot[k]["choice_data_only"] = record.choices.loc[c.target, "choice_data_only"]
        if "data_only" in names:
            ref = record.bits[record.bits["cr"] == c.target]
            if len(ref) != len(per_ar[k]) or not np.allclose(ref["data_only"].values, per_ar[k]["bits_data_only"].values,
                                                            atol=1e-6):
                raise RuntimeError(f"data-only density of CR {c.target} does not reproduce its causal scores")
    per_ar_df = pd.concat(per_ar, ignore_index=True)
    per_rot_df = pd.DataFrame(per_rot)
    summary = summarise(per_ar_df, per_rot_df, names)
    choice = model_choice(per_ar_df, names, lead, min_fit_rotations, config)
    if choice is not None:
        per_rot_df["chosen_model"] = per_rot_df["cr"].map(choice.pop("per_target"))
        summary["model_choice"] = choice
    if lead != 1:  # the counts, calibration and fit artifact are lead-1 products
        summary.update({"n_cases": len(cases), "lead": lead})
        return HindcastResult(per_ar_df, per_rot_df, summary)
    fluxes = [hemisphere_flux(i.latest_br(), config.toroids.threshold_G, config.toroids.lat_limit_deg) for i in inputs]
    counts = ct.count_record([(c.target, c.ridge) for c in cases], table, min_fit_rotations, fluxes)
    calibration, reliability = cal.calibration_summary(probabilities, observed) if probabilities else ({}, {})
    fit = final_fit(cases, examples_of, record, config, min_fit_rotations,
                    None if choice is None else choice["next"])
    summary.update({"n_cases": len(cases), "min_fit_rotations": min_fit_rotations,
                    "maps_per_case": {str(c.cr): len(c.maps) for c in cases}, "data_only_from": data_only_from,
                    "default_model": default_model(config, choice),
                    "default_model_setting": config.emergence.model,
                    "models": {n: MODELS.get(n).description for n in names},
                    "counts": ct.count_summary(counts), "calibration": calibration,
                    "fit": dataclasses.asdict(fit) | {"fitted_on": list(fit.fitted_on)}})
    return HindcastResult(per_ar_df, per_rot_df, summary, counts, reliability, fit)


def default_model(config: Config, choice: dict | None) -> str:
    """The model a forecast of the rotation after the hindcast uses: ``emergence.model``, or with ``chosen`` the
    causal choice for that rotation (what the fit artifact records)."""
    if config.emergence.model != CHOSEN:
        return config.emergence.model
    return choice["next"] if choice is not None else config.emergence.model


def model_choice(per_ar: pd.DataFrame, names: Sequence[str], lead: int, min_fit_rotations: int, config: Config
                 ) -> dict | None:
    """The causal choice among the scored models a forecast can make (:func:`pinn.emergence.models.causal_model_choice`;
    the configured model, or the data-only forecast, until ``min_fit_rotations`` are scored): per target, the mean
    bits of following it, and the choice for the rotation after the last one. None with fewer than two candidates."""
    candidates = forecastable(names)
    if len(candidates) < 2:
        return None
    default = config.emergence.model if config.emergence.model in candidates else (
        "data_only" if "data_only" in candidates else candidates[0])
    following, per_target, after = causal_model_choice(per_ar, candidates, lead, min_fit_rotations, default)
    return {"candidates": candidates, "rule": "the candidate with the most bits over the targets <= target - lead",
            "per_target": per_target.to_dict(), "next": after, "mean_bits_following_choice": float(following.mean()),
            "counts": per_target.value_counts().to_dict()}


def final_fit(cases: Sequence[Case], examples_of: dict[str, list[Example]], record: do.DataOnlyResult, config: Config,
              min_fit_rotations: int, chosen_model: str | None = None) -> FitArtifact:
    """The fit artifact for the rotation after the last one scored: every fitted model on all scored rotations
    (``examples_of``: each scored model's prepared examples, as :func:`rescore` made them), and the data-only
    candidate of the causal choice for the last scored rotation (made on the rotations before it, so causal for
    every later one), with the data-only stack's components and weights for that rotation."""
    last = cases[-1].target
    method = record.choices.loc[last, "choice_data_only"]
    candidate = method if method == do.BAND else record.choices.loc[last, f"choice_{method}"]
    models = {}
    for name, examples in examples_of.items():
        model = MODELS.get(name)
        if not model.fitted or getattr(model, "params_from", None):
            continue
        params = (fc.cached_fits(model, examples, [list(range(len(examples)))], config,
                                 lambda m=model, ex=examples: [m.fit(ex, config)])[0]
                  if len(examples) >= min_fit_rotations else model.unfitted(config))
        models[name] = model.to_json(params)
    return FitArtifact(last + 1, tuple(c.target for c in cases), str(candidate), models,
                       data_only_stack=tuple(do.stack_components(record, last, cases[-1].lead)), chosen_model=chosen_model)


def summarise(per_ar: pd.DataFrame, per_rot: pd.DataFrame, names: Sequence[str]) -> dict:
    """Mean bits per AR of every model, AUCs, and paired bootstrap intervals of each model minus the references."""
    out: dict = {"n_ars": len(per_ar), "n_rotations": int(per_ar["cr"].nunique()),
                 "mean_bits": {s: float(per_ar[f"bits_{s}"].mean()) for s in names},
                 "mean_auc": {s: float(per_rot[f"auc_{s}"].mean()) for s in names},
                 "toroid_lat_err_deg": {"predicted": float(per_ar["toroid_lat_err_predicted"].mean()),
                                        "static": float(per_ar["toroid_lat_err_static"].mean())}}
    pairs = [("ridge", b) for b in ("band", "persistence", "uniform", "ridge_static")] + [("ridge_static", "band")]
    pairs += [(m, r) for m in names for r in REFERENCES if m != r]
    diffs = {}
    for m, b in dict.fromkeys(pairs):
        if m in names and b in names:
            iv = ev.paired_bootstrap(per_ar[f"bits_{m}"] - per_ar[f"bits_{b}"], per_ar["cr"].values)
            diffs[f"{m}_minus_{b}"] = dataclasses.asdict(iv)
    out["differences_bits"] = diffs
    return out


def _write_skipped(path: Path, skipped: dict[int, dict]) -> None:
    """Keep the skipped maps next to the finished cases, so a resumed hindcast reports them too."""
    write_json(path, {str(k): v for k, v in sorted(skipped.items())})


def write_results(result: HindcastResult, out: Path) -> None:
    """Write per_ar.csv, per_rotation.csv, counts.csv, summary.json, fit.json, hindcast.png and reliability.png
    into ``out`` (each atomically)."""
    tables = [("per_ar.csv", result.per_ar), ("per_rotation.csv", result.per_rotation)]
    if result.counts is not None:
        tables.append(("counts.csv", result.counts))
    for name, df in tables:
        with atomic_path(out / name) as tmp:
            df.to_csv(tmp, index=False, float_format="%.6g")
    if result.fit is not None:
        write_fit(out / "fit.json", result.fit)
    write_json(out / "summary.json", result.summary)
    rot = result.per_rotation
    lead1 = dataclasses.replace(result, per_rotation=rot[rot["lead"] == 1] if "lead" in rot else rot)  # the figure: lead 1
    save_figure(plot_hindcast(lead1, [s for s in PLOTTED if f"bits_{s}" in result.per_rotation]), out / "hindcast.png",
                dpi=110, bbox_inches="tight")
    if result.reliability:
        save_figure(cal.plot_reliability(result.reliability), out / "reliability.png", dpi=110)


# ---------------------------------------------------------------------------------------------
# The whole hindcast


@dataclass(frozen=True)
class HindcastCases:
    """The cases a hindcast scores, with what it records about them (:func:`hindcast_cases`)."""

    cases: list[Case] | None  # by N; None in processes other than 0 of a jax.distributed run
    table: pd.DataFrame  # the ARISE remove-repeat table
    arise_path: Path
    skipped: dict[int, dict]  # maps skipped as unreadable, by CR


def hindcast_cases(data_dir: str | Path, config: Config, out_dir: str | Path, crs: Sequence[int] | None = None,
                   strength_kG: float | None = None, progress: bool = True, batch_size: int | None = None,
                   wait_s: float = 86400.0) -> HindcastCases:
    """The cases of every eligible rotation N (N+L with ARs in ``crs`` at a lead L of ``forecast.leads``), produced
    by :func:`produce_cases` into ``out_dir/cases`` (saved ones loaded when their keys match: resumable), without
    scoring them; see :func:`run_hindcast` for the arguments."""
    leads = check_leads(config.forecast)  # before any work: the horizon must reach N+max(leads)
    pool = MapPool(find_maps(data_dir))
    maps = pool.maps
    arise_path = find_arise(data_dir)
    table = arise.load_arise(arise_path)
    eligible = ld.eligible_rotations(maps, lambda cr: len(arise.ars_of(table, cr)) > 0, leads, crs)
    if not eligible:
        raise InputError(data_dir, "no rotation N with a map and ARISE ARs in N+1 (empty ARISE selection)")
    out = Path(out_dir)
    cases_dir = out / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    cfg = config if config.forecast.cache_dir is None else dataclasses.replace(
        config, forecast=dataclasses.replace(config.forecast, cache_dir=str(out / "pinn_cache")))

    skipped_path = cases_dir / "skipped_maps.json"
    if skipped_path.exists():  # maps skipped before a resume stay skipped, unless their file changed
        pool.restore({int(k): v for k, v in json.loads(skipped_path.read_text()).items()})
    # every map a window needs is read once here; an unreadable one becomes a gap (and N itself, no case);
    # a saved case made from the same config and map files needs no reading
    keys = CaseKeys(cases_dir, maps, cfg, case_strength(cfg, strength_kG))
    eligible = [n for n in eligible if (case_path(cases_dir, n).exists() and keys.mismatch(n) is None)
                or pool.run(n, cfg)]
    _write_skipped(skipped_path, pool.skipped)
    if not eligible:
        raise InputError(data_dir, "no rotation could be forecast: every selected map was skipped")

    index, count = process_position()
    if count > 1 and batch_size == 1:
        raise InputError(data_dir, "the per-case path (batch size 1) runs in one process; use batches with "
                                   "jax.distributed")
    produced = produce_cases(maps, eligible, cfg, strength_kG, cases_dir, batch_size, progress, (index, count))
    if index != 0:
        return HindcastCases(None, table, arise_path, pool.skipped)  # process 0 scores once every share is saved
    wait_for_cases(cases_dir, eligible, wait_s)
    cases = [produced[n] if n in produced else Case.load(case_path(cases_dir, n)) for n in eligible]
    return HindcastCases(cases, table, arise_path, pool.skipped)


def run_hindcast(
    data_dir: str | Path,
    config: Config,
    out_dir: str | Path,
    crs: Sequence[int] | None = None,
    strength_kG: float | None = None,
    min_fit_rotations: int = 5,
    progress: bool = True,
    data_only_from: int | None = None,
    batch_size: int | None = None,
    wait_s: float = 86400.0,
    data_only=None,
) -> HindcastResult | None:
    """Forecast and score every eligible rotation N (N+L scored at each lead L of ``forecast.leads``; targets in
    ``crs``, default: all available).

    Cases are produced by :func:`produce_cases`, ``batch_size`` cases per batched program (None: all in
    one batch; 1: one case after another, the per-case path). Multi-host: started in every process of a
    ``jax.distributed`` run (after ``jax.distributed.initialize``) with the same arguments and a shared
    ``out_dir``, each process forecasts its share of the cases (:func:`process_share` by
    ``jax.process_index()`` / ``jax.process_count()``) on its local devices and saves them under
    ``out_dir/cases``; process 0 waits (up to ``wait_s`` seconds) for all of them, scores and returns
    the result, the others return None. ``data_only``: a precomputed :func:`data_only_record` of the same
    targets (it is the slow part of scoring; the record does not depend on the forecast's config).
    """
    made = hindcast_cases(data_dir, config, out_dir, crs, strength_kG, progress, batch_size, wait_s)
    if made.cases is None:
        return None  # process 0 scores once every share is saved
    cases, table, arise_path, skipped, out = made.cases, made.table, made.arise_path, made.skipped, Path(out_dir)

    result = rescore(cases, table, config, min_fit_rotations, data_only_from=data_only_from, data_only=data_only, crs=crs)
    table_record = arise.table_record(arise_path)  # which truth scored it (path, sha256)
    result.fit.made_by.update({"data_dir": str(data_dir), "arise_sha256": table_record["sha256"],
                               "start": config.forecast.start, "adam_steps": str(config.train.adam_steps)})
    result.summary.update({
        "data_dir": str(data_dir),
        "arise_table": table_record,
        "strength_kG": case_strength(config, strength_kG),
        "start": config.forecast.start,
        "skipped_maps": [skipped[c] for c in sorted(skipped)],
        "map_repairs": {str(c.cr): list(c.map_notes) for c in cases
                        if any(m["header_repairs"] or m["masked_implausible_pixels"] for m in c.map_notes)},
    })
    result.summary["fit"]["made_by"] = dict(result.fit.made_by)
    write_results(result, out)
    return result
