"""Lead time without the PINN: the models that read only maps and ARs, scored at leads 1-3 on the development rotations.

For every rotation N with a map whose target N+L (L in ``--leads``) has ARISE ARs within ``--first..--last``, the
case is built without training or integration (:func:`pinn.chain.case.static_case`: the toroids of the maps up to
N), then :func:`pinn.chain.hindcast.rescore` scores each lead: N+L from maps and ARs up to N only (the data-only
record made L rotations ahead, causal choices and fits from targets <= N). Models: those that need no PINN state.

    python experiments/hindcast/leads.py --data-dir DIR [--out experiments/hindcast/leads] [--leads 1,2,3]

Writes what ``pinn hindcast`` writes (per_ar.csv and per_rotation.csv with a ``lead`` column, summary.json with
``leads``) and ``leads.md``, the tables of the README: mean bits per AR per lead and each model minus data-only
(paired bootstrap over rotations, 95 %); and, on the rotations scored at every lead, each model at lead L minus
itself at lead 1. ``--table-only`` rewrites leads.md from the written summary.json and per_ar.csv.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd

from pinn.chain import hindcast as hc
from pinn.chain import leads as ld
from pinn.chain.case import static_case
from pinn.config.schema import load_config
from pinn.data.arise import ars_of, load_arise
from pinn.data.bundled import default_forecast_config
from pinn.emergence.ridge_model import density_grid
from pinn.scoring import scores as ev

HERE = Path(__file__).resolve().parent
MODELS = ("uniform", "persistence", "band", "band_hemi", "nests_hemi", "nests_clim", "data_only", "hybrid_static",
          "hybrid_map")


def leads_table(summary: dict, models: tuple[str, ...]) -> str:
    """Markdown: per model, mean bits per AR at each lead and its difference from data-only [95 % interval]."""
    leads = sorted(summary["leads"], key=int)
    head = "| model | " + " | ".join(f"lead {k}: bits/AR | lead {k}: - data-only" for k in leads) + " |"
    rows = [head, "|" + " --- |" * (1 + 2 * len(leads))]
    for m in models:
        cells = []
        for k in leads:
            s = summary["leads"][k]
            d = s["differences_bits"].get(f"{m}_minus_data_only")
            cells += [f"{s['mean_bits'][m]:.3f}", "" if d is None else f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"]
        rows.append(f"| {m} | " + " | ".join(cells) + " |")
    counts = ", ".join(f"lead {k}: {summary['leads'][k]['n_rotations']} rotations, {summary['leads'][k]['n_ars']} ARs"
                       for k in leads)
    return "\n".join(rows) + f"\n\n({counts})\n"


def common_table(per_ar: pd.DataFrame, models: tuple[str, ...]) -> str:
    """Markdown: on the rotations scored at every lead, mean bits per AR per lead and lead L minus lead 1 per model
    (the same ARs, paired bootstrap over rotations, 95 %)."""
    leads = sorted(set(per_ar["lead"]))
    common = set.intersection(*(set(per_ar.loc[per_ar["lead"] == k, "cr"]) for k in leads))
    rows = per_ar[per_ar["cr"].isin(common)]
    by = {k: rows[rows["lead"] == k].sort_values(["cr", "lat", "lon"]) for k in leads}
    head = ("| model | " + " | ".join(f"lead {k}" for k in leads) + " | "
            + " | ".join(f"lead {k} - lead 1" for k in leads[1:]) + " |")
    out = [head, "|" + " --- |" * (2 * len(leads))]
    for m in models:
        cells = [f"{by[k][f'bits_{m}'].mean():.3f}" for k in leads]
        for k in leads[1:]:
            iv = ev.paired_bootstrap(by[k][f"bits_{m}"].values - by[1][f"bits_{m}"].values, by[k]["cr"].values)
            cells.append(f"{iv.mean:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}]")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(out) + f"\n\n({len(common)} rotations scored at every lead, {len(by[1])} ARs)\n"


def write_tables(out: Path, models: tuple[str, ...]) -> str:
    """leads.md from ``out``'s summary.json and per_ar.csv; returns its text."""
    summary = json.loads((out / "summary.json").read_text())
    text = leads_table(summary, models) + "\n" + common_table(pd.read_csv(out / "per_ar.csv"), models)
    (out / "leads.md").write_text(text)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, default=HERE / "leads")
    p.add_argument("--config", type=Path, default=default_forecast_config())
    p.add_argument("--leads", default="1,2,3", help="comma-separated leads, starting with 1")
    p.add_argument("--first", type=int, default=2241, help="first scored rotation")
    p.add_argument("--last", type=int, default=2283, help="last scored rotation")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated registered models that need no PINN")
    p.add_argument("--table-only", action="store_true", help="rewrite leads.md from --out's files")
    args = p.parse_args()
    if args.table_only:
        print(write_tables(args.out, tuple(args.models.split(","))))
        return
    t0 = time.time()
    leads = tuple(int(k) for k in args.leads.split(","))
    config = load_config(args.config, [f"forecast.leads={list(leads)}"])
    maps = hc.find_maps(args.data_dir)
    table = load_arise(hc.find_arise(args.data_dir))
    crs = range(args.first, args.last + 1)
    ns = ld.eligible_rotations(maps, lambda cr: len(ars_of(table, cr)) > 0, leads, crs)
    cases = [static_case([maps[c] for c in hc.trailing_run(maps, n, config.toroids.window)], config) for n in ns]
    t_cases = time.time() - t0
    lat, lon = density_grid(config.forecast)
    records = {k: hc.data_only_record(table, lat, lon, args.last, lead=k) for k in leads}  # whole ARISE table
    t_records = time.time() - t0 - t_cases
    models = tuple(args.models.split(","))
    result = hc.rescore(cases, table, config, models=models, data_only=records, crs=list(crs))
    args.out.mkdir(parents=True, exist_ok=True)
    result.summary.update({"command": f"python experiments/hindcast/leads.py --data-dir DIR --leads {args.leads} "
                                      f"--first {args.first} --last {args.last} --models {args.models}",
                           "machine": f"{platform.machine()} CPU (2 shared cores), {platform.python_version()}",
                           "cases": "pinn.chain.case.static_case (no PINN, no integration)",
                           "seconds_cases": round(t_cases, 1), "seconds_data_only_records": round(t_records, 1),
                           "seconds_total": round(time.time() - t0, 1)})
    hc.write_results(result, args.out)
    print(write_tables(args.out, models))
    print(json.dumps({k: result.summary[k] for k in ("seconds_cases", "seconds_data_only_records", "seconds_total")}))


if __name__ == "__main__":
    main()
