"""Hindcast: forecast every rotation N+1 from maps up to N only, and score it against ARISE.

For each rotation N whose map exists and whose successor N+1 has ARs in the ARISE remove-repeat
table, the chain of :mod:`pinn.chain.forecast` runs on the consecutive maps ending at N (up to
``toroids.window``; where the data have gaps, the shorter run it has, recorded as ``n_maps``). The new
ARs of N+1 are scored (docs/science.md section 5) by:

* ``model``: the emergence density of the forecast, with its parameters (floor, width scale, strength
  power) fitted by maximum likelihood on the rotations scored *before* N+1 only (defaults from the
  config until ``min_fit_rotations`` earlier cases exist);
* ``static``: the same emergence model on the *current* toroids (no PINN, no integration), an ablation
  that shows what the physics adds;
* baselines ``uniform``, ``persistence`` (the map of N, smoothed |Br|) and ``band`` (Gaussian in
  latitude at the mean/std of the ARs of N-4..N, per hemisphere).

Nothing from N+1 or later is read when forecasting N: maps are selected by rotation number before any
file is opened, and the ARISE rows given to the baselines are those of rotations <= N. Each finished
case is saved under ``OUT/cases`` so an interrupted hindcast resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
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

from pinn.chain.case_keys import CaseKeys, file_digest_or_none
from pinn.chain.forecast import (
    ForecastInputs,
    check_horizon,
    hemisphere_weights,
    integrate_state,
    integrate_states,
    prepare_inputs,
)
from pinn.chain.starts import start_state, start_states
from pinn.config.schema import Config
from pinn.data import arise
from pinn.emergence import density as dn
from pinn.emergence.hybrid import static_ridge
from pinn.emergence.ridge_model import EmergenceParams, density_grid, emergence_density, fit_emergence_params
from pinn.emergence.ridges import predicted_toroids, toroids_at_observation
from pinn.errors import InputError, InputWarning
from pinn.scoring import scores as ev

log = logging.getLogger(__name__)

MAP_PATTERN = re.compile(r"\.(\d{4})\.fits$")
SCORES = ("model", "static", "uniform", "persistence", "band")
PLOTTED = ("model", "band", "data_only", "hybrid", "hybrid_static")


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
# One case


@dataclass(frozen=True)
class Case:
    """What is kept of a forecast of N+1 from maps up to N (enough to re-score with other parameters)."""

    cr: int  # N, the latest rotation used
    maps: tuple[int, ...]
    ridge: xr.Dataset  # predicted toroids at the observation times of N+1 (pinn.emergence.ridges.toroids_at_observation)
    static_ridge: xr.Dataset  # the current toroids, unchanged, in the same form
    hemisphere_weights: dict
    latest_path: Path
    map_notes: tuple[dict, ...] = ()  # per map used: header repairs and masked pixels (pinn.chain.forecast.map_notes)

    def save(self, path: Path) -> None:
        from pinn.io import write_netcdf

        ds = xr.concat([self.ridge, self.static_ridge], dim=pd.Index(["predicted", "static"], name="kind"))
        ds.attrs.update(cr=self.cr, maps=json.dumps(list(self.maps)), weights=json.dumps(self.hemisphere_weights),
                        latest_path=str(self.latest_path), map_notes=json.dumps(list(self.map_notes)))
        write_netcdf(ds, path)

    @classmethod
    def load(cls, path: Path) -> Case:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
        return cls(int(ds.attrs["cr"]), tuple(json.loads(ds.attrs["maps"])), ds.sel(kind="predicted").drop_vars("kind"),
                   ds.sel(kind="static").drop_vars("kind"), json.loads(ds.attrs["weights"]), Path(ds.attrs["latest_path"]),
                   tuple(json.loads(ds.attrs.get("map_notes", "[]"))))


@dataclass(frozen=True)
class CaseInputs:
    """What a case of rotation N starts from: the maps used and the forecast inputs built from them."""

    n: int
    crs: tuple[int, ...]
    inputs: ForecastInputs  # its map_notes: header repairs and masked pixels of the maps used


def case_inputs(maps: dict[int, Path], n: int, config: Config) -> CaseInputs:
    """Load the maps of rotations <= N (trailing run) and fit the toroids causally."""
    crs = trailing_run(maps, n, config.toroids.window)
    paths = [maps[c] for c in crs]  # selected by number: nothing after N is opened
    return CaseInputs(n, tuple(crs), prepare_inputs(paths, config))


def finish_case(maps: dict[int, Path], ci: CaseInputs, traj: xr.Dataset, config: Config) -> Case:
    """The Case of a forecast integration: predicted toroids at the observation times of N+1."""
    from pinn.config.physics import model_units

    pred = predicted_toroids(traj, config.forecast.ridge_lat_limit_deg)
    drift = model_units(config.physics).frame_drift_deg_per_day()
    _, lon = density_grid(config.forecast)
    ridge = toroids_at_observation(pred, lon, drift)
    weights = hemisphere_weights(ci.inputs, config.forecast)
    return Case(ci.n, ci.crs, ridge, static_ridge(ci.inputs.toroids, lon), weights, maps[ci.n],
                ci.inputs.map_notes)


def _strength(config: Config, strength_kG: float | None) -> float:
    return config.physics.band_strength_kG if strength_kG is None else float(strength_kG)


def forecast_case(maps: dict[int, Path], n: int, config: Config, strength_kG: float | None) -> Case:
    """Run the chain for rotation N using only the maps of rotations <= N."""
    ci = case_inputs(maps, n, config)
    state = start_state(ci.inputs.toroids, config, _strength(config, strength_kG))
    traj = integrate_state(state, config, days=7.0 * config.forecast.weeks)
    return finish_case(maps, ci, traj, config)


def forecast_batch(maps: dict[int, Path], ns: Sequence[int], config: Config, strength_kG: float | None,
                   mesh=None) -> list[Case]:
    """:func:`forecast_case` of every rotation in ``ns`` with the heavy steps batched.

    Inputs and toroids per case, then the PINN trainings of all cases as one vmapped program
    (:func:`pinn.training.state_cache.pinn_states`) and their integrations as one ensemble integration
    (:func:`pinn.chain.forecast.integrate_states`), both with the case axis sharded over ``mesh`` (default: a
    1-D mesh of this process's local devices), then the ridges per case. Equal to the per-case path up
    to float32 round-off.
    """
    from pinn.training import case_mesh

    mesh = case_mesh() if mesh is None else mesh
    cis = [case_inputs(maps, n, config) for n in ns]
    states = start_states([c.inputs.toroids for c in cis], config, _strength(config, strength_kG), mesh)
    trajs = integrate_states(states, config, 7.0 * config.forecast.weeks, mesh)
    return [finish_case(maps, ci, traj, config) for ci, traj in zip(cis, trajs)]


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
    keys = CaseKeys(cases_dir, maps, config, _strength(config, strength_kG))
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
# Scoring


def score_case(case: Case, truth: pd.DataFrame, history: pd.DataFrame, params: EmergenceParams,
               config: Config, extra: dict[str, xr.DataArray] | None = None) -> tuple[pd.DataFrame, dict]:
    """Per-AR scores (bits) of every model and baseline for the new ARs of rotation N+1.

    ``extra`` adds densities on the same grid (data-only baselines, hybrids) scored as ``bits_<name>``.
    """
    from pinn.data.observations import load_synoptic

    lat, _ = density_grid(config.forecast)
    densities = {
        "model": emergence_density(case.ridge, lat, case.hemisphere_weights, params),
        "static": emergence_density(case.static_ridge, lat, case.hemisphere_weights, params),
    }
    lon = densities["model"]["lon"].values
    densities["uniform"] = dn.uniform_density(lat, lon)
    latest = load_synoptic(case.latest_path, config.observations)["Br"]
    densities["persistence"] = dn.persistence_density(latest)
    densities["band"] = dn.band_density(history, lat, lon)
    densities.update(extra or {})
    rows = pd.DataFrame({"cr": case.cr + 1, "lat": truth["lat"].values, "lon": truth["lon"].values})
    for name, d in densities.items():
        rows[f"bits_{name}"] = ev.log2_likelihood(d, rows["lat"], rows["lon"])
    rows["toroid_lat_err_model"] = _ridge_error(case.ridge, rows)
    rows["toroid_lat_err_static"] = _ridge_error(case.static_ridge, rows)
    per_rot = {"cr": case.cr + 1, "n_ars": len(rows), "n_maps": len(case.maps), **repair_columns(case.map_notes)}
    for name, d in densities.items():
        per_rot[f"auc_{name}"] = ev.roc_auc(d, rows["lat"], rows["lon"])
        per_rot[f"bits_{name}"] = float(rows[f"bits_{name}"].mean())
    return rows, per_rot


def repair_columns(notes: Sequence[dict]) -> dict:
    """per_rotation.csv columns of what the reader did to the maps of a case: header repairs, masked pixels."""
    repairs = "; ".join(f"CR {m['cr']}: {m['header_repairs']}" for m in notes if m.get("header_repairs"))
    return {"header_repairs": repairs, "masked_pixels": int(sum(m.get("masked_implausible_pixels", 0) for m in notes))}


def _ridge_error(ridge: xr.Dataset, rows: pd.DataFrame) -> np.ndarray:
    """|AR latitude - predicted toroid centre| in the AR's hemisphere at the AR's longitude (deg)."""
    lon = ridge["lon"].values
    out = []
    for la, lo in zip(rows["lat"], rows["lon"]):
        hemi = "north" if la >= 0 else "south"
        centre = np.interp(np.mod(lo, 360.0), lon, ridge["ridge_lat"].sel(hemisphere=hemi).values, period=360.0)
        out.append(abs(la - centre))
    return np.asarray(out)


# ---------------------------------------------------------------------------------------------
# The whole hindcast


@dataclass(frozen=True)
class HindcastResult:
    per_ar: pd.DataFrame
    per_rotation: pd.DataFrame
    summary: dict


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
    """Forecast and score every eligible rotation N (N+1 scored) in ``crs`` (default: all available).

    Cases are produced by :func:`produce_cases`, ``batch_size`` cases per batched program (None: all in
    one batch; 1: one case after another, the per-case path). Multi-host: started in every process of a
    ``jax.distributed`` run (after ``jax.distributed.initialize``) with the same arguments and a shared
    ``out_dir``, each process forecasts its share of the cases (:func:`process_share` by
    ``jax.process_index()`` / ``jax.process_count()``) on its local devices and saves them under
    ``out_dir/cases``; process 0 waits (up to ``wait_s`` seconds) for all of them, scores and returns
    the result, the others return None. ``data_only``: a precomputed :func:`data_only_record` of the same
    targets (it is the slow part of scoring; the record does not depend on the forecast's config).
    """
    check_horizon(config.forecast.weeks, config.forecast)  # before any work
    pool = MapPool(find_maps(data_dir))
    maps = pool.maps
    table = arise.load_arise(find_arise(data_dir))
    eligible = [n for n in sorted(maps) if len(arise.ars_of(table, n + 1)) > 0 and (crs is None or n + 1 in crs)]
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
    keys = CaseKeys(cases_dir, maps, cfg, _strength(cfg, strength_kG))
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
        return None  # process 0 scores once every share is saved
    wait_for_cases(cases_dir, eligible, wait_s)
    cases = [produced[n] if n in produced else Case.load(case_path(cases_dir, n)) for n in eligible]

    result = rescore(cases, table, config, min_fit_rotations, data_only_from=data_only_from, data_only=data_only)
    result.summary.update({
        "data_dir": str(data_dir),
        "strength_kG": config.physics.band_strength_kG if strength_kG is None else strength_kG,
        "start": config.forecast.start,
        "skipped_maps": [pool.skipped[c] for c in sorted(pool.skipped)],
        "map_repairs": {str(c.cr): list(c.map_notes) for c in cases
                        if any(m["header_repairs"] or m["masked_implausible_pixels"] for m in c.map_notes)},
    })
    write_results(result, out)
    return result


def data_only_record(table: pd.DataFrame, lat: np.ndarray, lon: np.ndarray, last: int, first: int | None = None):
    """The causal data-only record (:func:`pinn.emergence.data_only.score_methods`) of the targets ``first..last``
    (None: from the start of the ARISE table) on the density grid ``lat``, ``lon`` (degrees); what
    :func:`rescore` computes when not given one (precompute it once to rescore many hindcasts of the same
    rotations)."""
    from pinn.emergence import data_only as do

    return do.score_methods(table[table["cr"] <= last], lat, lon, do.default_targets(table, first, last))


def rescore(cases: Sequence[Case], table: pd.DataFrame, config: Config, min_fit_rotations: int = 5,
            data_only_from: int | None = None, data_only=None) -> HindcastResult:
    """Score saved cases (no retraining): today's model, static, baselines, data-only methods and hybrids.

    Every fitted parameter used for N+1 (emergence parameters, data-only choices, hybrid betas) comes
    from rotations scored before N+1. ``data_only_from``: first target of the data-only causal record
    (None: the whole ARISE table, as in ``experiments/baselines``); ``data_only``: a precomputed
    :class:`pinn.emergence.data_only.DataOnlyResult` for the same targets, to save recomputing it.
    """
    from pinn.emergence import data_only as do
    from pinn.emergence import hybrid as hy

    cases = sorted(cases, key=lambda c: c.cr)
    lat, _ = density_grid(config.forecast)
    lon = cases[0].ridge["lon"].values
    last = max(c.cr for c in cases) + 1
    dores = data_only or data_only_record(table, lat, lon, last, data_only_from)
    priors = {c.cr: do.method_density(table, dores, c.cr + 1, "data_only", lat, lon) for c in cases}
    fit_cases = {name: [hy.make_fit_case(c.cr + 1, priors[c.cr], feats(c, lat), arise.ars_of(table, c.cr + 1)["lat"].values,
                                         arise.ars_of(table, c.cr + 1)["lon"].values) for c in cases]
                 for name, feats in HYBRID_FEATURES.items()}
    fits = {name: hy.causal_fits(fc, HYBRID_NAMES[name], min_fit_rotations) for name, fc in fit_cases.items()}

    start = EmergenceParams.from_config(config.forecast)
    per_ar, per_rot = [], []
    for i, case in enumerate(cases):
        earlier = [c for c in cases[:i] if c.cr + 1 <= case.cr]  # scored rotations strictly before N+1
        if len(earlier) >= min_fit_rotations:
            fc = [(c.ridge, c.hemisphere_weights, arise.ars_of(table, c.cr + 1)["lat"].values,
                   arise.ars_of(table, c.cr + 1)["lon"].values) for c in earlier]
            params = fit_emergence_params(fc, lat, start)
        else:
            params = start
        target = case.cr + 1
        truth = arise.ars_of(table, target)
        history = arise.ars_of(table, range(case.cr - 4, case.cr + 1))
        extra = {m: do.method_density(table, dores, target, m, lat, lon) for m in do.METHODS if m != do.BAND}
        extra["data_only"] = priors[case.cr]
        for name in HYBRID_FEATURES:
            extra[name] = hy.hybrid_density(priors[case.cr], fit_cases[name][i].features, fits[name][i])
        rows, rot = score_case(case, truth, history, params, config, extra)
        ref = dores.bits[dores.bits["cr"] == target]
        if len(ref) != len(rows) or not np.allclose(ref["data_only"].values, rows["bits_data_only"].values, atol=1e-6):
            raise RuntimeError(f"data-only density of CR {target} does not reproduce its causal scores")
        rot.update({f"param_{k}": v for k, v in dataclasses.asdict(params).items()})
        rot["choice_data_only"] = dores.choices.loc[target, "choice_data_only"]
        for name in HYBRID_FEATURES:
            for f, d in fits[name][i].as_dict().items():
                if isinstance(d, dict):
                    rot.update({f"{name}_beta_{f}": d["beta"], f"{name}_low_{f}": d["low"], f"{name}_high_{f}": d["high"]})
        per_ar.append(rows)
        per_rot.append(rot)
    per_ar_df = pd.concat(per_ar, ignore_index=True)
    per_rot_df = pd.DataFrame(per_rot)
    summary = summarise(per_ar_df, per_rot_df)
    final = {name: hy.fit_hybrid(fc, HYBRID_NAMES[name]).as_dict() for name, fc in fit_cases.items()}
    summary.update({"n_cases": len(cases), "min_fit_rotations": min_fit_rotations,
                    "maps_per_case": {str(c.cr): len(c.maps) for c in cases},
                    "data_only_from": data_only_from, "hybrid_prior_sd": hy.PRIOR_SD,
                    "hybrid_betas_all_rotations": final})
    return HindcastResult(per_ar_df, per_rot_df, summary)


def _write_skipped(path: Path, skipped: dict[int, dict]) -> None:
    """Keep the skipped maps next to the finished cases, so a resumed hindcast reports them too."""
    from pinn.io import write_json

    write_json(path, {str(k): v for k, v in sorted(skipped.items())})


def _pred_features(case: Case, lat: np.ndarray) -> np.ndarray:
    from pinn.emergence import hybrid as hy

    return hy.ridge_features(case.ridge, case.static_ridge, lat, hy.FEATURES)


def _static_features(case: Case, lat: np.ndarray) -> np.ndarray:
    from pinn.emergence import hybrid as hy

    return hy.ridge_features(case.static_ridge, case.static_ridge, lat, ("d2", "warp"))


def _pinn_features(case: Case, lat: np.ndarray) -> np.ndarray:
    from pinn.emergence import hybrid as hy

    return hy.ridge_features(case.ridge, case.static_ridge, lat, ("d2", "log_strength", "warp"))


# hybrid: data-only prior + integrated ridge + its change from the static toroids; the ablations use the
# static toroids only, or the integrated ridge only
HYBRID_FEATURES = {"hybrid": _pred_features, "hybrid_static": _static_features, "hybrid_pinn": _pinn_features}
HYBRID_NAMES = {"hybrid": ("d2", "log_strength", "d2_change", "warp"), "hybrid_static": ("d2", "warp"),
                "hybrid_pinn": ("d2", "log_strength", "warp")}
MODELS = ("model", "static", "hybrid", "hybrid_static", "hybrid_pinn")
REFERENCES = ("band", "data_only")


def summarise(per_ar: pd.DataFrame, per_rot: pd.DataFrame) -> dict:
    """Mean bits per AR of every score, AUCs, and paired bootstrap intervals of each model minus baselines."""
    scores = [c[5:] for c in per_ar.columns if c.startswith("bits_")]
    out: dict = {"n_ars": len(per_ar), "n_rotations": int(per_ar["cr"].nunique()),
                 "mean_bits": {s: float(per_ar[f"bits_{s}"].mean()) for s in scores},
                 "mean_auc": {s: float(per_rot[f"auc_{s}"].mean()) for s in scores if f"auc_{s}" in per_rot},
                 "toroid_lat_err_deg": {"model": float(per_ar["toroid_lat_err_model"].mean()),
                                        "static": float(per_ar["toroid_lat_err_static"].mean())}}
    diffs = {}
    pairs = [("model", b) for b in ("band", "persistence", "uniform", "static")] + [("static", "band")]
    pairs += [(m, r) for m in (*MODELS, *[s for s in scores if s not in MODELS and s not in SCORES])
              for r in REFERENCES if m != r]
    for m, b in dict.fromkeys(pairs):
        if f"bits_{m}" in per_ar and f"bits_{b}" in per_ar:
            iv = ev.paired_bootstrap(per_ar[f"bits_{m}"] - per_ar[f"bits_{b}"], per_ar["cr"].values)
            diffs[f"{m}_minus_{b}"] = dataclasses.asdict(iv)
    out["differences_bits"] = diffs
    return out


def write_results(result: HindcastResult, out: Path) -> None:
    """Write per_ar.csv, per_rotation.csv, summary.json and hindcast.png into ``out`` (atomically)."""
    from pinn.chain.plotting import plot_hindcast
    from pinn.io import atomic_path, save_figure, write_json

    for name, df in (("per_ar.csv", result.per_ar), ("per_rotation.csv", result.per_rotation)):
        with atomic_path(out / name) as tmp:
            df.to_csv(tmp, index=False, float_format="%.6g")
    write_json(out / "summary.json", result.summary)
    save_figure(plot_hindcast(result, [s for s in PLOTTED if f"bits_{s}" in result.per_rotation]), out / "hindcast.png", dpi=110, bbox_inches="tight")
