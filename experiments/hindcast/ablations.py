"""Ablations of the development hindcast (issue 13): what each part of the physics adds to the forecast.

    PYTHONPATH=. python experiments/hindcast/ablations.py --work /scratch/ablations [--only NAME ...]

Every ablation is a whole hindcast of the 38 development rotations (scored N+1 in CR 2241-2282) with the
recorded development settings (pinn/config/forecast.yaml, train.adam_steps=400) plus its own overrides,
produced by the batched path (``--batch`` cases per program) into ``WORK/<name>`` (cases and PINN cache:
resumable, kill it and run again) and scored by :func:`pinn.chain.hindcast.rescore` with one causal data-only
record shared by all (it does not depend on the forecast config). Results go to
``experiments/hindcast/ablations/<name>/`` (per_ar.csv, per_rotation.csv, summary.json) and the table of
all finished ablations to ``experiments/hindcast/ablations/table.{json,md}``: per ablation the mean bits
per AR of the ridge model (the physics alone), the hybrid (data-only prior tilted by the ridge features),
and paired bootstrap intervals (rotations resampled) of hybrid - data_only, model - band, and of each
against the reference ablation ``pinn_bic_20kG`` (same ARs, so the differences are paired).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pinn.chain import hindcast as hc
from pinn.config.schema import load_config
from pinn.data import arise
from pinn.emergence.ridge_model import density_grid
from pinn.io import atomic_path, write_json
from pinn.scoring import scores as ev

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "experiments" / "hindcast" / "ablations"
BASE = ["train.adam_steps=400", "train.progress=false"]
REFERENCE = "pinn_bic_20kG"
CRS = range(2241, 2283)

# name -> overrides on top of BASE; the order is the order of the runs (cheap and central ones first)
ABLATIONS: dict[str, list[str]] = {
    "pinn_bic_20kG": [],
    "classical_bic_20kG": ["forecast.start=classical"],
    "pinn_m1_20kG": ["toroids.modes=1"],
    "pinn_m2_20kG": ["toroids.modes=2"],
    "pinn_bic_20kG_1500steps": ["train.adam_steps=1500"],
    "pinn_bic_30kG": ["physics.band_strength_kG=30"],
    "pinn_bic_2kG": ["physics.band_strength_kG=2"],
    "pinn_bic_100kG": ["physics.band_strength_kG=100"],
    "classical_bic_2kG": ["forecast.start=classical", "physics.band_strength_kG=2"],
    "classical_bic_30kG": ["forecast.start=classical", "physics.band_strength_kG=30"],
    "classical_bic_100kG": ["forecast.start=classical", "physics.band_strength_kG=100"],
    "classical_m2_20kG": ["forecast.start=classical", "toroids.modes=2"],
}
SCORES = ("ridge", "hybrid", "hybrid_pinn", "ridge_static", "hybrid_static", "data_only", "band")
LEGACY = {"bits_model": "bits_ridge", "bits_static": "bits_ridge_static"}  # column names of records before the registry


def data_only(work: Path, config, data_dir: Path):
    """The causal data-only record of the development targets, computed once and kept in ``work``."""
    path = work / "data_only.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    table = arise.load_arise(hc.find_arise(data_dir))
    t0 = time.perf_counter()
    lat, lon = density_grid(config.forecast)
    record = hc.data_only_record(table, lat, lon, max(CRS))
    print(f"data-only record: {time.perf_counter() - t0:.0f} s", flush=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(pickle.dumps(record))
    return record


def run(name: str, work: Path, batch: int | None, record, data_dir: Path) -> None:
    """One ablation: cases (resumed if present) then scores, written to OUT/<name>."""
    overrides = [*BASE, *ABLATIONS[name]]
    config = load_config(ROOT / "pinn" / "config" / "forecast.yaml", overrides)
    t0 = time.perf_counter()
    result = hc.run_hindcast(data_dir, config, work / name, crs=CRS, progress=True, batch_size=batch, data_only=record)
    wall = time.perf_counter() - t0
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    result.summary.update({"overrides": overrides, "wall_s_this_call": wall})
    hc.write_results(result, out)
    print(f"{name}: {wall:.0f} s, hybrid {result.summary['mean_bits']['hybrid']:.4f}, "
          f"ridge {result.summary['mean_bits']['ridge']:.4f}", flush=True)


def interval(diff: pd.Series, cr: np.ndarray) -> dict:
    iv = ev.paired_bootstrap(diff.values, cr)
    return {"mean": iv.mean, "low": iv.low, "high": iv.high}


def table() -> dict:
    """The comparison table of every finished ablation (read back from OUT)."""
    rows = {}
    ref_path = OUT / REFERENCE / "per_ar.csv"
    ref = pd.read_csv(ref_path).rename(columns=LEGACY) if ref_path.exists() else None
    for name, overrides in ABLATIONS.items():
        path = OUT / name / "per_ar.csv"
        if not path.exists():
            continue
        df = pd.read_csv(path).rename(columns=LEGACY)
        cr = df["cr"].values
        row = {"overrides": overrides, "n_ars": len(df),
               "mean_bits": {s: float(df[f"bits_{s}"].mean()) for s in SCORES},
               "hybrid_minus_data_only": interval(df["bits_hybrid"] - df["bits_data_only"], cr),
               "hybrid_pinn_minus_data_only": interval(df["bits_hybrid_pinn"] - df["bits_data_only"], cr),
               "ridge_minus_band": interval(df["bits_ridge"] - df["bits_band"], cr),
               "ridge_minus_static": interval(df["bits_ridge"] - df["bits_ridge_static"], cr)}
        if ref is not None and name != REFERENCE:
            if not (np.array_equal(ref["cr"].values, cr) and np.allclose(ref["lat"].values, df["lat"].values)):
                raise RuntimeError(f"{name}: not the same ARs as {REFERENCE}")
            row["hybrid_minus_reference_hybrid"] = interval(df["bits_hybrid"] - ref["bits_hybrid"], cr)
            row["ridge_minus_reference_ridge"] = interval(df["bits_ridge"] - ref["bits_ridge"], cr)
        rows[name] = row
    return rows


def markdown(rows: dict) -> str:
    f = lambda d: f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
    header = ("| ablation | ridge | hybrid | hybrid - data_only | ridge - band | ridge - static | hybrid - ref. hybrid "
              "| ridge - ref. ridge |")
    lines = [header, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['mean_bits']['ridge']:.3f} | {r['mean_bits']['hybrid']:.3f} | "
                     f"{f(r['hybrid_minus_data_only'])} | {f(r['ridge_minus_band'])} | {f(r['ridge_minus_static'])} | "
                     f"{f(r['hybrid_minus_reference_hybrid']) if 'hybrid_minus_reference_hybrid' in r else 'reference'} | "
                     f"{f(r['ridge_minus_reference_ridge']) if 'ridge_minus_reference_ridge' in r else 'reference'} |")
    return "\n".join(lines) + "\n"


def write_table() -> dict:
    """Write table.json and table.md of every finished ablation; returns the rows."""
    rows = table()
    write_json(OUT / "table.json", rows)
    (OUT / "table.md").write_text(markdown(rows))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="scratch folder for cases and PINN caches")
    p.add_argument("--data-dir", type=Path, help="maps *.<CR>.fits of the development rotations and the ARISE table "
                   "(e.g. a JSOC download of hmi.Mrsynop_small_720s: experiments/hindcast/README.md)")
    p.add_argument("--only", nargs="*", default=None, help="ablation names (default: all, in order)")
    p.add_argument("--batch", type=int, default=4, help="cases per batched program")
    p.add_argument("--table-only", action="store_true")
    args = p.parse_args()
    names = args.only or list(ABLATIONS)
    unknown = set(names) - set(ABLATIONS)
    if unknown:
        sys.exit(f"unknown ablations {sorted(unknown)}; known: {list(ABLATIONS)}")
    if not args.table_only:
        if args.data_dir is None:
            sys.exit("--data-dir is needed to run ablations (not for --table-only)")
        args.work.mkdir(parents=True, exist_ok=True)
        record = data_only(args.work, load_config(ROOT / "pinn" / "config" / "forecast.yaml", BASE), args.data_dir)
        for name in names:
            run(name, args.work, args.batch, record, args.data_dir)
            write_table()  # after each ablation, so an interrupted run keeps its table
    rows = write_table()
    print(json.dumps({k: {"hybrid": v["mean_bits"]["hybrid"], "ridge": v["mean_bits"]["ridge"]} for k, v in rows.items()},
                     indent=1))


if __name__ == "__main__":
    main()
