"""Field-strength x band-width sweep of the PINN MHD-SWT state on CR 2280 (docs/science.md sections 1, 4).

For each (strength, width) case: train the PINN on the CR 2280 toroids (one ``train_ensemble`` program
per width, all strengths vmapped; the compiled chunk is memoised, so later widths do not recompile),
then measure PDE residuals, toroid match, antisymmetry and the energy partition. For the default case
(config strength, observed width) also measure self-consistency (docs/science.md section 4, ``pinn.chain.diagnostics.self_consistency``):
RMS divergence tendency at t = 0 and RMS divergence over the first 2 days of a solver run from the PINN
state, compared with the 'naive' and 'classical' starts of the same band.

    .venv/bin/python experiments/field_strength/sweep.py --quick          # CPU smoke test (< 3 min)
    python experiments/field_strength/sweep.py                            # GPU, ~6 min budget

Outputs (in --out): results.csv, results.json (rows + self_consistency + run info), written after each
case; state_<kG>kG_w<width>.nc per case (non-quick only, if small).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

T0 = time.time()


def say(msg: str) -> None:
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Diagnostics on a lat-symmetric cell-centre grid


def sphere_weights(lat_deg, nlon):
    """Area weights (sum 4 pi) of a uniform cell-centre (lat, lon) grid."""
    lat = np.radians(lat_deg)
    dlat = math.pi / len(lat_deg)
    dlon = 2 * math.pi / nlon
    w = np.cos(lat)[:, None] * dlat * dlon * np.ones((1, nlon))
    return w * (4 * math.pi / w.sum())


def ridge_lat(a, lat_deg, north: bool, lat_limit=60.0):
    """Per longitude: latitude of max |a| in a hemisphere (|lat| < lat_limit), parabolic refinement."""
    sel = (lat_deg > 0) & (lat_deg < lat_limit) if north else (lat_deg < 0) & (lat_deg > -lat_limit)
    idx = np.where(sel)[0]
    sub = np.abs(a[idx])  # (nsel, nlon)
    k = np.argmax(sub, axis=0)
    dl = lat_deg[1] - lat_deg[0]
    out = lat_deg[idx][k].astype(float)
    inner = (k > 0) & (k < len(idx) - 1)
    j = np.arange(sub.shape[1])
    km, kp = np.clip(k - 1, 0, len(idx) - 1), np.clip(k + 1, 0, len(idx) - 1)
    y0, y1, y2 = sub[km, j], sub[k, j], sub[kp, j]
    den = y0 - 2 * y1 + y2
    off = np.where(inner & (np.abs(den) > 0), 0.5 * (y0 - y2) / np.where(den == 0, 1, den), 0.0)
    return out + np.clip(off, -0.5, 0.5) * dl


def ridge_centroid(a, lat_deg, north: bool, lat_limit=60.0):
    """Per longitude: |a|^2-weighted centroid latitude of max(|a| - max|a|/2, 0) in a hemisphere."""
    sel = (lat_deg > 0) & (lat_deg < lat_limit) if north else (lat_deg < 0) & (lat_deg > -lat_limit)
    sub = np.abs(a[sel])
    w = np.maximum(sub - 0.5 * sub.max(axis=0, keepdims=True), 0.0) ** 2
    return np.sum(w * lat_deg[sel][:, None], axis=0) / np.maximum(np.sum(w, axis=0), 1e-300)


def diagnostics(f, lat, lon, toroids, gravity):
    """Toroid match, antisymmetry, energy partition of fields f (u, v, h, a, b) on (lat, lon) degrees."""
    w = sphere_weights(lat, len(lon))
    out = {}
    for name, hemi, north in (("north", toroids.north, True), ("south", toroids.south, False)):
        if hemi is None:
            out[f"ridge_rms_dlat_{name}_deg"] = math.nan
            out[f"centroid_rms_dlat_{name}_deg"] = math.nan
            continue
        obs = np.asarray(hemi.centre_lat_deg(lon), float)
        out[f"ridge_rms_dlat_{name}_deg"] = float(np.sqrt(np.mean((ridge_lat(f["a"], lat, north) - obs) ** 2)))
        out[f"centroid_rms_dlat_{name}_deg"] = float(
            np.sqrt(np.mean((ridge_centroid(f["a"], lat, north) - obs) ** 2)))
    a = f["a"]
    anti = 0.5 * (a - a[::-1])  # lat grid symmetric about the equator
    out["antisym_index"] = float(np.sum(w * anti**2) / max(np.sum(w * a**2), 1e-300))
    u, v, h, b = f["u"], f["v"], f["h"], f["b"]
    zm = lambda x: x.mean(axis=1, keepdims=True)
    dens = {
        "kinetic": (0.5 * h * (u * u + v * v), 0.5 * zm(h) * (zm(u) ** 2 + zm(v) ** 2)),
        "magnetic": (0.5 * h * (a * a + b * b), 0.5 * zm(h) * (zm(a) ** 2 + zm(b) ** 2)),
        "potential": (0.5 * gravity * (h - 1.0) ** 2, 0.5 * gravity * (zm(h) - 1.0) ** 2),
    }
    for k, (tot, m0) in dens.items():
        e_tot = float(np.sum(w * tot))
        e_m0 = float(np.sum(w * np.broadcast_to(m0, tot.shape)))
        out[f"E_{k}_m0"] = e_m0
        out[f"E_{k}_m1plus"] = e_tot - e_m0
        out[f"E_{k}_total"] = e_tot
    return out


def forecast_match(ds, config, toroids, next_toroids, days=42.0):
    """Forward-integrate a gridded PINN state and compare its toroids with the next rotation's.

    The state (time: middle of rotation N, the map's reference) is advanced with the solver; the ridge of
    |a| is read at each Carrington longitude's observation time in rotation N+1
    (``pinn.emergence.ridges.toroids_at_observation``, core-frame drift applied) and compared with the centre
    line fitted to map N+1: RMS over longitude per hemisphere (deg). The same RMS for rotation N's own
    observed centre line (no evolution: 'static') and for the PINN ridge at t = 0 are the references.
    """
    from pinn.chain.integration import integrate_state
    from pinn.config.physics import model_units
    from pinn.emergence.ridges import predicted_toroids, toroids_at_observation

    lon = np.arange(0.5, 360.0, 1.0)
    traj = integrate_state(ds, config, days)
    pred = predicted_toroids(traj, config.forecast.ridge_lat_limit_deg)
    drift = model_units(config.physics).frame_drift_deg_per_day()
    at_obs = toroids_at_observation(pred, lon, drift)
    out = {}
    for name in ("north", "south"):
        nxt, now = getattr(next_toroids, name), getattr(toroids, name)
        if nxt is None or now is None:
            for k in ("next_rms_dlat", "static_rms_dlat", "t0_rms_dlat"):
                out[f"{k}_{name}_deg"] = math.nan
            continue
        obs_next = np.asarray(nxt.centre_lat_deg(lon), float)
        predicted = at_obs["ridge_lat"].sel(hemisphere=name).values
        ridge0 = np.interp(lon, pred["lon"].values, pred["ridge_lat"].sel(hemisphere=name).values[0], period=360.0)
        out[f"next_rms_dlat_{name}_deg"] = float(np.sqrt(np.mean((predicted - obs_next) ** 2)))
        out[f"static_rms_dlat_{name}_deg"] = float(np.sqrt(np.mean((np.asarray(now.centre_lat_deg(lon)) - obs_next) ** 2)))
        out[f"t0_rms_dlat_{name}_deg"] = float(np.sqrt(np.mean((ridge0 - obs_next) ** 2)))
    out["forecast_h_min"] = float(traj["h"].min())
    return out


_FV_JIT = None


def eval_fields(model, lat_deg, lon_deg):
    """pinn.training.evaluate_fields with one module-level jit (compiled once for all members/grids
    of the same shape, instead of once per call); passed to pinn.chain.diagnostics.self_consistency."""
    global _FV_JIT
    import jax
    import jax.numpy as jnp

    from pinn.training.networks import field_values

    if _FV_JIT is None:
        _FV_JIT = jax.jit(field_values)
    la, lo = np.meshgrid(np.radians(lat_deg), np.radians(lon_deg), indexing="ij")
    fv = _FV_JIT(model, jnp.asarray(la, jnp.float32), jnp.asarray(lo, jnp.float32))
    out = {k: np.asarray(v) for k, v in zip(("u", "v", "h", "a", "b"), fv.fields)}
    out["A"] = np.asarray(fv.A)
    return out


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny network/steps/cases: CPU smoke test")
    p.add_argument("--out", default=str(ROOT / "experiments/field_strength"))
    p.add_argument("--config", default=str(ROOT / "configs/quick.yaml"))
    p.add_argument("--strengths", type=float, nargs="+", default=None, help="kG (default 2 5 10 20 30 50 100)")
    p.add_argument("--widths", nargs="+", default=None,
                   help="'obs' (fitted widths) and/or fixed widths in degrees (default: obs 6 10)")
    p.add_argument("--steps", type=int, default=None, help="Adam steps per case (default train.adam_steps)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="training wall budget (all widths); steps are cut to fit, from a timed chunk (default 200; quick 60)")
    p.add_argument("--no-self-consistency", action="store_true")
    p.add_argument("--toroids", default=None, help="toroids JSON (default: the config's loss.toroids)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override (repeatable), applied after --quick's")
    p.add_argument("--next-toroids", default=None,
                   help="toroids JSON of the next rotation: forward-integrate each state and score its toroids")
    args = p.parse_args(argv)

    from pinn.chain.diagnostics import residual_rms, self_consistency
    from pinn.config.schema import load_config
    from pinn.io import write_json, write_netcdf, write_text
    from pinn.training import load_toroids, output_grid, read_toroids_json, state_dataset, train_ensemble
    from pinn.training.losses import make_problem

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # pinn.chain.diagnostics reports each start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = []
    if args.quick:
        overrides = ["network.width=16", "network.depth=2", "network.fourier_features=8",
                     "loss.collocation_points=256", "loss.quadrature_lats=16", "loss.quadrature_lons=8",
                     "train.adam_steps=60", "train.steps_per_call=30", "train.checkpoint_every=30",
                     "train.warmup_steps=10", "train.output_nlat=60", "train.output_nlon=120"]
    overrides += args.overrides
    if args.toroids:
        overrides.append(f"loss.toroids={args.toroids}")
    config = load_config(args.config, overrides)
    next_toroids = read_toroids_json(args.next_toroids) if args.next_toroids else None
    strengths = args.strengths or ([2.0, 20.0] if args.quick else [2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0])
    widths = args.widths or (["obs", "10"] if args.quick else ["obs", "6", "10"])
    steps0 = args.steps or config.train.adam_steps
    budget = args.budget_s if args.budget_s is not None else (60.0 if args.quick else 200.0)
    default_kG = float(config.physics.band_strength_kG)

    import jax

    say(f"devices: {jax.devices()}; config {args.config}{' (quick overrides)' if args.quick else ''}; "
        f"strengths {strengths} kG; widths {widths}; {steps0} Adam steps; training budget {budget:.0f} s")
    toroids = load_toroids(config)
    say(f"toroids CR {toroids.cr}: north {toroids.north and (round(toroids.north.lat0_deg, 2), round(toroids.north.width_deg, 2))}, "
        f"south {toroids.south and (round(toroids.south.lat0_deg, 2), round(toroids.south.width_deg, 2))} (lat0, width deg)")

    lat, lon = output_grid(config.train.output_nlat, config.train.output_nlon)
    rows, sc = [], None
    info = {"config": str(args.config), "overrides": overrides, "quick": args.quick, "strengths_kG": strengths, "widths": widths,
            "devices": [str(d) for d in jax.devices()], "toroids": toroids.to_json_dict(),
            "notes": {
                "res_rms_*": "sqrt(mean((cos(lat) residual / R)^2)) on 8192 fixed area-uniform points; R = "
                             "residual_scale_R = max(max|u0|, a0) (depends on strength); *_model = times R",
                "ridge_rms_dlat_*": "RMS over longitude of (latitude of max|a| in the hemisphere, |lat|<60) - "
                                    "observed centre line lam_c(lon), degrees",
                "centroid_rms_dlat_*": "same with the centroid of max(|a| - max|a|/2, 0)^2",
                "antisym_index": "sum w a_anti^2 / sum w a^2, a_anti(lat) = (a(lat) - a(-lat))/2; 1 = antisymmetric",
                "E_*": "sphere integrals (model units): kinetic h|u|^2/2, magnetic h|B|^2/2, potential "
                       "G(h-1)^2/2; m0 = from zonal means of the fields, m1plus = total - m0",
                "width_deg_north/south": "band width applied in each hemisphere (observed fit or the override)",
            }}
    # warm-up: compile the chunk program (memoised by config), then time one chunk to size the steps
    K = config.train.steps_per_call
    t1 = time.time()
    train_ensemble(config, toroids, strengths_kG=strengths, steps=K)
    t_compile = time.time() - t1
    t1 = time.time()
    train_ensemble(config, toroids, strengths_kG=strengths, steps=K)
    per_step = (time.time() - t1) / K
    fit = int(budget / (len(widths) * per_step))
    if fit < steps0:
        steps0 = max(K, fit // K * K)
        say(f"budget: {steps0} Adam steps per width (measured {per_step * 1e3:.1f} ms/step for "
            f"{len(strengths)} members; compile + first chunk {t_compile:.1f} s)")
    else:
        say(f"timing: {per_step * 1e3:.1f} ms/step for {len(strengths)} members (compile + first chunk "
            f"{t_compile:.1f} s); {steps0} steps x {len(widths)} widths fit the budget")
    info.update({"ms_per_step": per_step * 1e3, "compile_s": t_compile, "steps_per_width": steps0})
    t_train = 0.0
    for iw, wspec in enumerate(widths):
        if wspec == "obs":
            tor = toroids
        else:
            wv = float(wspec)
            tor = dataclasses.replace(
                toroids,
                north=None if toroids.north is None else dataclasses.replace(toroids.north, width_deg=wv),
                south=None if toroids.south is None else dataclasses.replace(toroids.south, width_deg=wv))
        steps = steps0
        say(f"width {wspec}: training {len(strengths)} strengths x {steps} steps ...")
        t1 = time.time()
        ens = train_ensemble(config, tor, strengths_kG=strengths, steps=steps)
        dtw = time.time() - t1
        t_train += dtw
        say(f"width {wspec}: trained in {dtw:.1f} s; final loss per member "
            f"{', '.join(f'{x:.2e}' for x in ens.losses[:, -1])}")
        for i, kG in enumerate(strengths):
            model = ens.models[i]
            problem = make_problem(config, tor, kG)
            f = eval_fields(model, lat, lon)
            row = {"strength_kG": kG, "width": wspec,
                   "width_deg_north": None if tor.north is None else float(tor.north.width_deg),
                   "width_deg_south": None if tor.south is None else float(tor.south.width_deg),
                   "steps": steps, "final_loss": float(ens.losses[i, -1]),
                   "pattern_speed": float(model.pattern_speed[...])}
            row.update(residual_rms(model, problem))
            row.update(diagnostics(f, lat, lon, tor, float(config.physics.gravity)))
            row["finite"] = bool(all(np.all(np.isfinite(v)) for v in f.values()))
            rows.append(row)
            ds = None
            if not args.quick or (sc is None and wspec == "obs") or next_toroids is not None:
                ds = state_dataset(model, problem, config, steps=steps, toroids_cr=toroids.cr)
            if next_toroids is not None:
                try:
                    row.update(forecast_match(ds, config, tor, next_toroids))
                except Exception as exc:  # noqa: BLE001  (an unstable state: record it, keep sweeping)
                    row["forecast_error"] = f"{type(exc).__name__}: {exc}"
            if not args.quick:
                nbytes = sum(v.nbytes for v in ds.data_vars.values())
                wtag = "obs" if wspec == "obs" else f"{float(wspec):g}"
                if nbytes < 2e6:
                    write_netcdf(ds, out / f"state_{kG:g}kG_w{wtag}.nc")
            say(f"  {kG:6g} kG w={wspec}: res_rms(mom_u,mom_v,mass,ind_a,ind_b) = "
                f"{', '.join(f'{row[k]:.2e}' for k in ('res_rms_mom_u', 'res_rms_mom_v', 'res_rms_mass', 'res_rms_ind_a', 'res_rms_ind_b'))}; "
                f"data {row['term_data']:.2e}; ridge dlat N/S {row['ridge_rms_dlat_north_deg']:.2f}/"
                f"{row['ridge_rms_dlat_south_deg']:.2f} deg; antisym {row['antisym_index']:.3f}; "
                f"E_mag m>=1/total {row['E_magnetic_m1plus'] / max(row['E_magnetic_total'], 1e-300):.3f}"
                + (f"; next-rotation dlat N/S {row.get('next_rms_dlat_north_deg', math.nan):.2f}/"
                   f"{row.get('next_rms_dlat_south_deg', math.nan):.2f} deg" if next_toroids is not None else ""))
            if (wspec == "obs" and sc is None and not args.no_self_consistency
                    and abs(kG - default_kG) == min(abs(s - default_kG) for s in strengths)):
                say(f"self-consistency at {kG:g} kG, observed width ...")
                try:
                    sc = self_consistency(config, model, tor, kG, ds, evaluate=eval_fields)
                except Exception as exc:  # noqa: BLE001  (keep the sweep going; report the failure)
                    sc = {"error": f"{type(exc).__name__}: {exc}"}
                    say(f"self-consistency failed: {sc['error']}")
            write_results(out, rows, sc, info, write_json, write_text)
    say(f"done; results in {out}")
    return rows, sc


def write_results(out, rows, sc, info, write_json, write_text):
    cols = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    import io

    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=cols)
    wr.writeheader()
    for r in rows:
        wr.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    write_text(out / "results.csv", buf.getvalue())
    write_json(out / "results.json", {"info": info, "rows": rows, "self_consistency": sc,
                                      "elapsed_s": round(time.time() - T0, 1)})


if __name__ == "__main__":
    main()
