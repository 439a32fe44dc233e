"""The count channels of issue 21 on the development rotations, without any PINN: recent counts and the map flux.

    PYTHONPATH=. python experiments/hindcast/counts_channels.py --data-dir ../shared/data/raw

The static cases (:func:`pinn.chain.case.static_case`, the ``static`` row of table21.py: no training, no
integration) of the development targets (CR 2241-2283, 38 rotations at lead 1, ``FIRST``/``LAST`` of table21.py)
give the count record of :func:`pinn.emergence.counts.count_record`: per target N+1 the observed new ARs per
hemisphere and the Poisson bits of the mean of the last 5 rotations (``mean5``), the EW mean (``ew``) and the EW
mean tilted by the latest map's strong-field flux per expected AR (``ew_flux``, gamma fitted on the targets
scored before each one only), with the flux of each case's latest map (N) read as the hindcast reads it. The
ridge-growth tilts (``ew_growth``, ``ew_flux_growth``) are degenerate here: a static ridge does not grow (growth
0), so they equal ``ew`` and ``ew_flux``; they are checked to be, and left out of counts.md.

``--cases DIR`` scores saved hindcast cases instead (``cr*.nc`` of an integrated row, e.g. the steady PINN's, whose
predicted ridge grows or decays): then every tilt, the growth ones included, is reported.

Writes ``OUT/counts.csv`` (the record), ``OUT/summary.json`` (:func:`pinn.emergence.counts.count_summary`, timings,
machine) and ``OUT/counts.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import pandas as pd
from table21 import FIRST, LAST, ROWS, row_cases, row_config

from pinn.chain import hindcast as hc
from pinn.chain.case import Case
from pinn.data import arise
from pinn.data.observations import load_synoptic
from pinn.emergence import counts as ct
from pinn.emergence.map_channel import hemisphere_flux
from pinn.io import atomic_path, write_json

HERE = Path(__file__).resolve().parent
SHOWN = ("mean5", "ew", "ew_flux")  # the forecasts that mean something on static cases


def markdown(summary: dict, record: pd.DataFrame, extra: dict, shown: tuple[str, ...] = SHOWN) -> str:
    """counts.md: mean bits per rotation, minus mean5 (95 % paired bootstrap over rotations), the last gammas."""
    bits, diff = summary["bits_per_rotation"], summary["minus_mean5"]
    head = (f"{len(record)} targets CR {int(record['cr'].min())}-{int(record['cr'].max())}, lead 1, min_fit_rotations "
            f"{extra['min_fit_rotations']}; Poisson log2 P(n_north, n_south) per rotation; {extra['machine']}.\n")
    what = "static cases, no PINN" if extra.get("cases") is None else f"saved cases of {extra['cases']}"
    lines = [f"# Count channels on the development rotations ({what})\n", head,
             "| forecast | bits per rotation | minus mean5 [95 %] |", "|---|---|---|"]
    for k in shown:
        d = diff.get(k)
        interval = f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]" if d else "0"
        lines.append(f"| {k} | {bits[k]:.3f} | {interval} |")
    g = summary["gamma_last_tilts"]["ew_flux"]["flux_per_ar"]
    gamma = (f"ew_flux's gamma fitted on all but the last target (per standardised log(flux / EW count)): "
             f"{g['gamma']:+.3f} +- {g['sd']:.3f}.")
    degenerate = ("ew_growth and ew_flux_growth are left out: a static case's ridge does not grow (ridge growth 0 for "
                  "every target), so they are ew and ew_flux bit for bit (checked).")
    if shown == SHOWN:
        lines += ["", gamma, "", degenerate, ""]
    else:
        g2 = summary["gamma_last_tilts"]["ew_flux_growth"]
        both = ", ".join(f"{f} {d['gamma']:+.3f} +- {d['sd']:.3f}" for f, d in g2.items())
        growth = (f"ew_growth's gamma: {summary['gamma_last']['gamma']:+.3f} +- {summary['gamma_last']['sd']:.3f}; "
                  f"ew_flux_growth's: {both}.")
        lines += ["", gamma, "", growth, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True, help="maps *.<CR>.fits and the ARISE table")
    p.add_argument("--out", type=Path, default=HERE / "counts_channels", help="results folder")
    p.add_argument("--min-fit", type=int, default=5, help="targets scored before the flux tilt is fitted")
    p.add_argument("--cases", type=Path, default=None, help="saved hindcast cases (cr*.nc) instead of static cases")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    config = row_config(ROWS["static"], (1,), quick=False)
    if args.cases is None:
        cases, table = row_cases("static", ROWS["static"], config, args.data_dir, args.out, range(FIRST, LAST + 1),
                                 None)
    else:
        table = arise.load_arise(hc.find_arise(args.data_dir))
        cases = [c for c in (Case.load(f) for f in sorted(args.cases.glob("cr*.nc")))
                 if FIRST <= c.target <= LAST and len(arise.ars_of(table, c.target)) > 0]
    cases = sorted(cases, key=lambda c: c.cr)
    t_cases = time.perf_counter() - t0
    fluxes = [hemisphere_flux(load_synoptic(c.latest_path, config.observations)["Br"], config.toroids.threshold_G,
                              config.toroids.lat_limit_deg) for c in cases]
    record = ct.count_record([(c.target, c.ridge) for c in cases], table, args.min_fit, fluxes)
    if args.cases is None and not ((record[["growth_north", "growth_south"]] == 0).all().all()
            and (record["bits_ew_growth"] == record["bits_ew"]).all()
            and (record["bits_ew_flux_growth"] == record["bits_ew_flux"]).all()):
        raise RuntimeError("static cases with ridge growth: the growth tilts are not degenerate")
    summary = ct.count_summary(record)
    extra = {"targets": [FIRST, LAST], "n_cases": len(cases), "cases": None if args.cases is None else str(args.cases), "min_fit_rotations": args.min_fit,
             "data_dir": str(args.data_dir), "threshold_G": config.toroids.threshold_G,
             "lat_limit_deg": config.toroids.lat_limit_deg, "seconds_cases": round(t_cases, 1),
             "seconds": round(time.perf_counter() - t0, 1),
             "machine": f"{platform.machine()} CPU ({platform.node()}, 2 cores shared), Python {platform.python_version()}"}
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "counts.csv") as tmp:
        record.to_csv(tmp, index=False, float_format="%.8g")
    write_json(args.out / "summary.json", summary | extra)
    text = markdown(summary, record, extra, SHOWN if args.cases is None else
                    ("mean5", "ew", "ew_flux", "ew_growth", "ew_flux_growth"))
    (args.out / "counts.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
