"""Rescore saved hindcast cases (no retraining) with every registered emergence model, counts and calibration.

    python experiments/hindcast/score_cases.py CASES_DIR OUT_DIR [--data-from CR] [--arise PATH] [--config FILE]

CASES_DIR holds ``cr*.nc`` from ``pinn hindcast`` (``OUT/cases``). OUT_DIR gets what ``pinn hindcast`` writes
(per_ar.csv, per_rotation.csv, counts.csv, summary.json, fit.json, hindcast.png, reliability.png) through the
package's :func:`pinn.chain.hindcast.rescore` and :func:`~pinn.chain.hindcast.write_results`. ``--data-from``: first
target of the data-only causal record (default: the whole ARISE table, as in experiments/baselines).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pinn.chain import hindcast as hc
from pinn.chain.case import Case
from pinn.config.schema import load_config
from pinn.data.arise import load_arise
from pinn.data.bundled import arise_table, default_forecast_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cases_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--data-from", type=int, default=None)
    p.add_argument("--arise", type=Path, default=arise_table())
    p.add_argument("--config", type=Path, default=default_forecast_config())
    args = p.parse_args()
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    cases = [Case.load(path) for path in sorted(args.cases_dir.glob("cr*.nc"))]
    result = hc.rescore(cases, load_arise(args.arise), load_config(args.config), data_only_from=args.data_from)
    result.summary.update({"cases_dir": str(args.cases_dir), "seconds": round(time.time() - t0, 1)})
    hc.write_results(result, args.out)
    s = result.summary
    print({k: round(v, 4) for k, v in s["mean_bits"].items()})
    for k, v in s["differences_bits"].items():
        print(f"{k}: {v['mean']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]")


if __name__ == "__main__":
    main()
