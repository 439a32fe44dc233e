"""The model's own carrier, measured: how fast a localised strength bump on a toroidal band moves in longitude.

For each band centre latitude lam_0 in LATS, a zonal antisymmetric band pair (pinn.physics.band_state,
pressure-balanced, default zonal flow u0 and strength of the configuration, width WIDTH_DEG) is
integrated twice by the spectral solver: as is, and with a localised bump of its flux h a (BUMP of the
peak, Gaussian of WIDTH_DEG in latitude and BUMP_LON_DEG in longitude, at longitude 180, mirrored with
the band's sign in the south). The same is run with a weak band (CONTROL_KG) as a control of the tracking:
its bump is nearly a passive tracer, so it should move with u0. The bump is the difference of h a between the two runs; its longitude is
the phase of the m = 1 Fourier component of that difference, averaged over the band's rows (|lat - lam_0|
< WIDTH_DEG, north, weighted by the band profile). Its drift (least squares over the run, in the model
frame) plus the frame's drift against Carrington (ModelUnits.frame_drift_deg_per_day) is the model's
carrier in deg/day, Carrington frame, compared with the advection by u0 alone (pinn.emergence.carrier.model_carrier)
and with the data's fitted profile (results.json of study.py, if present). Writes model_carrier.json and
carrier.png (with ``--flow F``: model_carrier_F.json, carrier_F.png).

``--flow`` picks ``physics.zonal_flow`` (core: today's s0, s2, s4; tachocline; surface_features;
pinn.physics.rotation), so the carrier of each option is measured the same way
(experiments/carrier/model_carrier_flows.md).

    python experiments/carrier/model_carrier.py --out experiments/carrier [--flow tachocline]
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
from matplotlib.figure import Figure

import pinn
from pinn import physics
from pinn.physics.bands import gaussian_profile
from pinn.physics.rotation import rate_nHz
from pinn.physics.states import add_nodal_perturbation

LATS = (10.0, 20.0, 30.0)  # band centre latitudes, deg
WIDTH_DEG = 5.0
BUMP = 0.2  # bump of h a, fraction of the band's peak
BUMP_LON_DEG = 15.0
DAYS = 14.0
SAVE_DAYS = 1.0
CONTROL_KG = 0.5  # a weak band: the bump is then close to a passive tracer of u0 (checks the tracking)
SETTINGS = ["solver.truncation=42", "solver.dt=0.05"]
HERE = Path(__file__).resolve().parent


def bump_phase_deg(solver, diff_ha: np.ndarray, lat0: float) -> np.ndarray:
    """Longitude (deg, unwrapped) of the m = 1 component of the bump over the band rows, per saved time.

    ``diff_ha``: (time, lat, lon) difference of h a between the bumped and the plain run.
    """
    rows = np.abs(solver.lat - lat0) < WIDTH_DEG
    w = gaussian_profile(solver.lat[rows] - lat0, WIDTH_DEG)
    c1 = np.einsum("tyx,y,x->t", diff_ha[:, rows, :], w, np.exp(-1j * np.radians(solver.lon)))
    return np.degrees(np.unwrap(-np.angle(c1)))


def bumped_pair(solver, lat0: float, strength: float, flow) -> tuple:
    """The plain band pair at ``lat0`` and the same with a localised bump of h a at longitude 180."""
    bands = physics.antisymmetric_pair(lat0, WIDTH_DEG)
    plain = physics.band_state(solver, bands, strength, flow=flow)
    lat, lon = solver.lat_lon_rad
    lon_off = np.radians(((np.degrees(lon) - 180.0 + 180.0) % 360.0) - 180.0)
    shape = gaussian_profile(lon_off, math.radians(BUMP_LON_DEG))
    da = sum(b.sign * BUMP * strength * gaussian_profile(lat - math.radians(b.lat0_deg), math.radians(WIDTH_DEG))
             for b in bands) * shape
    h0 = np.asarray(solver.to_nodal(plain)["h"], np.float64)
    bumped = add_nodal_perturbation(solver, plain, a=da / h0)
    return plain, bumped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--flow", choices=("core", "tachocline", "surface_features"), default=None,
                    help="physics.zonal_flow (default: the configuration's)")
    args = ap.parse_args()
    t0 = time.time()
    settings = SETTINGS + ([f"physics.zonal_flow={args.flow}"] if args.flow else [])
    config = pinn.load_config(None, settings)
    solver = pinn.solver_for(config)
    units = pinn.model_units(config.physics)
    flow = pinn.zonal_flow(config.physics)
    strength = pinn.band_strength(config.physics)
    drift = units.frame_drift_deg_per_day()
    frame_nHz = config.physics.core_rate_nHz
    advect = (frame_nHz * (1.0 + flow.s0), frame_nHz * flow.s2, frame_nHz * flow.s4)  # Omega(lat) of u0, nHz
    save_every = solver.n_steps_for(units.time_to_model(SAVE_DAYS * u.day))
    n_steps = save_every * round(DAYS / SAVE_DAYS)
    strengths = {"default": strength, "weak_control": pinn.band_strength(config.physics, CONTROL_KG)}
    runs = [(name, lat0) for name in strengths for lat0 in LATS]
    states = [s for name, lat0 in runs for s in bumped_pair(solver, lat0, strengths[name], flow)]
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
    t_build = time.time() - t0
    traj = solver.integrate_ensemble(batch, n_steps, save_every)
    jax.block_until_ready(traj.states.h)
    t_run = time.time() - t0 - t_build
    days = np.array([units.time_from_model(float(t)).to_value(u.day) for t in np.asarray(traj.time[0])])
    rows: dict[str, dict] = {name: {} for name in strengths}
    for i, (name, lat0) in enumerate(runs):
        fields = [solver.to_nodal(jax.tree.map(lambda x, k=k: x[k], traj.states)) for k in (2 * i, 2 * i + 1)]
        ha = [np.asarray(f["h"], np.float64) * np.asarray(f["a"], np.float64) for f in fields]
        north_sign = physics.antisymmetric_pair(lat0, WIDTH_DEG)[0].sign  # so the bump is a positive peak
        phase = bump_phase_deg(solver, north_sign * (ha[1] - ha[0]), lat0)
        frame_rate = float(np.polyfit(days, phase, 1)[0])  # deg/day in the model frame
        peak = np.abs(ha[1] - ha[0])[:, np.abs(solver.lat - lat0) < WIDTH_DEG].max(axis=(1, 2))
        rows[name][str(lat0)] = {
            "drift_model_frame_deg_day": frame_rate,
            "carrier_carrington_deg_day": frame_rate + drift,
            "advection_by_u0_carrington_deg_day": advection_deg_day(lat0, advect, frame_nHz, drift),
            "bump_longitude_deg": phase.tolist(),
            "bump_peak_relative": (peak / peak[0]).tolist(),
            "fit_residual_rms_deg": float(np.std(phase - np.polyval(np.polyfit(days, phase, 1), days))),
        }
    out = {
        "command": "python experiments/carrier/model_carrier.py --out experiments/carrier"
                   + (f" --flow {args.flow}" if args.flow else ""), "zonal_flow": config.physics.zonal_flow,
        "machine": f"{platform.machine()} CPU, 2 cores shared (Python {platform.python_version()}, JAX {jax.__version__})",
        "settings": SETTINGS, "width_deg": WIDTH_DEG, "bump_fraction": BUMP, "bump_lon_width_deg": BUMP_LON_DEG,
        "days": days.tolist(), "frame_drift_deg_day": drift,
        "strength_kG": {"default": config.physics.band_strength_kG, "weak_control": CONTROL_KG}, "zonal_flow_s": [flow.s0, flow.s2, flow.s4],
        "seconds_build": round(t_build, 1), "seconds_integrate": round(t_run, 1),
        "seconds_total": round(time.time() - t0, 1), "by_latitude": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = f"_{args.flow}" if args.flow else ""
    (args.out / f"model_carrier{suffix}.json").write_text(json.dumps(out, indent=1))
    plot(out, args.out, suffix)
    brief = {name: {la: {k: v for k, v in r.items() if not isinstance(v, list)} for la, r in by.items()}
             for name, by in rows.items()}
    print(json.dumps({k: v for k, v in out.items() if k not in ("days", "by_latitude")} | {"by_latitude": brief},
                     indent=1))


def advection_deg_day(lat0: float, omega_nHz: tuple, frame_nHz: float, drift: float) -> float:
    """Rate (deg/day, Carrington) of a pattern advected by u0 alone: Omega(lat) - frame in the model frame plus the frame drift."""
    return float((rate_nHz(lat0, omega_nHz) - frame_nHz) * 1e-9 * 86400.0 * 360.0 + drift)


def plot(model: dict, out: Path, suffix: str = "") -> None:
    """carrier.png: Omega(lat) of the published carriers, the data's fit (study.py) and the model's measured one."""
    lats = np.linspace(0.0, 40.0, 81)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    res_path = out / "results.json"
    if res_path.exists():
        res = json.loads(res_path.read_text())
        styles = {"snodgrass": "C0-", "sunspots": "C1-", "carrington": "k:", "core": "C7--", "model": "C3--",
                  "fitted_whole_record": "C2-"}
        for k, st in styles.items():
            ax.plot(lats, np.polyval(res["coeffs_deg_day_carrington"][k][::-1], np.sin(np.radians(lats)) ** 2), st, label=k,
                    lw=2.5 if k.startswith("fitted") else 1.2)
        ri = res["fit"]["whole_record"]["rate_interval95"]
        la = np.array([float(k) for k in ri])
        ax.fill_between(la, [ri[k][0] for k in ri], [ri[k][1] for k in ri], color="C2", alpha=0.2,
                        label="fit 95 % (bootstrap)")
    for name, style, label in (("default", "C3o", f"model, measured ({model['strength_kG']['default']:g} kG band)"),
                               ("weak_control", "C3x", f"model, measured ({model['strength_kG']['weak_control']:g} kG)")):
        rows = model["by_latitude"][name]
        ax.plot([float(k) for k in rows], [v["carrier_carrington_deg_day"] for v in rows.values()], style, ms=8,
                label=label)
    ax.set_xlabel("latitude (deg)")
    ax.set_ylabel("carrying rate, Carrington frame (deg/day)")
    ax.axhline(0.0, color="0.8", lw=0.5)
    ax.legend(fontsize=8)
    ax.set_title("Carrier of AR nests: ARISE fit vs published rates vs the model")
    fig.tight_layout()
    fig.savefig(out / f"carrier{suffix}.png", dpi=120)


if __name__ == "__main__":
    main()
