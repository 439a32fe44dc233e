"""What the magnetograms add to the AR catalogue: the map channel on the development rotations, no physics.

For every rotation N with a map (and ARISE ARs in N+1) the case is built without training or integration
(:func:`pinn.chain.case.static_case`: the toroids of the maps up to N), then the registered models are scored
causally by the package (:func:`pinn.chain.hindcast.rescore`): the latitude band, the causal data-only forecast,
the hybrid on the current toroids, and the hybrid with the map channel (:mod:`pinn.emergence.map_channel`: the
latest map's strong flux carried one rotation at the surface rate; settings fixed a priori).

    python experiments/map_channel/run.py --data-dir DIR [--out experiments/map_channel] [--first 2241 --last 2283]

DIR holds the maps ``*.<CR>.fits`` (``pinn.data.observations.fetch_synoptic`` downloads them from JSOC) and
optionally the ARISE table (default: the bundled one).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from pinn.chain import hindcast as hc
from pinn.chain.case import static_case
from pinn.config.schema import load_config
from pinn.data.arise import ars_of, load_arise
from pinn.data.bundled import default_forecast_config
from pinn.emergence.ridge_model import density_grid

HERE = Path(__file__).resolve().parent
MODELS = ("band", "data_only", "hybrid_static", "hybrid_map")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--config", type=Path, default=default_forecast_config())
    p.add_argument("--first", type=int, default=2241, help="first scored rotation N+1")
    p.add_argument("--last", type=int, default=2283, help="last scored rotation N+1")
    args = p.parse_args()
    t0 = time.time()
    config = load_config(args.config)
    maps = hc.find_maps(args.data_dir)
    table = load_arise(hc.find_arise(args.data_dir))
    ns = [n for n in sorted(maps) if args.first <= n + 1 <= args.last and len(ars_of(table, n + 1))]
    cases = [static_case([maps[c] for c in hc.trailing_run(maps, n, config.toroids.window)], config) for n in ns]
    t_cases = time.time() - t0
    lat, lon = density_grid(config.forecast)
    record = hc.data_only_record(table, lat, lon, max(n + 1 for n in ns))
    result = hc.rescore(cases, table, config, models=MODELS, data_only=record)
    args.out.mkdir(parents=True, exist_ok=True)
    result.summary.update({"command": f"python experiments/map_channel/run.py --data-dir DIR --first {args.first} "
                                      f"--last {args.last}",
                           "machine": f"{platform.machine()} CPU, {platform.python_version()}",
                           "seconds_cases": round(t_cases, 1), "seconds_total": round(time.time() - t0, 1)})
    hc.write_results(result, args.out)
    s = result.summary
    print(json.dumps({"mean_bits": s["mean_bits"], "n_ars": s["n_ars"], "n_rotations": s["n_rotations"]}, indent=1))
    for k, v in s["differences_bits"].items():
        print(f"{k}: {v['mean']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]")


if __name__ == "__main__":
    main()
