"""The forecast chain: maps -> toroids -> PINN state -> MHD-SWT integration -> emergence density.

For rotation N (the latest map) the chain estimates the toroids causally (trailing window, nothing
after map N), trains the PINN for a self-consistent MHD-SWT state (cached by inputs + config),
integrates it forward with the spectral solver, tracks the predicted toroids (ridge of |a| per
hemisphere and longitude) and turns them into a probability density of new-AR emergence in rotation
N + 1.

Times and frames (SPEC sections 2 and 5). The state describes rotation N at its middle, t0 = T_start(N)
+ P/2 (P the synodic Carrington period): each longitude of a synoptic map is seen near central
meridian at its own time, so the map's toroids are a rotation-mean pattern. Carrington longitude phi of
rotation N + 1 is seen at T_stop(N) + (360 - phi)/360 P, i.e. at lead time tau(phi) = P/2 + (360 -
phi)/360 P after t0 (0.5 to 1.5 rotations, 2-6 weeks). The solver's frame turns at the core rate, so a
pattern fixed in it drifts in Carrington longitude at ``ModelUnits.frame_drift_deg_per_day``; the
density at (lat, phi) reads the predicted toroids at model longitude phi - drift * tau(phi), time tau(phi).

Emergence model (documented, few parameters, fitted out of sample in the hindcast): per hemisphere a
Gaussian in latitude about the predicted ridge, sigma = width_scale * sqrt(2) * (the ridge's |a|^2
second moment) (the sqrt(2) maps a field band exp(-(x/w)^2) to the AR-pixel spread of the toroid fit),
weighted along longitude by (local ridge strength / its longitudinal mean)^strength_power and between
hemispheres by ``hemisphere_weight``; normalised over the sphere, then mixed with a uniform ``floor``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from pinn import evaluation as ev
from pinn.config import Config, ForecastConfig, dump_yaml, to_dict, training_inputs
from pinn.errors import InputError, PinnError

log = logging.getLogger(__name__)

SYNODIC_DAYS = 27.2753  # mean synodic Carrington rotation period
HEMISPHERES = ("north", "south")


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class ForecastInputs:
    """What the forecast may know at the end of rotation N: the maps up to N and their toroids."""

    crs: tuple[int, ...]  # rotations used, the latest last
    latest: xr.DataArray  # Br(lat, lon) of rotation N, G
    toroids: object  # pinn.toroids.Toroids of rotation N (causal window)
    hemisphere_flux: dict  # unsigned flux share of strong pixels per hemisphere over the window
    t_start: np.datetime64  # start of rotation N (NaT if unknown)
    t_stop: np.datetime64  # end of rotation N (NaT if unknown)


def prepare_inputs(paths: Sequence[str | Path], config: Config) -> ForecastInputs:
    """Load up to ``toroids.window`` consecutive maps (latest last) and fit the latest toroids causally."""
    from pinn import toroids as tor
    from pinn.observations import check_consecutive, load_sequence

    if not paths:
        raise InputError(None, "no synoptic maps given")
    seq = load_sequence(paths, config.observations)
    crs = [int(c) for c in seq["cr"].values]
    check_consecutive(crs)
    instruments = {str(v) for v in np.atleast_1d(seq["instrument"].values)} if "instrument" in seq else set()
    if len(instruments) > 1:
        raise InputError(paths[-1], f"maps from different instruments mixed ({', '.join(sorted(instruments))})")
    window = config.toroids.window
    if len(crs) > window:
        seq = seq.isel(cr=slice(-window, None))
        crs = crs[-window:]
    toroids = tor.fit_toroids_window(seq, config.toroids, causal=True) if len(crs) > 1 else tor.fit_toroids(
        seq.isel(cr=0), config.toroids)
    latest = seq["Br"].isel(cr=-1)
    flux = _hemisphere_flux(seq["Br"], config.toroids.threshold_G, config.toroids.lat_limit_deg)
    t_start = seq["t_start"].values[-1] if "t_start" in seq else np.datetime64("NaT")
    t_stop = seq["t_stop"].values[-1] if "t_stop" in seq else np.datetime64("NaT")
    return ForecastInputs(tuple(crs), latest, toroids, flux, t_start, t_stop)


def _hemisphere_flux(br: xr.DataArray, threshold: float, lat_limit: float) -> dict:
    """Share of the strong-pixel unsigned flux (|Br| x pixel solid angle) in each hemisphere."""
    from pinn.observations import pixel_solid_angle

    lat = br["lat"]
    strong = np.abs(br).where((np.abs(br) >= threshold) & (np.abs(lat) <= lat_limit), 0.0).fillna(0.0)
    flux = strong * pixel_solid_angle(br)  # the grid (sine-latitude or uniform) is inferred from lat
    north = float(flux.where(lat > 0, 0.0).sum())
    south = float(flux.where(lat < 0, 0.0).sum())
    total = north + south
    if total <= 0:
        return {"north": 0.5, "south": 0.5}
    return {"north": north / total, "south": south / total}


# ---------------------------------------------------------------------------------------------
# PINN state (cached)


def state_cache_key(toroids, config: Config, strength_kG: float) -> str:
    """Hash of everything the PINN state depends on: toroids, physics, network, loss, train, seed, a0."""
    parts = {"toroids": toroids.to_json_dict(), "strength_kG": float(strength_kG), **training_inputs(config)}
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pinn_state(toroids, config: Config, strength_kG: float, work_dir: str | Path | None = None) -> xr.Dataset:
    """Train (or reuse) the PINN state for ``toroids`` at field strength ``strength_kG``.

    With a cache directory, a finished state is reused by later forecasts of the same inputs and
    config, and an interrupted training resumes from its last checkpoint.
    """
    import dataclasses

    from pinn.training import train_from_config

    cfg = dataclasses.replace(config, physics=dataclasses.replace(config.physics, band_strength_kG=float(strength_kG)))
    cache = config.forecast.cache_dir if work_dir is None else work_dir
    if cache is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return train_from_config(cfg, toroids, out_dir=tmp).state.load()
    run_dir = Path(cache) / f"pinn-{state_cache_key(toroids, cfg, strength_kG)}"
    state_path = run_dir / "state.nc"
    if state_path.exists():
        log.info("reusing cached PINN state %s", state_path)
        with xr.open_dataset(state_path, engine="h5netcdf") as ds:
            return ds.load()
    resume = (run_dir / "checkpoints").exists()
    train_from_config(cfg, toroids, out_dir=run_dir, resume=resume)
    with xr.open_dataset(state_path, engine="h5netcdf") as ds:
        return ds.load()


# ---------------------------------------------------------------------------------------------
# Forward integration


def integrate_state(state: xr.Dataset, config: Config, days: float) -> xr.Dataset:
    """Integrate a gridded MHD-SWT state (u, v, h, A on lat/lon in degrees) for ``days`` days.

    The state is interpolated onto the solver's Gaussian grid (periodic in longitude), converted to
    vorticity, divergence, h and A, balanced (``solver.balance_start``: divergence and h solved so that the
    start sheds no gravity waves, vorticity and A kept; :func:`pinn.physics.balance.balance_start`) and
    stepped with snapshots every ``forecast.snapshot_days``.
    Returns the trajectory Dataset (time in days since the state's time).
    """
    from pinn.physics.solver import check_thickness, make_solver, swt_params, trajectory_dataset
    from pinn.physics.units import ModelUnits

    units = ModelUnits.from_config(config.physics)
    day_model = units.time_to_model(1.0 * _day())
    n_out = max(1, int(round(days / config.forecast.snapshot_days)))
    interval = days * day_model / n_out
    steps_per_out = max(1, math.ceil(interval / config.solver.dt - 1e-9))
    solver = make_solver(config.solver, swt_params(config.physics), dt=interval / steps_per_out)
    fields = {k: _to_grid(state[k], solver.lat, solver.lon) for k in ("u", "v", "h", "A")}
    check_thickness(fields["h"], "PINN state")
    initial = solver.from_nodal(fields["u"], fields["v"], fields["h"], fields["A"])
    attrs = {}
    if config.solver.balance_start:
        from pinn.physics.balance import balance_start

        balanced = balance_start(solver, initial, float(state.attrs.get("pattern_speed_model", 0.0)))
        initial = balanced.state
        attrs = {"balance_start": 1, "balance_div_tendency_before": balanced.div_tendency_start,
                 "balance_div_tendency_after": balanced.div_tendency_end, "balance_change": balanced.change}
    traj = solver.integrate(initial, n_out * steps_per_out, steps_per_out)
    ds = trajectory_dataset(solver, traj, np.asarray(traj.time, np.float64) / day_model, attrs=attrs)
    check_thickness(ds["h"].values, "forecast integration")
    return ds


def _day():
    import astropy.units as u

    return u.day


def _to_grid(field: xr.DataArray, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a (lat, lon) field onto another grid; periodic in longitude."""
    from scipy.interpolate import RegularGridInterpolator

    lat = field["lat"].values
    lon = field["lon"].values
    values = np.asarray(field.values, np.float64)
    lon_ext = np.concatenate([lon[-1:] - 360.0, lon, lon[:1] + 360.0])
    values_ext = np.concatenate([values[:, -1:], values, values[:, :1]], axis=1)
    interp = RegularGridInterpolator((lat, lon_ext), values_ext, bounds_error=False, fill_value=None)
    la, lo = np.meshgrid(lat_deg, np.mod(lon_deg, 360.0), indexing="ij")
    return interp((la, lo))


# ---------------------------------------------------------------------------------------------
# Predicted toroids


def predicted_toroids(traj: xr.Dataset, lat_limit_deg: float = 60.0) -> xr.Dataset:
    """Ridge of the toroidal field per hemisphere, longitude (model frame) and time.

    The ridge latitude is the centroid of max(|a| - max|a|/2, 0)^2 between the equator and
    ``lat_limit_deg`` (the upper half of the band, so a weak background does not pull it); its spread
    is that weight's second moment; its strength the maximum |a|. Returns ``ridge_lat``,
    ``ridge_sigma`` (deg) and ``ridge_strength`` (model units) on (hemisphere, time, lon).
    """
    a = np.abs(traj["a"].values)  # (time, lat, lon)
    lat = traj["lat"].values
    out = {"ridge_lat": [], "ridge_sigma": [], "ridge_strength": []}
    for hemi in HEMISPHERES:
        sel = (lat > 0) & (lat <= lat_limit_deg) if hemi == "north" else (lat < 0) & (lat >= -lat_limit_deg)
        la = lat[sel][None, :, None]
        ah = a[:, sel, :]
        peak = ah.max(axis=1, keepdims=True)
        w = np.clip(ah - 0.5 * peak, 0.0, None) ** 2
        norm = np.maximum(w.sum(axis=1), 1e-300)
        centre = (w * la).sum(axis=1) / norm
        spread = np.sqrt((w * (la - centre[:, None, :]) ** 2).sum(axis=1) / norm)
        out["ridge_lat"].append(centre)
        out["ridge_sigma"].append(spread)
        out["ridge_strength"].append(peak[:, 0, :])
    coords = {"hemisphere": list(HEMISPHERES), "time": traj["time"].values, "lon": traj["lon"].values}
    return xr.Dataset(
        {k: (("hemisphere", "time", "lon"), np.stack(v)) for k, v in out.items()},
        coords=coords,
        attrs={"frame": "model (core rate); lon = Carrington lon of the state's reference time at time 0"},
    )


def lead_days(lon_deg: np.ndarray, period_days: float = SYNODIC_DAYS) -> np.ndarray:
    """Days from the state time (middle of rotation N) to when rotation N+1 sees longitude ``lon_deg``."""
    return period_days * (0.5 + (360.0 - np.asarray(lon_deg, float)) / 360.0)


def toroids_at_observation(pred: xr.Dataset, lon_deg: np.ndarray, drift_deg_per_day: float,
                           period_days: float = SYNODIC_DAYS) -> xr.Dataset:
    """Predicted ridge (Carrington frame) at each Carrington longitude's observation time in rotation N+1."""
    tau = lead_days(lon_deg, period_days)
    times = pred["time"].values
    if tau.max() > times[-1] + 1e-9:
        raise PinnError(f"forecast horizon {times[-1]:.1f} d is shorter than the latest observation lead "
                        f"{tau.max():.1f} d: increase forecast.weeks")
    model_lon = np.mod(lon_deg - drift_deg_per_day * tau, 360.0)
    out = {}
    for name in ("ridge_lat", "ridge_sigma", "ridge_strength"):
        values = []
        for hemi in HEMISPHERES:
            field = pred[name].sel(hemisphere=hemi).values  # (time, lon)
            values.append(_bilinear_time_lon(field, times, pred["lon"].values, tau, model_lon))
        out[name] = (("hemisphere", "lon"), np.stack(values))
    mean_strength = pred["ridge_strength"].mean("lon")  # (hemisphere, time)
    out["mean_strength"] = (("hemisphere", "lon"), np.stack(
        [np.interp(tau, times, mean_strength.sel(hemisphere=h).values) for h in HEMISPHERES]))
    return xr.Dataset(out, coords={"hemisphere": list(HEMISPHERES), "lon": lon_deg}).assign_coords(
        lead_days=("lon", tau))


def _bilinear_time_lon(field, times, lons, t, lon):
    """Linear in time, periodic-linear in longitude, at paired points (t[i], lon[i])."""
    i = np.clip(np.searchsorted(times, t) - 1, 0, len(times) - 2)
    ft = (t - times[i]) / (times[i + 1] - times[i])
    dl = 360.0 / len(lons)
    x = (lon - lons[0]) / dl
    j0 = np.floor(x).astype(int) % len(lons)
    j1 = (j0 + 1) % len(lons)
    fl = x - np.floor(x)

    def at(ti):
        return (1 - fl) * field[ti, j0] + fl * field[ti, j1]

    return (1 - ft) * at(i) + ft * at(i + 1)


# ---------------------------------------------------------------------------------------------
# Emergence model


@dataclass(frozen=True)
class EmergenceParams:
    floor: float = 0.1
    width_scale: float = 1.0
    strength_power: float = 1.0
    min_sigma_deg: float = 2.0

    @classmethod
    def from_config(cls, fc: ForecastConfig) -> "EmergenceParams":
        return cls(fc.floor, fc.width_scale, fc.strength_power, fc.min_sigma_deg)


def emergence_density(
    ridge: xr.Dataset, lat_deg: np.ndarray, hemisphere_weights: dict, params: EmergenceParams
) -> xr.DataArray:
    """Probability density per steradian of new-AR emergence on (lat, lon); integrates to 1.

    ``ridge`` is :func:`toroids_at_observation` output on the density's longitudes.
    """
    lat = np.asarray(lat_deg, float)[:, None]
    lon = ridge["lon"].values
    total = np.zeros((lat.shape[0], lon.size))
    for hemi in HEMISPHERES:
        r = ridge.sel(hemisphere=hemi)
        centre = r["ridge_lat"].values[None, :]
        sigma = np.maximum(params.width_scale * math.sqrt(2.0) * r["ridge_sigma"].values, params.min_sigma_deg)[None, :]
        rel = r["ridge_strength"].values / np.maximum(r["mean_strength"].values, 1e-30)
        along = np.power(np.maximum(rel, 1e-6), params.strength_power)[None, :]
        # Gaussian in latitude (per steradian; no 1/cos(lat), which would blow up wide bands at the poles)
        gauss = np.exp(-0.5 * ((lat - centre) / sigma) ** 2) / (np.radians(sigma) * math.sqrt(2 * math.pi))
        on_hemi = (lat > 0) if hemi == "north" else (lat < 0)
        total += hemisphere_weights[hemi] * along * gauss * on_hemi
    density = ev.with_floor(ev.normalise(total, lat[:, 0], lon), params.floor)
    return ev.density_dataarray(density, lat[:, 0], lon)


def fit_emergence_params(cases: Sequence[tuple], lat_deg: np.ndarray, start: EmergenceParams | None = None,
                         ) -> EmergenceParams:
    """Maximum-likelihood (floor, width_scale, strength_power) over past cases, bounded.

    Each case is ``(ridge, hemisphere_weights, ar_lat, ar_lon)`` from rotations BEFORE the one to be
    scored (the caller guarantees this; see :mod:`pinn.hindcast`).
    """
    from scipy.optimize import minimize

    start = start or EmergenceParams()
    if not cases:
        return start

    def nll(x):
        p = EmergenceParams(float(x[0]), float(x[1]), float(x[2]), start.min_sigma_deg)
        total = 0.0
        for ridge, weights, ar_lat, ar_lon in cases:
            d = emergence_density(ridge, lat_deg, weights, p)
            total -= float(np.sum(ev.log2_likelihood(d, ar_lat, ar_lon)))
        return total

    x0 = np.array([start.floor, start.width_scale, start.strength_power])
    res = minimize(nll, x0, method="L-BFGS-B", bounds=[(0.01, 0.9), (0.2, 4.0), (0.0, 4.0)],
                   options={"maxiter": 60})
    return EmergenceParams(float(res.x[0]), float(res.x[1]), float(res.x[2]), start.min_sigma_deg)


# ---------------------------------------------------------------------------------------------
# The whole chain


@dataclass(frozen=True)
class ForecastResult:
    dataset: xr.Dataset  # forecast.nc contents
    summary: dict
    inputs: ForecastInputs
    trajectory: xr.Dataset


def density_grid(fc: ForecastConfig) -> tuple[np.ndarray, np.ndarray]:
    lat = -90.0 + (np.arange(fc.output_nlat) + 0.5) * 180.0 / fc.output_nlat
    lon = (np.arange(fc.output_nlon) + 0.5) * 360.0 / fc.output_nlon
    return lat, lon


def run_forecast(
    paths: Sequence[str | Path],
    config: Config,
    strength_kG: float | None = None,
    weeks: float | None = None,
    params: EmergenceParams | None = None,
) -> ForecastResult:
    """Forecast the emergence density of rotation N+1 from maps up to N (nothing after N is read)."""
    import astropy.units as u

    from pinn.physics.units import ModelUnits

    fc = config.forecast
    strength = config.physics.band_strength_kG if strength_kG is None else float(strength_kG)
    weeks = fc.weeks if weeks is None else float(weeks)
    if not 0 < weeks <= 52:
        raise PinnError(f"--weeks must be in (0, 52], got {weeks}")
    params = params or EmergenceParams.from_config(fc)
    inputs = prepare_inputs(paths, config)
    log.info("toroids of CR %d from CR %s (causal)", inputs.crs[-1], ",".join(map(str, inputs.crs)))
    state = pinn_state(inputs.toroids, config, strength)
    traj = integrate_state(state, config, days=7.0 * weeks)
    pred = predicted_toroids(traj, fc.ridge_lat_limit_deg)
    drift = ModelUnits.from_config(config.physics).frame_drift_deg_per_day()
    lat, lon = density_grid(fc)
    ridge = toroids_at_observation(pred, lon, drift)
    weights = inputs.hemisphere_flux if fc.hemisphere_weight == "flux" else {"north": 0.5, "south": 0.5}
    density = emergence_density(ridge, lat, weights, params)

    # predicted toroid centre latitude in the Carrington frame of the latest map, per snapshot time
    times = pred["time"].values
    car_lat = np.stack([
        np.stack([_bilinear_time_lon(pred["ridge_lat"].sel(hemisphere=h).values, times, pred["lon"].values,
                                     np.full_like(lon, t), np.mod(lon - drift * t, 360.0)) for t in times])
        for h in HEMISPHERES])
    every = max(1, int(round(fc.state_snapshot_days / fc.snapshot_days)))
    snaps = traj[["u", "v", "h", "a", "b", "A"]].isel(time=slice(None, None, every)).rename(
        {"time": "state_time", "lat": "state_lat", "lon": "state_lon"})
    version = _version()
    ds = xr.Dataset(
        {
            "emergence_density": density,
            "toroid_lat": (("hemisphere", "lon", "time"), np.moveaxis(car_lat, 1, 2),
                           {"units": "degrees_north", "long_name": "predicted toroid centre latitude (Carrington frame)"}),
            "toroid_strength": (("hemisphere", "lon", "time"), np.stack([
                np.stack([_bilinear_time_lon(pred["ridge_strength"].sel(hemisphere=h).values, times,
                                             pred["lon"].values, np.full_like(lon, t), np.mod(lon - drift * t, 360.0))
                          for t in times], axis=1) for h in HEMISPHERES]),
                {"units": "model field units", "long_name": "predicted peak |a| along the toroid"}),
            "observation_lead_days": ("lon", ridge["lead_days"].values, {"units": "days"}),
            **{f"state_{k}": snaps[k] for k in ("u", "v", "h", "a", "b", "A")},
        },
        coords={"lat": ("lat", lat, {"units": "degrees_north"}),
                "lon": ("lon", lon, {"units": "degrees_east", "long_name": "Carrington longitude (latest map frame)"}),
                "hemisphere": list(HEMISPHERES),
                "time": ("time", times, {"units": "days", "long_name": "days after reference_time (the middle "
                                                             "of the latest rotation)"})},
    )
    ds.attrs.update({
        "title": "pinn AR-emergence forecast for the rotation after the latest map",
        "input_rotations": np.asarray(inputs.crs, np.int32),
        "forecast_rotation": int(inputs.crs[-1] + 1),
        "lead_time_days_min": float(ridge["lead_days"].min()),
        "lead_time_days_max": float(ridge["lead_days"].max()),
        "horizon_weeks": float(weeks),
        "field_strength_kG": float(strength),
        "code_version": version,
        "emergence_params": json.dumps(params.__dict__),
        "frame_drift_deg_per_day": float(drift),
        "reference_time": _reference_time(inputs),
        "density_integral": ev.integral(density),
    })
    summary = {
        "input_rotations": list(inputs.crs),
        "forecast_rotation": int(inputs.crs[-1] + 1),
        "field_strength_kG": strength,
        "horizon_weeks": weeks,
        "lead_time_days": [float(ridge["lead_days"].min()), float(ridge["lead_days"].max())],
        "density_integral": ev.integral(density),
        "toroids": inputs.toroids.to_json_dict(),
        "hemisphere_weights": weights,
        "emergence_params": params.__dict__,
        "pinn_final_losses": {k: float(v) for k, v in state.attrs.items() if k.startswith("final_")},
        "solver_mass_drift": float((traj["mass"][-1] - traj["mass"][0]) / traj["mass"][0]),
        "start_balance": {k[len("balance_"):]: float(v) for k, v in traj.attrs.items()
                          if k.startswith("balance_") and k != "balance_start"},
        "hotspots": _hotspots(density),
        "code_version": version,
        "config": to_dict(config),
    }
    return ForecastResult(ds, summary, inputs, traj)


def _reference_time(inputs: ForecastInputs) -> str:
    """ISO time of the middle of the latest rotation (the state's time), or 'unknown'."""
    if np.isnat(inputs.t_start):
        return "unknown"
    mid = inputs.t_start + np.timedelta64(int(SYNODIC_DAYS / 2 * 86400), "s")
    return str(np.datetime_as_string(mid, unit="s")) + "Z"


def _hotspots(density: xr.DataArray, n: int = 5) -> list[dict]:
    """The ``n`` highest-density cells at least 20 deg of longitude apart (for quick reading)."""
    values = density.values
    order = np.argsort(values, axis=None)[::-1]
    picked: list[dict] = []
    for flat in order:
        i, j = np.unravel_index(flat, values.shape)
        lat, lon = float(density["lat"][i]), float(density["lon"][j])
        if all(abs(((lon - p["lon_deg"]) + 180) % 360 - 180) > 20 or np.sign(lat) != np.sign(p["lat_deg"]) for p in picked):
            picked.append({"lat_deg": lat, "lon_deg": lon, "density_per_sr": float(values[i, j]),
                           "vs_uniform": float(values[i, j] * 4 * math.pi)})
        if len(picked) == n:
            break
    return picked


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pinn")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def write_outputs(result: ForecastResult, out_dir: str | Path, config: Config) -> dict[str, Path]:
    """Write forecast.nc, forecast.png, summary.json and resolved_config.yaml into ``out_dir`` (atomically)."""
    from pinn.config import write_resolved
    from pinn.io import save_figure, write_json, write_netcdf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "forecast.nc": write_netcdf(result.dataset, out / "forecast.nc"),
        "summary.json": write_json(out / "summary.json", result.summary),
        "resolved_config.yaml": write_resolved(config, out),
    }
    fig = plot_forecast(result)
    paths["forecast.png"] = save_figure(fig, out / "forecast.png", dpi=110, bbox_inches="tight")
    return paths


def plot_forecast(result: ForecastResult):
    """Latest magnetogram with current toroids, predicted toroids, and the emergence density."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    ds = result.dataset
    inputs = result.inputs
    fig = Figure(figsize=(11, 8.5))
    axes = fig.subplots(2, 1, sharex=True)
    br = inputs.latest
    ax = axes[0]
    ax.pcolormesh(br["lon"], br["lat"], np.clip(br.values, -300, 300), cmap="RdBu_r", shading="auto",
                  vmin=-300, vmax=300, rasterized=True)
    lon = np.linspace(0, 360, 361)
    for hemi in HEMISPHERES:
        t = getattr(inputs.toroids, hemi)
        if t is not None:
            ax.plot(lon, t.centre_lat_deg(lon), "k-", lw=1.6, label=f"current toroid ({hemi})" if hemi == "north" else None)
        lead = ds["observation_lead_days"].values
        pred = _centre_at_lead(ds, hemi, lead)
        ax.plot(ds["lon"], pred, "m--", lw=1.4, label="predicted (at observation time)" if hemi == "north" else None)
    ax.set_ylabel("latitude (deg)")
    ax.set_ylim(-60, 60)
    ax.set_title(f"CR {inputs.crs[-1]} Br (G, clipped at 300) with toroids; forecast for CR {inputs.crs[-1] + 1}")
    ax.legend(loc="lower left", fontsize=8)
    ax = axes[1]
    im = ax.pcolormesh(ds["lon"], ds["lat"], ds["emergence_density"] * 4 * np.pi, cmap="magma", shading="auto")
    fig.colorbar(im, ax=axes, shrink=0.5, label="emergence density / uniform")
    ax.set_ylim(-60, 60)
    ax.set_xlabel("Carrington longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_title(f"new-AR emergence density, CR {inputs.crs[-1] + 1} "
                 f"(lead {ds.attrs['lead_time_days_min']:.0f}-{ds.attrs['lead_time_days_max']:.0f} d, "
                 f"{ds.attrs['field_strength_kG']:.0f} kG)")
    return fig


def _centre_at_lead(ds: xr.Dataset, hemi: str, lead: np.ndarray) -> np.ndarray:
    field = ds["toroid_lat"].sel(hemisphere=hemi).values  # (lon, time)
    times = ds["time"].values
    return np.array([np.interp(lead[j], times, field[j]) for j in range(field.shape[0])])
