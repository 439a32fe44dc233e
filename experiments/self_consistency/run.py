"""Self-consistency of the PINN state (docs/science.md section 4), one training run per variant of runs.yaml.

Trains the PINN on a toroid set (CR 2280 fitted with M = 2 longitudinal modes, a warped case in which the
'classical' per-longitude balance is not an exact steady state), then starts the forward solver from it
and from the 'naive' and 'classical' starts of the same band, and reports the RMS divergence tendency at
t = 0 and the RMS divergence over the first 2 days, with the ratios PINN / naive and PINN / classical
(the issue's goal: <= 0.1 x naive and below classical). The measurement is
:func:`pinn.chain.diagnostics.self_consistency`, the same code the field-strength sweep uses.

    .venv/bin/python experiments/self_consistency/run.py --label quick_m2 [--set key=value ...]
    .venv/bin/python experiments/self_consistency/run.py --table

Each variant is the base config of runs.yaml plus the variant's overrides (and ``--set``). Trains into
OUT/<label>/ (the `pinn train` outputs, scratch: not kept in the repository), adds the measurement to
OUT/self_consistency_runs.json and merges one row per label into OUT/summary.json (OUT defaults to
experiments/self_consistency).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1].parent
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
RUNS_SPEC = HERE / "runs.yaml"


def read_spec(path: Path = RUNS_SPEC) -> dict:
    """runs.yaml: ``base`` (config, toroids, overrides) and ``variants`` (label -> overrides, balanced)."""
    import yaml

    return yaml.safe_load(path.read_text())


def variant_config(label: str, extra: list[str] = (), spec: dict | None = None):
    """The Config of variant ``label``: base config + base overrides + the variant's + ``extra``."""
    from pinn.config.schema import load_config

    spec = spec or read_spec()
    if label not in spec["variants"]:
        raise SystemExit(f"unknown variant {label!r}; runs.yaml has {', '.join(spec['variants'])}")
    base = spec["base"]
    return load_config(ROOT / base["config"], [f"loss.toroids={ROOT / base['toroids']}", *base["overrides"],
                                               *spec["variants"][label]["overrides"], *extra])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--label", help="variant of runs.yaml to train and measure (its folder under OUT)")
    p.add_argument("--table", action="store_true", help="print OUT/summary.json as a markdown table and exit")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override, after the variant's")
    p.add_argument("--out", default=str(HERE))
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    if args.table:
        rows = json.loads((Path(args.out) / "summary.json").read_text())["rows"]
        print(markdown_table(rows))
        print()
        print(balanced_table(rows))
        return {}
    if not args.label:
        p.error("--label is required unless --table")

    from pinn.chain.diagnostics import residual_rms, self_consistency
    from pinn.io import write_json
    from pinn.training import load_toroids, train_from_config
    from pinn.training.losses import make_problem

    spec = read_spec()
    variant = spec["variants"].get(args.label, {})
    config = variant_config(args.label, args.overrides, spec)
    balanced_run = bool(variant.get("balanced", False))
    toroids = load_toroids(config)
    run_dir = Path(args.out) / args.label
    t0 = time.time()
    result = train_from_config(config, toroids, run_dir, resume=args.resume)
    wall = time.time() - t0
    kG = float(config.physics.band_strength_kG)
    problem = make_problem(config, toroids, kG)
    res = residual_rms(result.model, problem)
    sc = self_consistency(config, result.model, toroids, kG, result.state, balanced=balanced_run)
    row = {
        "label": args.label, "config": spec["base"]["config"], "toroids": Path(spec["base"]["toroids"]).name,
        "overrides": [*spec["base"]["overrides"], *variant["overrides"], *args.overrides], "strength_kG": kG,
        "steps": result.steps, "train_wall_s": round(wall, 1), "final_loss": result.final_loss,
        "pattern_speed": result.pattern_speed, "residual_cos_power": config.loss.residual_cos_power,
        "w_div_tendency": config.loss.w_div_tendency, "lbfgs_steps": config.train.lbfgs_steps,
        **{k: v for k, v in res.items() if k.startswith("res_rms") and not k.endswith("_model")},
    }
    balanced = ("pinn", "naive", "classical") if balanced_run else ()
    measures = ("rms_div_tendency_t0", "rms_div_0_2days", "rms_div_fast_0_2days")
    for start in ("pinn", "naive", "classical", "classical_perlon") + tuple(f"{b}_balanced" for b in balanced):
        for m in measures:
            row[f"{start}_{m.removeprefix('rms_')}"] = sc[start][m]
    for b in balanced:
        row[f"{b}_balanced_change"] = sc["balance"][b]["change"]
    for ref in ("naive", "classical"):
        for p in ("pinn",) + (("pinn_balanced",) if balanced_run else ()):
            for m in measures:
                row[f"ratio_{p}_over_{ref}_{m}"] = sc[f"ratio_{p}_over_{ref}_{m}"]
    runs_path = Path(args.out) / "self_consistency_runs.json"
    runs = json.loads(runs_path.read_text()) if runs_path.exists() else {}
    runs[args.label] = {"row": row, "residuals": res, "self_consistency": sc}
    write_json(runs_path, runs)
    summary_path = Path(args.out) / "summary.json"
    rows = json.loads(summary_path.read_text())["rows"] if summary_path.exists() else []
    rows = [r for r in rows if r["label"] != args.label] + [row]
    write_json(summary_path, {"rows": rows})
    print(json.dumps({k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in row.items()}, indent=1))
    return row


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def markdown_table(rows: list[dict]) -> str:
    """The summary rows as a markdown table: settings, residuals and the four self-consistency ratios."""
    head = ("| variant | cos power p | w_div_tendency | Adam + L-BFGS steps | train s | RMS mom_u, mom_v (cos-weighted / R) | d(div)/dt(0) | "
            "/ naive | / classical | RMS div 0-2 d | / naive | / classical | fast part / naive | / classical |")
    lines = [head, "|" + "|".join([" --- "] * 14) + "|"]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['residual_cos_power']:g} | {r['w_div_tendency']:g} | "
            f"{r['steps'] - r['lbfgs_steps']} + {r['lbfgs_steps']} | {r['train_wall_s']:.0f} | {r['res_rms_mom_u']:.2e}, {r['res_rms_mom_v']:.2e} | "
            f"{r['pinn_div_tendency_t0']:.2e} | {r['ratio_pinn_over_naive_rms_div_tendency_t0']:.2f} | "
            f"{r['ratio_pinn_over_classical_rms_div_tendency_t0']:.2f} | {r['pinn_div_0_2days']:.2e} | "
            f"{r['ratio_pinn_over_naive_rms_div_0_2days']:.2f} | {r['ratio_pinn_over_classical_rms_div_0_2days']:.2f} | "
            f"{_fmt(r.get('ratio_pinn_over_naive_rms_div_fast_0_2days'))} | "
            f"{_fmt(r.get('ratio_pinn_over_classical_rms_div_fast_0_2days'))} |")
    return "\n".join(lines)


def balanced_table(rows: list[dict]) -> str:
    """Rows measured with --balanced: each start before and after the solver-grid balance initialisation."""
    head = ("| variant | start | d(div)/dt(0) | / naive | RMS div 0-2 d | / naive | / classical | fast part | / naive "
            "| change (energy norm) |")
    lines = [head, "|" + "|".join([" --- "] * 10) + "|"]
    for r in rows:
        if "pinn_balanced_div_tendency_t0" not in r:
            continue
        for start in ("pinn", "pinn_balanced", "naive", "naive_balanced", "classical", "classical_balanced"):
            t, d, fast = (r[f"{start}_div_tendency_t0"], r[f"{start}_div_0_2days"], r[f"{start}_div_fast_0_2days"])
            change = r.get(f"{start}_change")
            lines.append(
                f"| {r['label']} | {start} | {t:.2e} | {t / r['naive_div_tendency_t0']:.2g} | {d:.2e} | "
                f"{d / r['naive_div_0_2days']:.2g} | {d / r['classical_div_0_2days']:.2g} | {fast:.2e} | "
                f"{fast / r['naive_div_fast_0_2days']:.2g} | {'-' if change is None else f'{change:.1e}'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
