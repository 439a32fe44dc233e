"""Known-drift twin: can the time-dependent PINN read a pattern's drift (and the flow that carries it) from
maps at several times, and what does the steady formulation make of the same case?

Synthetic toroids (pinn.training.timedep.drifting_bump_series): antisymmetric bands at +-20 deg whose strength
bump drifts eastward at a known rate in the model frame; 3 maps one Carrington rotation apart. Trained with
experiments/timedep/drift.yaml, formulation time_dependent (all maps) and steady (the latest map only).

    PYTHONPATH=. nice -n 19 python experiments/timedep/drift.py [--rate 0.03] [--out result.json] [--skip-steady]
        [config overrides, e.g. loss.residual_scales=natural]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

from pinn.config.schema import load_config
from pinn.training import train
from pinn.training.networks import solid_body_rate
from pinn.training.residual_scales import EQUATIONS
from pinn.training.timedep import (
    drifting_bump_series,
    maps_drift_rate,
    network_drift,
    problem_for,
    zonal_angular_rate,
)

HERE = Path(__file__).resolve().parent


def run(rate: float = 0.03, config_path: Path = HERE / "drift.yaml", overrides: tuple[str, ...] = (),
        steady: bool = True) -> dict:
    """Train both formulations (``steady`` False: the time-dependent one only) on the known-drift series;
    the recovered rates (rad per model time unit)."""
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
        "residual_rms_model": residual_rms_model(res.final_terms, problem_for(td, series).latest.residual_scales),
        "maps_drift_rate": maps_drift_rate(problem_for(td, series)),
    }
    if res.model.solid_body_rate is not None:  # network.solid_body_flow: its (trained) rotation, started at the maps'
        out["time_dependent"]["solid_body_rate"] = solid_body_rate(res.model)
    if not steady:
        return out
    t0 = time.perf_counter()
    st = train(cfg, series.latest)
    out["steady"] = {
        "wall_s": time.perf_counter() - t0,
        "pattern_speed": st.pattern_speed,
        "flow_rate": zonal_angular_rate(st.model, lat),
        "final_terms": st.final_terms,
    }
    return out


def residual_rms_model(terms: dict, scales) -> dict:
    """RMS of cos(lat) x each residual in model units (the term's sqrt times its scale): comparable across
    residual-scale rules."""
    return {name: math.sqrt(max(terms[name], 0.0)) * float(scales[i]) for i, name in enumerate(EQUATIONS)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rate", type=float, default=0.03)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--skip-steady", action="store_true", help="train the time-dependent formulation only")
    p.add_argument("overrides", nargs="*")
    a = p.parse_args()
    out = run(a.rate, overrides=tuple(a.overrides), steady=not a.skip_steady)
    text = json.dumps(out, indent=1)
    print(text)
    if a.out is not None:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
