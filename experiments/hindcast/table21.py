"""The issue-21 ablation table in one command: what each channel adds, at leads 1-3, on the development rotations.

    PYTHONPATH=. python experiments/hindcast/table21.py --data-dir ../shared/data/raw --work /scratch/table21 \
        [--only static,classical] [--leads 1,2,3] [--batch 19]
    PYTHONPATH=. python experiments/hindcast/table21.py --quick --work /tmp/t21 --out /tmp/t21/out   # a test
    PYTHONPATH=. python experiments/hindcast/table21.py --table-only                                  # table.md again

Every row (:data:`ROWS`) is a config override set on ``pinn/config/forecast.yaml`` plus :data:`BASE`
(``forecast.weeks=14``, ``forecast.leads=[1, 2, 3]``) and a whole hindcast of the development targets (CR 2241-2283,
38 rotations at lead 1), scored N+1, N+2, N+3 from maps and ARs up to N (:mod:`pinn.chain.leads`) with the models
the row is about. The cases of a row are produced by :func:`pinn.chain.hindcast.hindcast_cases` into ``WORK/<row>``
(saved under the case keys of :mod:`pinn.chain.case_keys`, PINN states in its pinn_cache: a killed run resumes at
the batch it stopped in); the static row builds its cases without physics (:func:`pinn.chain.case.static_case`, a
few seconds each, not saved). Each lead of a row is scored by :func:`pinn.chain.hindcast.rescore_lead` with one
causal data-only record per lead shared by all rows (the content-hash cache of
:func:`pinn.chain.hindcast.data_only_record`) and kept in ``WORK/<row>/lead<L>`` once done, so a resumed run
rescores nothing it has finished.

Writes ``OUT/<row>/`` (per_ar.csv and per_rotation.csv with a ``lead`` column, summary.json with one summary per
lead) and ``OUT/table.json``, ``OUT/table.md``: per row and lead the mean bits per new AR of each of the row's
models, minus the causal data-only forecast (paired bootstrap over rotations, 95 %), and the physics-goal contrast
of issue 21: each integrated physics model of a row minus ``hybrid_kinematic`` of the classical row (the same
observed s(lon) carried kinematically, no dynamics; the same ARs, paired).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pinn.chain import hindcast as hc
from pinn.chain import leads as ld
from pinn.chain.case import Case, static_case
from pinn.config.schema import Config, load_config
from pinn.data import arise
from pinn.data.bundled import default_forecast_config
from pinn.emergence.models import causal_model_choice
from pinn.emergence.ridge_model import density_grid
from pinn.io import atomic_path, write_json
from pinn.scoring import scores as ev

HERE = Path(__file__).resolve().parent
BUNDLED = Path(arise.__file__).resolve().parent / "files"  # the bundled maps and ARISE table: a data folder for --quick
# emergence.prior=data_only: the prior the first seven rows were recorded with (the forecast config now says the stack;
# the *_stack rows override it)
BASE = ("train.progress=false", "forecast.weeks=14", "forecast.leads=[1, 2, 3]", "emergence.prior=data_only")
FIRST, LAST = 2241, 2283  # the development targets (38 rotations at lead 1)
# --quick: three targets of the bundled maps, tiny networks and grids, every fit on (min_fit_rotations=1)
QUICK = ("network.width=16", "network.depth=2", "network.fourier_features=8", "loss.collocation_points=256",
         "loss.quadrature_lats=16", "loss.quadrature_lons=8", "train.steps_per_call=20", "train.checkpoint_every=40",
         "train.log_every=20", "train.warmup_steps=5", "train.output_nlat=32", "train.output_nlon=64",
         "solver.truncation=21", "solver.dt=0.1", "forecast.output_nlat=90", "forecast.output_nlon=180",
         "forecast.snapshot_days=2.0", "forecast.cache_dir=null")
QUICK_STEPS = "train.adam_steps=40"
QUICK_FIRST, QUICK_LAST, QUICK_DATA_ONLY_FROM = 2279, 2281, 2265


@dataclass(frozen=True)
class Row:
    """One row of the table: a whole hindcast with ``overrides``, scored with ``models``."""

    overrides: tuple[str, ...]
    models: tuple[str, ...]
    channel: str  # what the row adds, for the table
    static: bool = False  # cases without physics (pinn.chain.case.static_case)
    note: str = ""
    cases_from: str | None = None  # score the saved cases of this row (its overrides change the scoring only)
    kinematic_row: str = "classical"  # the row whose hybrid_kinematic the physics goal compares with


STATIC_MODELS = ("band", "data_only", "hybrid_map", "hybrid_static")
CLASSICAL_MODELS = ("band", "data_only", "hybrid_kinematic", "hybrid_physics_strength", "hybrid")
PINN_MODELS = ("band", "data_only", "hybrid_physics_strength", "hybrid")
PHYSICS = ("hybrid_physics_strength", "hybrid")  # the integrated physics models of a row (issue 21's physics goal)
KINEMATIC = ("classical", "hybrid_kinematic")  # the same inputs without dynamics: (row, model)
STEADY = ("train.adam_steps=400", "train.warm_start=batch_mean")
STACK_PRIOR = "emergence.prior=data_only_stack"  # the hybrids tilt the data-only stack (pinn.emergence.stacking)
STACK = "data_only_stack"
ROWS: dict[str, Row] = {  # in the order they run: cheap and central first
    "static": Row((), STATIC_MODELS, "maps and ARs only: band, data-only, map channel, current toroids", static=True,
                  note="no PINN, no integration"),
    "classical": Row(("forecast.start=classical", "physics.strength_profile=observed"), CLASSICAL_MODELS,
                     "classical balanced start with the observed s(lon), integrated"),
    "pinn_warm": Row(STEADY, PINN_MODELS, "steady PINN (warm start from the batch mean, 400 steps), integrated"),
    "pinn_warm_40kG": Row((*STEADY, "physics.band_strength_kG=40"), PINN_MODELS, "steady PINN at 40 kG"),
    "pinn_warm_tachocline": Row((*STEADY, "physics.zonal_flow=tachocline"), PINN_MODELS,
                                "steady PINN with the tachocline flow"),
    "pinn_warm_carrier": Row((*STEADY, "physics.zonal_flow=surface_features"), PINN_MODELS,
                             "steady PINN with the carrier-fitted flow (Snodgrass magnetic-feature rate)"),
    "pinn_timedep": Row(("train.adam_steps=400", "train.formulation=time_dependent"), PINN_MODELS,
                        "time-dependent PINN (cold start, 400 steps), integrated",
                        note="per-map toroids: each map of the causal window fitted alone"),
    # The same cases scored against, and with hybrids tilting, the data-only stack: the strongest data-only forecast
    "static_stack": Row((STACK_PRIOR,), (*STATIC_MODELS, STACK), "as static, the hybrids tilting the data-only stack",
                        static=True, note="no PINN, no integration", kinematic_row="classical_stack"),
    "classical_stack": Row(("forecast.start=classical", "physics.strength_profile=observed", STACK_PRIOR),
                           (*CLASSICAL_MODELS, STACK), "as classical, the hybrids tilting the data-only stack",
                           cases_from="classical", kinematic_row="classical_stack"),
    "pinn_warm_stack": Row((*STEADY, STACK_PRIOR), (*PINN_MODELS, STACK),
                           "as pinn_warm, the hybrids tilting the data-only stack", cases_from="pinn_warm",
                           kinematic_row="classical_stack"),
}


def row_config(row: Row, leads: tuple[int, ...], quick: bool) -> Config:
    """The row's config: forecast.yaml + BASE + the row's overrides (+ the tiny settings of --quick)."""
    overrides = [*BASE, *row.overrides, f"forecast.leads={list(leads)}"]
    if quick:
        overrides = [*overrides, *QUICK, *([QUICK_STEPS] if any(o.startswith("train.adam_steps") for o in overrides)
                                          else [])]
    return load_config(default_forecast_config(), overrides)


def row_cases(name: str, row: Row, config: Config, data_dir: Path, work: Path, crs: range,
              batch: int | None) -> tuple[list[Case], pd.DataFrame]:
    """The row's cases by N (resumed from ``work/<name>`` for integrated rows) and the ARISE table."""
    if row.static:
        maps = hc.find_maps(data_dir)
        table = arise.load_arise(hc.find_arise(data_dir))
        ns = ld.eligible_rotations(maps, lambda cr: len(arise.ars_of(table, cr)) > 0, config.forecast.leads, crs)
        return [static_case([maps[c] for c in hc.trailing_run(maps, n, config.toroids.window)], config) for n in ns], table
    made = hc.hindcast_cases(data_dir, config, work / (row.cases_from or name), crs=crs, progress=True,
                             batch_size=batch)
    return made.cases, made.table


def lead_key(name: str, row: Row, config: Config, crs: range, min_fit: int, cases: list[Case]) -> dict:
    """What a saved lead's scores were made from: a mismatch rescores it. The cases enter by content
    (:func:`cases_digest`), so cases recomputed under a new case key (e.g. a code change) are rescored."""
    return {"row": name, "overrides": list(row.overrides), "models": list(row.models), "crs": [crs.start, crs.stop - 1],
            "min_fit_rotations": min_fit, "cases": [c.cr for c in cases], "weeks": config.forecast.weeks,
            "grid": [config.forecast.output_nlat, config.forecast.output_nlon], "cases_sha256": cases_digest(cases)}


def cases_digest(cases: list[Case]) -> str:
    """SHA-256 (16 hex) of what the scores read from the cases: each case's rotation, maps, hemisphere weights and
    ridges (predicted, static and each further lead's), values as float32 (saved and fresh cases agree)."""
    h = hashlib.sha256()
    for c in cases:
        h.update(json.dumps([c.cr, list(c.maps), c.hemisphere_weights], sort_keys=True).encode())
        for ds in (c.ridge, c.static_ridge, *(c.lead_ridges[k] for k in sorted(c.lead_ridges))):
            for v in sorted(ds.data_vars):
                h.update(v.encode())
                h.update(np.ascontiguousarray(ds[v].values, np.float32).tobytes())
    return h.hexdigest()[:16]


def score_lead(name: str, row: Row, config: Config, cases: list[Case], table: pd.DataFrame, record, lead: int,
               crs: range, min_fit: int, work: Path) -> hc.HindcastResult | None:
    """The row's scores at ``lead`` (:func:`pinn.chain.hindcast.rescore_lead`), loaded from ``work/<name>/lead<L>``
    when made from the same row, cases and settings; None when no case scores a target in ``crs`` at that lead."""
    views = ld.lead_cases(cases, lead, lambda cr: len(arise.ars_of(table, cr)) > 0, crs)
    if not views:
        return None
    folder = work / name / f"lead{lead}"
    key = lead_key(name, row, config, crs, min_fit, cases)
    if (folder / "summary.json").exists():
        summary = json.loads((folder / "summary.json").read_text())
        if summary.get("table21_key") == key:
            return hc.HindcastResult(pd.read_csv(folder / "per_ar.csv"), pd.read_csv(folder / "per_rotation.csv"), summary)
    t0 = time.perf_counter()
    result = hc.rescore_lead(views, table, config, min_fit, data_only=record, models=row.models)
    summary = {k: result.summary[k] for k in ld.PER_LEAD_KEYS if k in result.summary}
    summary.update({"table21_key": key, "seconds_scoring": round(time.perf_counter() - t0, 1)})
    folder.mkdir(parents=True, exist_ok=True)
    for file, frame in (("per_ar.csv", result.per_ar), ("per_rotation.csv", result.per_rotation)):
        with atomic_path(folder / file) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    write_json(folder / "summary.json", summary)  # last: it marks the lead as done
    return hc.HindcastResult(result.per_ar, result.per_rotation, summary)


def write_row(out: Path, results: dict[int, hc.HindcastResult], extra: dict) -> None:
    """``out``: per_ar.csv, per_rotation.csv (with ``lead``) and summary.json (per lead under ``leads``)."""
    out.mkdir(parents=True, exist_ok=True)
    for file, attr in (("per_ar.csv", "per_ar"), ("per_rotation.csv", "per_rotation")):
        with atomic_path(out / file) as tmp:
            ld.join_tables({k: getattr(r, attr) for k, r in results.items()}).to_csv(tmp, index=False, float_format="%.6g")
    write_json(out / "summary.json", extra | {"leads": ld.lead_summary({k: r.summary for k, r in results.items()})})


def interval(diff: np.ndarray, cr: np.ndarray) -> dict:
    """Mean and 95 % paired bootstrap interval over rotations of per-AR differences (bits per AR)."""
    iv = ev.paired_bootstrap(np.asarray(diff, float), np.asarray(cr))
    return {"mean": float(iv.mean), "low": float(iv.low), "high": float(iv.high)}


def physics_contrast(frame: pd.DataFrame, kinematic: pd.DataFrame | None, row: str = KINEMATIC[0]) -> dict:
    """Per integrated physics model of the row: it minus the kinematic row's (``row``) model on the same ARs, paired."""
    if kinematic is None:
        return {}
    model = KINEMATIC[1]
    keys = ["cr", "lat", "lon"]
    out = {}
    for m in PHYSICS:
        if f"bits_{m}" not in frame:
            continue
        both = frame[[*keys, f"bits_{m}"]].merge(kinematic[[*keys, f"bits_{model}"]], on=keys, how="inner",
                                                 validate="one_to_one")
        if len(both) != len(frame):
            raise RuntimeError(f"{m}: not the same ARs as {row}'s {model}")
        out[f"{m}_minus_{row}_{model}"] = interval(both[f"bits_{m}"] - both[f"bits_{model}"], both["cr"].values)
    return out


def table(out: Path, names: list[str] | None = None) -> dict:
    """The table of every finished row under ``out`` (read back from its per_ar.csv): per row and lead, n, mean bits
    of each model, each model minus data-only and the physics-goal contrast (paired bootstrap over rotations)."""
    names = [n for n in (names or ROWS) if (out / n / "per_ar.csv").exists()]
    frames = {n: pd.read_csv(out / n / "per_ar.csv") for n in names}
    rows = {}
    for n, df in frames.items():
        r = ROWS[n]
        kin_row = r.kinematic_row
        kin = frames.get(kin_row)
        if kin is None and (out / kin_row / "per_ar.csv").exists():
            kin = pd.read_csv(out / kin_row / "per_ar.csv")
        models = [m for m in r.models if f"bits_{m}" in df]
        per_lead = {}
        for lead, g in df.groupby("lead"):
            cr = g["cr"].values
            entry = {"n_rotations": int(g["cr"].nunique()), "n_ars": len(g),
                     "mean_bits": {m: float(g[f"bits_{m}"].mean()) for m in models},
                     "minus_data_only": {m: interval(g[f"bits_{m}"] - g["bits_data_only"], cr) for m in models
                                         if m != "data_only"}}
            if f"bits_{STACK}" in g:
                entry["minus_data_only_stack"] = {m: interval(g[f"bits_{m}"] - g[f"bits_{STACK}"], cr) for m in models
                                                  if m != STACK}
            if not r.static:
                entry["physics_contrast"] = physics_contrast(g, None if kin is None else kin[kin["lead"] == lead],
                                                             kin_row)
            per_lead[str(int(lead))] = entry
        rows[n] = {"overrides": list(r.overrides), "channel": r.channel, "note": r.note, "models": models,
                   "leads": per_lead}
    return rows


def _fmt(d: dict | None) -> str:
    return "" if d is None else f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


def markdown(rows: dict) -> str:
    """table.md: the models of every row at each lead, then the physics-goal contrasts."""
    leads = sorted({k for r in rows.values() for k in r["leads"]}, key=int)
    head = "| row | model | " + " | ".join(f"lead {k} bits/AR | lead {k} - data-only" for k in leads) + " |"
    out = [head, "|" + " --- |" * (2 + 2 * len(leads))]
    notes = []
    for name, r in rows.items():
        for m in r["models"]:
            cells = []
            for k in leads:
                e = r["leads"].get(k)
                cells += ["" if e is None else f"{e['mean_bits'][m]:.3f}",
                          "" if e is None else _fmt(e["minus_data_only"].get(m))]
            out.append(f"| {name} | {m} | " + " | ".join(cells) + " |")
        overrides = ", ".join(f"`{o}`" for o in r["overrides"]) or "none"
        notes.append(f"* `{name}`: {r['channel']}; overrides {overrides}" + (f"; **{r['note']}**" if r["note"] else ""))
    counts = "; ".join(f"lead {k}: " + ", ".join(f"{n} {r['leads'][k]['n_rotations']} rot./{r['leads'][k]['n_ars']} ARs"
                                                for n, r in rows.items() if k in r["leads"]) for k in leads)
    text = "\n".join(out) + f"\n\n({counts}. Paired bootstrap over rotations, 95 %.)\n\n" + "\n".join(notes) + "\n"
    stacked = [n for n, r in rows.items() if any("minus_data_only_stack" in e for e in r["leads"].values())]
    if stacked:
        lines = ["| row | model | " + " | ".join(f"lead {k} - data-only stack" for k in leads) + " |",
                 "|" + " --- |" * (2 + len(leads))]
        for n in stacked:
            for m in rows[n]["models"]:
                if m == STACK:
                    continue
                cells = [_fmt(rows[n]["leads"].get(k, {}).get("minus_data_only_stack", {}).get(m)) for k in leads]
                lines.append(f"| {n} | {m} | " + " | ".join(cells) + " |")
        text += ("\nAgainst the data-only stack (the linear pool of every data-only method, weights fitted causally; "
                 "the strongest data-only forecast), the same ARs, paired:\n\n" + "\n".join(lines) + "\n")
    contrasts = [(n, c, k, d) for n, r in rows.items() for k in leads if k in r["leads"]
                 for c, d in r["leads"][k].get("physics_contrast", {}).items()]
    if contrasts:
        names = sorted({(n, c) for n, c, _, _ in contrasts}, key=lambda x: (list(rows).index(x[0]), x[1]))
        lines = ["| row | contrast | " + " | ".join(f"lead {k}" for k in leads) + " |", "|" + " --- |" * (2 + len(leads))]
        for n, c in names:
            cells = [_fmt(rows[n]["leads"].get(k, {}).get("physics_contrast", {}).get(c)) for k in leads]
            lines.append(f"| {n} | {c} | " + " | ".join(cells) + " |")
        text += ("\nPhysics goal: each integrated physics model minus the same observed s(lon) carried kinematically "
                 f"(`{KINEMATIC[1]}` of the row's kinematic row: `{KINEMATIC[0]}`, or `classical_stack` for the stack "
                 "rows), the same ARs, paired:\n\n" + "\n".join(lines) + "\n")
    return text


STACK_ROWS = ("static_stack", "classical_stack", "pinn_warm_stack")


def choice_over_rows(out: Path, min_fit: int = 5) -> dict:
    """The causal model choice (:func:`pinn.emergence.models.causal_model_choice`) among every model of the stack rows
    (each labelled row:model, the same ARs), per lead: how often each is chosen, and the bits of following the choice
    minus the stack, paired over rotations. {} unless every stack row is written."""
    if not all((out / n / "per_ar.csv").exists() for n in STACK_ROWS):
        return {}
    keys = ["cr", "lead", "lat", "lon"]
    merged = None
    for n in STACK_ROWS:
        df = pd.read_csv(out / n / "per_ar.csv")
        cols = {f"bits_{m}": f"bits_{m}" if m == STACK else f"bits_{n}:{m}" for m in ROWS[n].models
                if m not in ("band", "data_only") or n == STACK_ROWS[0]}
        part = df[keys + list(cols)].rename(columns=cols)
        merged = part if merged is None else merged.merge(part.drop(columns=[c for c in part if c == f"bits_{STACK}"]),
                                                          on=keys, validate="one_to_one")
    names = [c.removeprefix("bits_") for c in merged.columns if c.startswith("bits_")]
    result = {}
    for lead, g in merged.groupby("lead"):
        g = g.reset_index(drop=True)
        following, chosen, after = causal_model_choice(g, names, int(lead), min_fit, STACK)
        result[str(int(lead))] = {"counts": chosen.value_counts().to_dict(), "next": after,
                                  "following_minus_stack": interval(following - g[f"bits_{STACK}"].to_numpy(),
                                                                    g["cr"].to_numpy())}
    return result


def write_table(out: Path) -> dict:
    """table.json, table.md (and model_choice.json once the stack rows exist) of every finished row under ``out``;
    returns the rows."""
    rows = table(out)
    choice = choice_over_rows(out)
    write_json(out / "table.json", rows)
    if choice:
        write_json(out / "model_choice.json", choice)
    text = markdown(rows)
    if choice:
        text += ("\nThe causal model choice among every model of the stack rows (per target, the one with the most bits "
                 "on the targets before it; the stack until 5 are scored), and following it minus the stack, paired:\n\n"
                 "| lead | chosen (targets) | next | following the choice - stack |\n| --- | --- | --- | --- |\n"
                 + "\n".join(f"| {k} | " + ", ".join(f"{m} {c}" for m, c in v["counts"].items()) + f" | {v['next']} | "
                             f"{_fmt(v['following_minus_stack'])} |" for k, v in choice.items()) + "\n")
    (out / "table.md").write_text(text)
    return rows


def run_row(name: str, args: argparse.Namespace, leads: tuple[int, ...], crs: range, records: dict, min_fit: int) -> None:
    """One row: cases (resumed), each lead scored (resumed), written to ``args.out/<name>``."""
    row = ROWS[name]
    config = row_config(row, leads, args.quick)
    t0 = time.perf_counter()
    cases, arise_table = row_cases(name, row, config, args.data_dir, args.work, crs, args.batch)
    t_cases = time.perf_counter() - t0
    results = {}
    for lead in leads:
        result = score_lead(name, row, config, cases, arise_table, records[lead], lead, crs, min_fit, args.work)
        if result is not None:
            results[lead] = result
    wall = time.perf_counter() - t0
    extra = {"row": name, "overrides": [*BASE, *row.overrides], "models": list(row.models), "channel": row.channel,
             "note": row.note, "n_cases": len(cases), "targets": [crs.start, crs.stop - 1], "quick": args.quick,
             "min_fit_rotations": min_fit, "data_dir": str(args.data_dir),
             "seconds_cases_this_call": round(t_cases, 1), "seconds_this_call": round(wall, 1),
             "seconds_scoring": {str(k): r.summary.get("seconds_scoring") for k, r in results.items()},
             "machine": f"{platform.machine()} CPU ({platform.node()}), Python {platform.python_version()}"}
    write_row(args.out / name, results, extra)
    print(f"{name}: {wall:.0f} s ({t_cases:.0f} s cases); " + "; ".join(
        f"lead {k}: " + ", ".join(f"{m} {r.summary['mean_bits'][m]:.3f}" for m in row.models)
        for k, r in results.items()), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, help="maps *.<CR>.fits and the ARISE table (--quick: the bundled ones)")
    p.add_argument("--work", type=Path, help="scratch folder: cases, PINN caches, finished leads (resumable)")
    p.add_argument("--out", type=Path, default=HERE / "table21", help="results folder (default: experiments/hindcast/table21)")
    p.add_argument("--only", default=None, help=f"comma-separated rows (default: all, in order: {','.join(ROWS)})")
    p.add_argument("--leads", default="1,2,3", help="comma-separated leads, starting with 1")
    p.add_argument("--batch", type=int, default=19, help="cases per batched program")
    p.add_argument("--data-only-cache", type=Path, default=None, help="data-only record cache (default ~/.cache/pinn)")
    p.add_argument("--quick", action="store_true", help="3 targets of the bundled maps, tiny settings (a test)")
    p.add_argument("--table-only", action="store_true", help="rewrite table.json and table.md from --out")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(ROWS)
    if unknown := [n for n in names if n not in ROWS]:
        p.error(f"--only: unknown rows {unknown}; known: {','.join(ROWS)}")
    args.names = names
    try:
        args.lead_list = tuple(int(k) for k in args.leads.split(","))
    except ValueError:
        p.error(f"--leads {args.leads!r} must look like 1,2,3")
    if args.lead_list[0] != 1 or list(args.lead_list) != sorted(set(args.lead_list)):
        p.error(f"--leads {args.leads!r}: increasing, starting with 1")
    if args.quick and args.data_dir is None:
        args.data_dir = BUNDLED
    if not args.table_only and (args.data_dir is None or args.work is None):
        p.error("--data-dir and --work are needed to run rows (not for --table-only)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.table_only:
        print(markdown(write_table(args.out)))
        return
    first, last, data_only_from = (QUICK_FIRST, QUICK_LAST, QUICK_DATA_ONLY_FROM) if args.quick else (FIRST, LAST, None)
    crs = range(first, last + 1)
    min_fit = 1 if args.quick else 5
    t0 = time.perf_counter()
    grid_config = row_config(ROWS["static"], args.lead_list, args.quick)
    lat, lon = density_grid(grid_config.forecast)
    arise_table = arise.load_arise(hc.find_arise(args.data_dir))
    records = {k: hc.data_only_record(arise_table, lat, lon, last, data_only_from, cache_dir=args.data_only_cache, lead=k)
               for k in args.lead_list}  # one per lead, shared by every row
    print(f"data-only records: {time.perf_counter() - t0:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        run_row(name, args, args.lead_list, crs, records, min_fit)
        write_table(args.out)  # after each row, so a killed run keeps its table
    print(markdown(write_table(args.out)))


if __name__ == "__main__":
    sys.exit(main())
