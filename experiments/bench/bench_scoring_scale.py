"""How the scoring of a hindcast grows with the number of rotations scored (issue 19: 130 rotations in 15 minutes).

The causal fits make scoring grow faster than linearly: rotation k is scored with fits on the k-1 before it. The
development hindcast has 38 rotations, so the time of scoring 130 is measured here on a stand-in: the saved cases of
a hindcast, relabelled in turn onto the last ``size`` rotations with ARs up to the last development target (CR 2282),
each scored against the ARs that really emerged in its new rotation. The ridges then belong to other rotations, so
the scores mean nothing; the work is the real work of scoring that many rotations with every registered model
(same grids, same number of features, real AR counts per rotation, causal fits from scratch: an empty fit cache per
size; the data-only record of the whole ARISE table is the cached one, as for any hindcast after the first).

    python experiments/bench/bench_scoring_scale.py HINDCAST_DIR --sizes 38,76,130 \\
        --out experiments/bench/scoring_scale_cpu.json

Writes per size: the wall time of :func:`pinn.chain.hindcast.rescore`, the time of its causal fits, and the
exponent of time against size between consecutive sizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments" / "bench"))
from bench_hindcast import command_line, machine, report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hindcast_dir", type=Path, help="a hindcast's output with cases/")
    p.add_argument("--config", type=Path, default=REPO / "pinn" / "config" / "forecast.yaml")
    p.add_argument("--sizes", default="38,76,130")
    p.add_argument("--last", type=int, default=2282, help="last scored rotation")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()

    from pinn.chain import hindcast as hc
    from pinn.chain.case import Case
    from pinn.config.schema import load_config
    from pinn.data.arise import load_arise
    from pinn.data.bundled import arise_table
    from pinn.emergence import data_only_cache

    load_start = os.getloadavg()
    cases = [Case.load(f) for f in sorted((args.hindcast_dir / "cases").glob("cr*.nc"))]
    table = load_arise(arise_table())
    config = load_config(args.config)
    with_ars = sorted(int(c) for c in table["cr"].unique() if c <= args.last)
    data_only_dir = data_only_cache.default_cache_dir()
    timed = {"fits_s": 0.0}
    real_causal = hc.causal_params

    def causal_params(*a, **k):
        t0 = time.perf_counter()
        out = real_causal(*a, **k)
        timed["fits_s"] += time.perf_counter() - t0
        return out

    hc.causal_params = causal_params
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        targets = with_ars[-size:]
        stand_ins = [dataclasses.replace(cases[j % len(cases)], cr=t - 1) for j, t in enumerate(targets)]
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "pinn").mkdir()
            (Path(tmp) / "pinn" / "data_only").symlink_to(data_only_dir)  # the record cached, the fits not
            os.environ["XDG_CACHE_HOME"] = tmp
            timed["fits_s"] = 0.0
            t0 = time.perf_counter()
            result = hc.rescore(stand_ins, table, config)
            wall = time.perf_counter() - t0
        results.append({"rotations": size, "first": targets[0], "last": targets[-1],
                        "n_ars": int(result.summary["n_ars"]), "rescore_s": wall, "causal_fits_s": timed["fits_s"],
                        "load_average": os.getloadavg()})
        print(json.dumps(results[-1]), flush=True)
    for a, b in itertools.pairwise(results):
        b["exponent_vs_previous"] = math.log(b["rescore_s"] / a["rescore_s"]) / math.log(b["rotations"] / a["rotations"])
    summary = {"machine": {**machine(), "load_average_start": load_start, "load_average_end": os.getloadavg()},
               "hindcast_dir": str(args.hindcast_dir), "command": command_line(), "sizes": results}
    report(summary, args.out)


if __name__ == "__main__":
    main()
