"""Known-drift twin: can the time-dependent PINN read a pattern's drift (and the flow that carries it) from
maps at several times, and what does the steady formulation make of the same case?

Synthetic toroids (pinn.training.timedep.drifting_bump_series): antisymmetric bands at +-20 deg whose strength
bump drifts eastward at a known rate in the model frame; 3 maps one Carrington rotation apart. Trained with
experiments/timedep/drift.yaml, formulation time_dependent (all maps) and steady (the latest map only).

    PYTHONPATH=. nice -n 19 python experiments/timedep/drift.py [--rate 0.03] [--out result.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from pinn.config.schema import load_config
from pinn.training import train
from pinn.training.timedep import drifting_bump_series, network_drift, zonal_angular_rate

HERE = Path(__file__).resolve().parent


def run(rate: float = 0.03, config_path: Path = HERE / "drift.yaml", overrides: tuple[str, ...] = ()) -> dict:
    """Train both formulations on the known-drift series; the recovered rates (rad per model time unit)."""
    cfg = load_config(config_path, list(overrides))
    series = drifting_bump_series(cfg, rate)
    lat = abs(series.latest.north.lat0_deg)
    out: dict = {"overrides": list(overrides), "true_rate": rate, "maps": len(series.toroids), "days": list(series.days)}
    td = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, formulation="time_dependent"))
    t0 = time.perf_counter()
    res = train(td, series)
    window = (res.model.time_norm[...][0] - res.model.time_norm[...][1],
              res.model.time_norm[...][0] + res.model.time_norm[...][1])
    t_first, t_last = float(window[0]), float(window[1])
    out["time_dependent"] = {
        "wall_s": time.perf_counter() - t0,
        "pattern_drift": network_drift(res.model, lat, t_first, t_last),
        "flow_rate_mid": zonal_angular_rate(res.model, lat, 0.5 * (t_first + t_last)),
        "flow_rate_tN": zonal_angular_rate(res.model, lat, t_last),
        "final_terms": res.final_terms,
    }
    t0 = time.perf_counter()
    st = train(cfg, series.latest)
    out["steady"] = {
        "wall_s": time.perf_counter() - t0,
        "pattern_speed": st.pattern_speed,
        "flow_rate": zonal_angular_rate(st.model, lat),
        "final_terms": st.final_terms,
    }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rate", type=float, default=0.03)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("overrides", nargs="*")
    a = p.parse_args()
    out = run(a.rate, overrides=tuple(a.overrides))
    text = json.dumps(out, indent=1)
    print(text)
    if a.out is not None:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
