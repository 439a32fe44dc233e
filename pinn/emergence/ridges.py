"""Predicted toroids and the observation-time frame of the forecast (docs/science.md sections 2 and 5).

The ridge of the toroidal field |a| is read per hemisphere, model-frame longitude and time from a
solver trajectory. The state describes rotation N at its middle, t0 = T_start(N) + P/2 (P the synodic
Carrington period): Carrington longitude phi of rotation N + 1 is seen at lead time tau(phi) = P/2 +
(360 - phi)/360 P after t0 (0.5 to 1.5 rotations). The solver's frame turns at the core rate, so a
pattern fixed in it drifts in Carrington longitude at ``ModelUnits.frame_drift_deg_per_day``; the
ridge seen at (phi, tau) is the model-frame ridge at phi - drift * tau, time tau. At lead L (rotation N+L)
every lead time is L - 1 rotations later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pinn.errors import PinnError
from pinn.physics.constants import CARRINGTON_SYNODIC_DAYS, HEMISPHERES

if TYPE_CHECKING:
    import xarray as xr

SYNODIC_DAYS = CARRINGTON_SYNODIC_DAYS
RIDGE_FIELDS = ("ridge_lat", "ridge_sigma", "ridge_strength")


def state_on_grid(field: xr.DataArray, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a (lat, lon) field (degrees) onto another grid; periodic in longitude."""
    from scipy.interpolate import RegularGridInterpolator

    lat = field["lat"].values
    lon = field["lon"].values
    values = np.asarray(field.values, np.float64)
    lon_ext = np.concatenate([lon[-1:] - 360.0, lon, lon[:1] + 360.0])
    values_ext = np.concatenate([values[:, -1:], values, values[:, :1]], axis=1)
    interp = RegularGridInterpolator((lat, lon_ext), values_ext, bounds_error=False, fill_value=None)
    la, lo = np.meshgrid(lat_deg, np.mod(lon_deg, 360.0), indexing="ij")
    return interp((la, lo))


def predicted_toroids(traj: xr.Dataset, lat_limit_deg: float = 60.0) -> xr.Dataset:
    """Ridge of the toroidal field per hemisphere, longitude (model frame) and time.

    The ridge latitude is the centroid of max(|a| - max|a|/2, 0)^2 between the equator and
    ``lat_limit_deg`` (the upper half of the band, so a weak background does not pull it); its spread
    is that weight's second moment; its strength the maximum |a|. Returns ``ridge_lat``,
    ``ridge_sigma`` (deg) and ``ridge_strength`` (model units) on (hemisphere, time, lon).
    """
    import xarray as xr

    a = np.abs(traj["a"].values)  # (time, lat, lon)
    lat = traj["lat"].values
    out: dict[str, list[np.ndarray]] = {k: [] for k in RIDGE_FIELDS}
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


def minimum_horizon_days(output_nlon: int, period_days: float = SYNODIC_DAYS, lead: int = 1) -> float:
    """Shortest integration (days) that reaches every observation time of rotation N+``lead``.

    The density grid's longitudes are cell centres, the first at 180/``output_nlon`` deg; it is seen
    last, at :func:`lead_days` of that longitude (just under ``lead`` + 0.5 rotations after the state time).
    Needs only ``math``, so the CLI can state it without importing the chain.
    """
    return period_days * (lead - 0.5 + (360.0 - 180.0 / output_nlon) / 360.0)


def lead_days(lon_deg: np.ndarray, period_days: float = SYNODIC_DAYS, lead: int = 1) -> np.ndarray:
    """Days from the state time (middle of rotation N) to when rotation N+``lead`` sees longitude ``lon_deg``."""
    return period_days * (lead - 0.5 + (360.0 - np.asarray(lon_deg, float)) / 360.0)


def toroids_at_observation(pred: xr.Dataset, lon_deg: np.ndarray, drift_deg_per_day: float,
                           period_days: float = SYNODIC_DAYS, lead: int = 1) -> xr.Dataset:
    """Predicted ridge (Carrington frame) at each Carrington longitude's observation time in rotation N+``lead``.

    ``pred`` is :func:`predicted_toroids` output; ``drift_deg_per_day`` the model frame's drift in
    Carrington longitude. Returns the ridge fields and their longitudinal mean strength on
    (hemisphere, lon), with ``lead_days`` as a coordinate.
    """
    import xarray as xr

    tau = lead_days(lon_deg, period_days, lead)
    times = pred["time"].values
    if tau.max() > times[-1] * (1 + 1e-6):  # the snapshot times are float32 in the solver
        raise PinnError(f"forecast horizon {times[-1]:.1f} d is shorter than the latest observation lead "
                        f"{tau.max():.1f} d: increase forecast.weeks")
    model_lon = np.mod(lon_deg - drift_deg_per_day * tau, 360.0)
    out = {}
    for name in RIDGE_FIELDS:
        values = []
        for hemi in HEMISPHERES:
            field = pred[name].sel(hemisphere=hemi).values  # (time, lon)
            values.append(bilinear_time_lon(field, times, pred["lon"].values, tau, model_lon))
        out[name] = (("hemisphere", "lon"), np.stack(values))
    mean_strength = pred["ridge_strength"].mean("lon")  # (hemisphere, time)
    out["mean_strength"] = (("hemisphere", "lon"), np.stack(
        [np.interp(tau, times, mean_strength.sel(hemisphere=h).values) for h in HEMISPHERES]))
    return xr.Dataset(out, coords={"hemisphere": list(HEMISPHERES), "lon": lon_deg}).assign_coords(
        lead_days=("lon", tau))


def ridge_in_carrington_frame(pred: xr.Dataset, name: str, lon_deg: np.ndarray,
                              drift_deg_per_day: float) -> np.ndarray:
    """A ridge field of ``pred`` at Carrington longitudes ``lon_deg`` (latest map's frame) per snapshot.

    Returns an array on (hemisphere, lon, time): at time t the model-frame longitude lon - drift * t.
    """
    times = pred["time"].values
    return np.stack([
        np.stack([bilinear_time_lon(pred[name].sel(hemisphere=h).values, times, pred["lon"].values,
                                    np.full_like(lon_deg, t), np.mod(lon_deg - drift_deg_per_day * t, 360.0))
                  for t in times], axis=1)
        for h in HEMISPHERES])


def centre_at_lead(ds: xr.Dataset, hemi: str, lead: np.ndarray) -> np.ndarray:
    """Predicted toroid centre (deg) per longitude of a forecast dataset at lead time ``lead[j]`` (days)."""
    field = ds["toroid_lat"].sel(hemisphere=hemi).values  # (lon, time)
    times = ds["time"].values
    return np.array([np.interp(lead[j], times, field[j]) for j in range(field.shape[0])])


def bilinear_time_lon(field: np.ndarray, times: np.ndarray, lons: np.ndarray, t: np.ndarray,
                      lon: np.ndarray) -> np.ndarray:
    """A (time, lon) field, linear in time and periodic-linear in longitude, at paired points (t[i], lon[i]).

    ``lons`` must be uniformly spaced over 360 deg.
    """
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
