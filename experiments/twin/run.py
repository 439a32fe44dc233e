"""The twin experiment (issue 20): what the dynamics can add to a forecast of where new ARs emerge, when the model is right.

Truth: after ``--spinup`` rotations (default 2, not scored) from its classical start, a toroidal band per hemisphere (lat +-LAT0_DEG, width WIDTH_DEG, Hale signs, the configuration's
20 kG peak) with a known strength profile s(lon) of two bumps per hemisphere, in pressure balance with the
zonal flow ``physics.zonal_flow`` (``--flow``), integrated by the spectral solver (T42 float32, dt 0.05 as
the forecast configuration) over N_ROT rotations labelled CR0 ... CR0 + N_ROT - 1 (sunpy rotation times),
saved about daily. Observations of rotation k: the synoptic view of |a| (each Carrington longitude at the
time it is at central meridian, pinn.emergence.twin.field_at_observation) on the 1-deg forecast grid.
Synthetic new ARs of rotation k: Poisson(EXPECTED) draws from the emergence law, density proportional to
max(|a| - THRESHOLD_FRAC a0, 0) of that synoptic view (pinn.emergence.twin), for SEEDS realisations.

Forecasts of rotation N + L (L = 1, 2) from information up to N, scored in bits per synthetic AR:
  band       latitude band of the synthetic ARs of rotations N-4..N (pinn.emergence.density.band_density);
  nests      the synthetic ARs of N-2..N as kernels carried at the truth's own flow rate
             (pinn.emergence.carrier.nests_density, 5 deg, mix 0.5, floor 0.05): kinematic, from ARs;
  kin_field  the observed |a| synoptic view of N carried at the truth's flow rate (no dynamics), through the
             same emergence law (floor 0.05): kinematic, from the field;
  kin_fit    the same with each hemisphere's rate measured from the observations (the shift that best
             correlates the ridge |a| of N with that of N - 1, over one rotation; the truth's rate for N = 0);
  kin_state  the TRUE |a| at the last save before the end of N (the physics' own start, perfectly known)
             carried at the truth's flow rate, through the same law: kinematic with perfect knowledge of the
             field, so physics - kin_state is what the dynamics alone add;
  physics    the truth state at the last save before the end of N integrated by the same solver to N + L,
             through the same law (floor 0.05): perfect model and perfect initial condition (upper bound);
  classical  the classical start (band_state, pressure balance: pinn.chain.diagnostics.classical_start) of a
             band at the true latitude, width and strength with the OBSERVED s(lon) of rotation N, integrated
             the same way (physics with an imperfect, observable start).
Paired differences with 95 % paired bootstrap intervals over (rotation, realisation) clusters.

    python experiments/twin/run.py --out experiments/twin --flow surface_features tachocline --seeds 30 --spinup 2
    (experiments/twin/no_spinup: the same with --spinup 0 --out experiments/twin/no_spinup)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import astropy.units as u
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.interpolate import interp1d

import pinn
from pinn import physics
from pinn.emergence import baselines as bl
from pinn.emergence import carrier as cr
from pinn.emergence import density as dn
from pinn.emergence import twin
from pinn.emergence.ridge_model import density_grid
from pinn.physics.bands import Band
from pinn.physics.rotation import PROFILES_NHZ
from pinn.scoring import scores as ev

CR0 = 2250  # label of rotation 0 (its sunpy start time is t = 0 of the truth)
N_ROT = 6
LAT0_DEG = 18.0
WIDTH_DEG = 5.0
N_PROFILE = 72  # s(lon) samples (5 deg)
BUMPS = {  # (centre lon deg, width deg, height) per hemisphere, on a base of 0.5, then mean 1
    "north": ((60.0, 20.0, 1.0), (200.0, 30.0, 0.8)),
    "south": ((130.0, 25.0, 1.0), (290.0, 20.0, 0.7)),
}
THRESHOLD_FRAC = 0.5  # emergence where |a| exceeds 0.5 a0 (a0: the uniform band's peak); 0.8 in a first trial (README)
EXPECTED = 10.0  # new ARs per rotation (both hemispheres)
FLOOR = 0.05  # uniform share of every forecast density
BAND_BACK = 5  # rotations of ARs in the band forecast
SETTINGS = ["solver.truncation=42", "solver.dt=0.05"]
MODELS = ("band", "nests", "kin_field", "kin_fit", "kin_state", "physics", "classical")
PAIRS = (("physics", "kin_state"), ("kin_state", "kin_field"), ("physics", "kin_field"), ("physics", "kin_fit"), ("classical", "kin_fit"), ("kin_fit", "band"), ("physics", "nests"), ("nests", "band"), ("kin_field", "band"),
         ("physics", "band"), ("classical", "kin_field"), ("classical", "band"), ("physics", "classical"))
HERE = Path(__file__).resolve().parent


def profile(bumps) -> tuple[float, ...]:
    """s(lon) samples (mean 1) of Gaussian bumps on a base of 0.5 (periodic distance)."""
    lon = np.arange(N_PROFILE) * 360.0 / N_PROFILE
    s = np.full(N_PROFILE, 0.5)
    for c, w, hgt in bumps:
        d = (lon - c + 180.0) % 360.0 - 180.0
        s += hgt * np.exp(-((d / w) ** 2))
    return tuple(s / s.mean())


def to_forecast_lat(fields: np.ndarray, solver_lat, lat) -> np.ndarray:
    """(..., nlat_solver, nlon) -> (..., len(lat), nlon), linear in latitude, edge values beyond."""
    f = interp1d(np.asarray(solver_lat, float), fields, axis=-2, bounds_error=False,
                 fill_value=(fields[..., 0, :], fields[..., -1, :]))
    return f(lat)


def observed_s(obs: np.ndarray, lat, lat0: float, width: float) -> tuple[float, ...]:
    """s(lon) of one hemisphere from the observed |a| view: its ridge (max within 2 w of lat0) along longitude,
    the band's broad return sheet removed (peak of a0 s(phi) band = a0 [s (1 - c) + c], c = sqrt(pi) w cos / 2),
    resampled at N_PROFILE longitudes and scaled to mean 1. ``obs`` on the 1-deg grid (lon at cell centres)."""
    rows = np.abs(lat - lat0) < 2 * width
    ridge = obs[rows].max(axis=0)
    c = math.sqrt(math.pi) * math.radians(width) / 2.0 * math.cos(math.radians(lat0))
    s = np.maximum(ridge / ridge.mean() - c, 0.05) / (1.0 - c)
    lon_f = (np.arange(obs.shape[1]) + 0.5) * 360.0 / obs.shape[1]
    s_at = twin.periodic_interp(s, lon_f, np.arange(N_PROFILE) * 360.0 / N_PROFILE)
    return tuple(s_at / s_at.mean())


def ridge(obs: np.ndarray, lat, lat0: float, width: float) -> np.ndarray:
    """The observed |a| view's ridge along longitude: max over rows within 2 w of lat0."""
    return obs[np.abs(lat - lat0) < 2 * width].max(axis=0)


def fitted_shift_deg(before: np.ndarray, after: np.ndarray) -> float:
    """Shift (deg, 1-deg grid, in (-180, 180]) that best maps ``before`` onto ``after`` (max circular correlation)."""
    b, a = before - before.mean(), after - after.mean()
    corr = [float(np.dot(np.roll(b, k), a)) for k in range(len(b))]
    k = int(np.argmax(corr))
    step = 360.0 / len(b)
    return (k * step + 180.0) % 360.0 - 180.0 if k * step != 180.0 else 180.0


def run_flow(flow_name: str, seeds: int, fc, spinup_rotations: int) -> tuple[pd.DataFrame, dict]:
    t0 = time.time()
    config = pinn.load_config(None, SETTINGS + [f"physics.zonal_flow={flow_name}"])
    solver = pinn.solver_for(config)
    units = pinn.model_units(config.physics)
    flow = pinn.zonal_flow(config.physics)
    a0 = pinn.band_strength(config.physics)
    drift = units.frame_drift_deg_per_day()
    nHz = PROFILES_NHZ[flow_name]
    true_rate = cr.from_sidereal_deg_day(tuple(x * 1e-9 * 86400.0 * 360.0 for x in nHz))  # Carrington deg/day
    lat, lon = density_grid(fc)
    rate_rows = cr.rate_deg_per_day(lat, true_rate)
    t_start = bl.rotation_start_jd(np.arange(CR0, CR0 + N_ROT + 1))
    bounds = t_start - t_start[0]  # rotation k spans [bounds[k], bounds[k + 1]) days

    def t_obs(k: int) -> np.ndarray:
        return bl.observed_jd(np.full(lon.shape, CR0 + k), lon) - t_start[0]

    bands = (Band(LAT0_DEG, WIDTH_DEG, (), (), -1, profile(BUMPS["north"])),
             Band(-LAT0_DEG, WIDTH_DEG, (), (), 1, profile(BUMPS["south"])))
    start = physics.band_state(solver, bands, a0, flow=flow)
    if spinup_rotations > 0:  # let the classical start's adjustment happen before rotation 0
        spin = solver.integrate(start, solver.n_steps_for(units.time_to_model(spinup_rotations * 27.2753 * u.day)))
        start = jax.tree.map(lambda x: x[-1], spin.states)
    save_every = solver.n_steps_for(units.time_to_model(1.0 * u.day))
    day_per_save = units.time_from_model(save_every * solver.dt).to_value(u.day)
    n_save = math.ceil((bounds[-1] + 1.0) / day_per_save)
    traj = solver.integrate(start, save_every * n_save, save_every)
    days = np.asarray(traj.time, float) * units.time_from_model(1.0).to_value(u.day)
    abs_a = to_forecast_lat(np.abs(np.asarray(solver.to_nodal(traj.states)["a"], np.float64)), solver.lat, lat)
    t_truth = time.time() - t0

    views = [twin.field_at_observation(days, abs_a, solver.lon, lon, t_obs(k), drift) for k in range(N_ROT)]
    threshold = THRESHOLD_FRAC * a0
    truth = [twin.law_density(v, lat, lon, threshold) for v in views]

    # forecasts from each N with a target N + 1 inside the run: physics (truth state) and classical (observed s)
    origins = list(range(N_ROT - 1))
    i_start = [int(np.searchsorted(days, bounds[n + 1], side="right") - 1) for n in origins]
    span = max(bounds[min(n + 3, N_ROT)] - days[i] for n, i in zip(origins, i_start)) + 1.0
    n_fc = math.ceil(span / day_per_save)
    perfect = [jax.tree.map(lambda x, i=i: x[i], traj.states) for i in i_start]
    classical = []
    for n, i in zip(origins, i_start):
        shift = drift * days[i]  # Carrington = model + drift t: s in the model frame at the start time
        s_model = [twin.periodic_interp(np.asarray(observed_s(views[n], lat, sgn * LAT0_DEG, WIDTH_DEG)),
                                        np.arange(N_PROFILE) * 360.0 / N_PROFILE,
                                        np.arange(N_PROFILE) * 360.0 / N_PROFILE + shift) for sgn in (1, -1)]
        obs_bands = (Band(LAT0_DEG, WIDTH_DEG, (), (), -1, tuple(s_model[0] / s_model[0].mean())),
                     Band(-LAT0_DEG, WIDTH_DEG, (), (), 1, tuple(s_model[1] / s_model[1].mean())))
        classical.append(physics.band_state(solver, obs_bands, a0, balance="pressure", flow=flow))
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), *(perfect + classical))
    fc_traj = solver.integrate_ensemble(batch, save_every * n_fc, save_every)
    fc_abs = to_forecast_lat(np.abs(np.asarray(solver.to_nodal(fc_traj.states)["a"], np.float64)), solver.lat, lat)
    fc_days = np.asarray(fc_traj.time[0], float) * units.time_from_model(1.0).to_value(u.day)
    t_forecast_run = time.time() - t0 - t_truth

    def law_or_uniform(field):
        try:
            return twin.law_density(field, lat, lon, threshold, FLOOR)
        except ValueError:
            return dn.uniform_density(lat, lon)

    physics_fc, field_fc, fit_fc, fitted_rates, pattern_corr, state_fc = {}, {}, {}, {}, {}, {}
    for k, n in enumerate(origins):
        for lead in (1, 2):
            target = n + lead
            if target >= N_ROT:
                continue
            for name, member in (("physics", k), ("classical", len(origins) + k)):
                view = twin.field_at_observation(fc_days + days[i_start[k]], fc_abs[member], solver.lon, lon,
                                                 t_obs(target), drift)
                physics_fc[(name, n, lead)] = law_or_uniform(view)
            carried = twin.carry_field(views[n], lat, lon, rate_rows, t_obs(target) - t_obs(n))
            field_fc[(n, lead)] = law_or_uniform(carried)
            band_rows = np.abs(np.abs(lat) - LAT0_DEG) < 2 * WIDTH_DEG
            pattern_corr[f"N={n} lead={lead}"] = {
                "carried_at_flow_rate": float(np.corrcoef(carried[band_rows].ravel(), views[target][band_rows].ravel())[0, 1]),
                "not_carried": float(np.corrcoef(views[n][band_rows].ravel(), views[target][band_rows].ravel())[0, 1]),
            }
            t_i = days[i_start[k]]
            snap = twin.periodic_interp(abs_a[i_start[k]], solver.lon, lon - drift * t_i)  # Carrington frame at t_i
            state_fc[(n, lead)] = law_or_uniform(twin.carry_field(snap, lat, lon, rate_rows, t_obs(target) - t_i))
            fit_rows = rate_rows.copy()
            if n > 0:
                for sgn in (1, -1):
                    r0, r1 = (ridge(views[k], lat, sgn * LAT0_DEG, WIDTH_DEG) for k in (n - 1, n))
                    rate = fitted_shift_deg(r0, r1) / float(np.diff(bounds)[n - 1])
                    fitted_rates[(n, sgn)] = rate
                    fit_rows[(lat > 0) if sgn > 0 else (lat < 0)] = rate
            fit_fc[(n, lead)] = law_or_uniform(twin.carry_field(views[n], lat, lon, fit_rows,
                                                                t_obs(target) - t_obs(n)))

    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng([20, seed])
        ars = pd.concat([twin.sample_ars(truth[k], EXPECTED, rng).assign(cr=CR0 + k) for k in range(N_ROT)],
                        ignore_index=True)
        for n in origins:
            known = ars[ars["cr"] <= CR0 + n]
            for lead in (1, 2):
                target = n + lead
                if target >= N_ROT:
                    continue
                hit = ars[ars["cr"] == CR0 + target]
                if len(hit) == 0:
                    continue
                band_hist = known[known["cr"] > CR0 + n - BAND_BACK]
                dens = {
                    "band": dn.band_density(band_hist, lat, lon),
                    "nests": cr.nests_density(known, CR0 + target, lat, lon,
                                              bl.NestParams(width_deg=5.0, n_rotations=2 + lead, mix=0.5, floor=FLOOR),
                                              true_rate),
                    "kin_field": field_fc[(n, lead)],
                    "kin_fit": fit_fc[(n, lead)],
                    "kin_state": state_fc[(n, lead)],
                    "physics": physics_fc[("physics", n, lead)],
                    "classical": physics_fc[("classical", n, lead)],
                }
                bits = {m: ev.log2_likelihood(dens[m], hit["lat"].values, hit["lon"].values) for m in MODELS}
                for j in range(len(hit)):
                    rows.append({"flow": flow_name, "lead": lead, "origin": n, "target": target, "seed": seed,
                                 "lat": float(hit["lat"].values[j]), "lon": float(hit["lon"].values[j])}
                                | {f"bits_{m}": float(bits[m][j]) for m in MODELS})
    # the re-integrated truth agrees with the truth run (same solver, same state): a check of determinism
    k_chk = 0
    same = twin.field_at_observation(fc_days + days[i_start[k_chk]], fc_abs[k_chk], solver.lon, lon, t_obs(1), drift)
    meta = {
        "zonal_flow": flow_name, "true_rate_carrington_deg_day_ABC": list(true_rate),
        "a0_model": a0, "threshold_model": threshold, "frame_drift_deg_day": drift,
        "day_per_save": day_per_save, "rotation_days": np.diff(bounds).tolist(),
        "reintegrated_truth_max_rel_diff": float(np.max(np.abs(same - views[1])) / np.max(views[1])),
        "truth_ridge_max_over_a0_by_rotation": [float(v.max() / a0) for v in views],
        "truth_share_above_threshold_by_rotation": [float(np.mean(v > threshold)) for v in views],
        "fitted_rates_deg_day": {f"N={n} {'north' if sgn > 0 else 'south'}": r for (n, sgn), r in fitted_rates.items()},
        "band_pattern_correlation_with_target_view": pattern_corr,
        "true_rate_at_lat0_deg_day": float(cr.rate_deg_per_day(LAT0_DEG, true_rate)),
        "seconds_truth": round(t_truth, 1), "seconds_forecast_integration": round(t_forecast_run, 1),
        "seconds_total": round(time.time() - t0, 1),
    }
    return pd.DataFrame(rows), meta


def summarise(df: pd.DataFrame) -> dict:
    out: dict = {}
    for (flow, lead), g in df.groupby(["flow", "lead"]):
        cluster = g["target"].values * 1000 + g["seed"].values
        entry = {"n_ars": len(g), "n_clusters": len(np.unique(cluster)),
                 "mean_bits": {m: float(g[f"bits_{m}"].mean()) for m in MODELS}, "uniform_bits": ev.UNIFORM_BITS,
                 "differences": {}}
        for a, b in PAIRS:
            iv = ev.paired_bootstrap(g[f"bits_{a}"].values - g[f"bits_{b}"].values, cluster)
            entry["differences"][f"{a} - {b}"] = [iv.mean, iv.low, iv.high]
        out[f"{flow}/lead{lead}"] = entry
    return out


def table(summary: dict) -> str:
    lines = ["| truth flow / lead | ARs (clusters) | " + " | ".join(MODELS) + " |",
             "| --- | --- | " + " | ".join("---" for _ in MODELS) + " |"]
    for key, e in summary.items():
        lines.append(f"| {key} | {e['n_ars']} ({e['n_clusters']}) | "
                     + " | ".join(f"{e['mean_bits'][m]:+.3f}" for m in MODELS) + " |")
    lines += ["", "| paired difference (bits/AR, 95 % bootstrap) | " + " | ".join(summary) + " |",
              "| --- | " + " | ".join("---" for _ in summary) + " |"]
    for a, b in PAIRS:
        k = f"{a} - {b}"
        lines.append(f"| {k} | " + " | ".join("{:+.3f} [{:+.3f}, {:+.3f}]".format(*e["differences"][k])
                                             for e in summary.values()) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--flow", nargs="+", default=["surface_features"], choices=("surface_features", "tachocline"))
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--spinup", type=int, default=2, help="rotations integrated before rotation 0 (not scored)")
    args = ap.parse_args()
    t0 = time.time()
    fc = pinn.load_config(None, SETTINGS).forecast
    frames, metas = [], {}
    for flow_name in args.flow:
        df, meta = run_flow(flow_name, args.seeds, fc, args.spinup)
        frames.append(df)
        metas[flow_name] = meta
        print(json.dumps(meta), flush=True)
    df = pd.concat(frames, ignore_index=True)
    summary = summarise(df)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "command": f"python experiments/twin/run.py --out {args.out} --flow "
                   + " ".join(args.flow) + f" --seeds {args.seeds} --spinup {args.spinup}",
        "machine": f"{platform.machine()} CPU, 2 cores shared (Python {platform.python_version()}, JAX {jax.__version__})",
        "settings": SETTINGS, "cr0": CR0, "n_rotations": N_ROT, "lat0_deg": LAT0_DEG, "width_deg": WIDTH_DEG,
        "bumps": BUMPS, "threshold_frac_a0": THRESHOLD_FRAC, "expected_per_rotation": EXPECTED, "floor": FLOOR,
        "seeds": args.seeds, "spinup_rotations": args.spinup, "truth": metas, "summary": summary, "seconds_total": round(time.time() - t0, 1),
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=1))
    (args.out / "table.md").write_text(table(summary))
    df.to_csv(args.out / "per_ar.csv", index=False, float_format="%.4f")
    print(table(summary))
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
