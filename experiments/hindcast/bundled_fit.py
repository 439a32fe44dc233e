"""Write the fit artifact the main job's forecast reads (pinn/config/fits/cr<N>.json) from saved hindcast cases.

The cases of the development hindcast whose target is at most ``--last`` are rescored with every registered model
(:func:`pinn.chain.hindcast.rescore`, lead 1, the package's forecast config with ``emergence.prior`` as given), and the
fit for the rotation after them is written: every fitted model's parameters on those rotations, the data-only choice
and stack, and the causal model choice (what ``emergence.model: chosen`` forecasts with). So the main job's forecast
of CR 2281 from CR 2276-2280 stays out of sample.

    PYTHONPATH=. python experiments/hindcast/bundled_fit.py CASES_DIR [--last 2280] [--out pinn/config/fits/cr2281.json]
        [--set emergence.prior=data_only_stack ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pinn.chain import hindcast as hc
from pinn.chain.case import Case
from pinn.config.schema import load_config
from pinn.data.arise import load_arise
from pinn.data.bundled import arise_table, default_forecast_config
from pinn.emergence.fit_artifact import write_fit
from pinn.io import file_sha256

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cases_dir", type=Path)
    p.add_argument("--last", type=int, default=2280, help="last scored target (the fit is for the rotation after it)")
    p.add_argument("--out", type=Path, default=None, help="default pinn/config/fits/cr<last+1>.json")
    p.add_argument("--set", action="append", default=["emergence.prior=data_only_stack"], dest="overrides")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    config = load_config(default_forecast_config(), [*args.overrides, "forecast.leads=[1]", "emergence.fit=null"])
    cases = [c for c in (Case.load(path) for path in sorted(args.cases_dir.glob("cr*.nc"))) if c.cr + 1 <= args.last]
    table = load_arise(arise_table())
    result = hc.rescore(cases, table, config)
    out = args.out or ROOT / "pinn" / "config" / "fits" / f"cr{args.last + 1}.json"
    fit = result.fit
    made_by = {"command": "PYTHONPATH=. python experiments/hindcast/bundled_fit.py " + " ".join(
                   [str(args.cases_dir), f"--last {args.last}", *(f"--set {o}" for o in args.overrides)]),
               "cases": f"{len(cases)} saved cases of the development hindcast (CR {cases[0].cr}-{cases[-1].cr}), "
                        f"targets CR {cases[0].target}-{cases[-1].target}",
               "arise_sha256": file_sha256(arise_table()), "overrides": json.dumps(args.overrides),
               "model_choice": json.dumps({k: v for k, v in result.summary["model_choice"].items() if k != "per_target"})}
    write_fit(out, type(fit)(**{**fit.__dict__, "made_by": made_by}))
    print(f"{out}: for CR {fit.for_rotation}, chosen model {fit.chosen_model}, stack {fit.data_only_stack}; "
          f"{time.perf_counter() - t0:.0f} s")
    print({k: round(v, 4) for k, v in result.summary["mean_bits"].items()})


if __name__ == "__main__":
    main()
