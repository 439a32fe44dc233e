"""Figures of the forecast and the hindcast (matplotlib ``Figure`` objects, no pyplot).

No pyplot, so the caller's backend is left alone; the caller saves the figure (``pinn.io.save_figure``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import xarray as xr

from pinn.data import grid
from pinn.emergence.baselines import rotation_start_jd
from pinn.emergence.ridges import HEMISPHERES, centre_at_lead
from pinn.scoring import scores as ev

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


class ForecastView(Protocol):
    """What the forecast figure reads of a :class:`pinn.chain.forecast.ForecastResult`."""

    dataset: xr.Dataset  # forecast.nc
    inputs: Any  # the case inputs: ``latest`` Br map, ``toroids``, ``crs``
    summary: dict  # summary.json: ``hotspots`` with their probabilities


class HindcastView(Protocol):
    """What the hindcast figure reads of a :class:`pinn.chain.hindcast.HindcastResult`."""

    per_rotation: pd.DataFrame
    summary: dict


BR_CLIP_G = 300.0  # |Br| shown saturates here (G): active-region fields, not sunspot umbrae, set the scale
LAT_LIMIT_DEG = 60.0  # latitudes shown; ARs emerge within about +-40 deg
J2000_JD = 2451545.0  # 2000-01-01 12:00
CURRENT = {"color": "black", "lw": 2.0, "ls": "-", "zorder": 3}
PREDICTED_ON_BR = {"color": "#00a040", "lw": 2.2, "ls": (0, (5, 2.5)), "zorder": 5}  # green: not red or blue
PREDICTED_ON_DENSITY = {"color": "cyan", "lw": 1.8, "ls": (0, (5, 2.5)), "zorder": 5}
CURRENT_ON_DENSITY = {"color": "white", "lw": 1.0, "ls": ":", "zorder": 3}


def intensity_per_sr(ds) -> np.ndarray:
    """Expected new ARs per sr of forecast.nc: the density x the expected count of its hemisphere."""
    rates = {h: float(ds["expected_count"].sel(hemisphere=h)) for h in HEMISPHERES}
    return ev.intensity(ds["emergence_density"], rates) / grid.cell_areas(ds["lat"].values, ds["lon"].values)


def jd_to_datetime(jd: float) -> dt.datetime:
    """UTC date and time of a Julian date (to the minute: leap seconds ignored, the figure shows dates)."""
    return dt.datetime(2000, 1, 1, 12) + dt.timedelta(days=float(jd) - J2000_JD)


def jd_to_date(jd: float) -> str:
    """ISO calendar date (UTC, YYYY-MM-DD) of a Julian date."""
    return jd_to_datetime(jd).strftime("%Y-%m-%d")


def jd_to_day(jd: float) -> str:
    """Short calendar day (UTC, e.g. 'Feb 14') of a Julian date, for axis ticks."""
    return jd_to_datetime(jd).strftime("%b %d")


def rotation_dates(cr: int) -> tuple[str, str]:
    """First and last calendar dates (UTC) of Carrington rotation ``cr`` (start of ``cr`` to start of ``cr + 1``)."""
    start, stop = rotation_start_jd([cr, cr + 1])
    return jd_to_date(start), jd_to_date(stop)


def rotation_label(cr: int) -> str:
    """'CR 2281 (2024-02-14 to 2024-03-12)'."""
    start, stop = rotation_dates(cr)
    return f"CR {cr} ({start} to {stop})"


def hale_label(sign: int | None) -> str:
    """The toroid's Hale sign in words: sign(a) and the leading polarity it implies (docs/science.md section 2)."""
    if sign not in (1, -1):
        return ""
    return f", Hale: leading {'-' if sign > 0 else '+'} (a {'> 0' if sign > 0 else '< 0'})"


def hotspot_probabilities(spot: dict) -> tuple[float, float] | None:
    """(radius deg, P(at least one new AR within the radius)) of a summary hotspot, from its
    ``prob_new_ar_within_<r>deg`` key; None if it has none."""
    for key, value in spot.items():
        if key.startswith("prob_new_ar_within_") and key.endswith("deg"):
            return float(key[len("prob_new_ar_within_"):-len("deg")]), float(value)
    return None


def plot_forecast(result: ForecastView, emerged: pd.DataFrame | None = None) -> Figure:
    """Latest magnetogram with the current toroids and the predicted ridge; the expected new ARs per sr of N+1
    with the predicted ridge, the numbered hotspots and their chance of a new AR nearby, and, where known, the
    ARs that did emerge (``emerged``: rows with lat, lon; read after the forecast, for the figure only).

    Each map has its own colour bar; rotations are given with their calendar dates, and a top axis gives the
    date each longitude is at central meridian.
    """
    from matplotlib.figure import Figure  # lazy: matplotlib is only needed for figures

    ds = result.dataset
    inputs = result.inputs
    crs = [int(c) for c in inputs.crs]
    target = int(ds.attrs["forecast_rotation"])
    fig = Figure(figsize=(12, 10), layout="constrained")
    ax_br, ax_fc = fig.subplots(2, 1, sharex=True)
    window = f"CR {crs[0]}-{crs[-1]}" if len(crs) > 1 else f"CR {crs[-1]}"
    fig.suptitle(f"Forecast of new active regions in {rotation_label(target)}, from the HMI maps of {window}",
                 fontsize=13, fontweight="bold")
    _plot_magnetogram(ax_br, fig, ds, inputs, crs[-1])
    _plot_intensity(ax_fc, fig, ds, inputs, result.summary.get("hotspots", []), emerged)
    return fig


def _predicted_ridges(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Predicted toroid centre (deg) per hemisphere at each longitude's observation time in N+1."""
    lead = ds["observation_lead_days"].values
    return {hemi: centre_at_lead(ds, hemi, lead) for hemi in HEMISPHERES}


def _date_axis(ax: Axes, cr: int) -> None:
    """Top axis: the calendar date (UTC) at which each Carrington longitude of ``cr`` is at central meridian
    (longitude 360 at the rotation's start, 0 at its end)."""
    lon = np.arange(360.0, -1.0, -45.0)
    start, stop = rotation_start_jd([cr, cr + 1])
    jd = start + (360.0 - lon) / 360.0 * (stop - start)
    sec = ax.secondary_xaxis("top")
    sec.set_xticks(lon, labels=[jd_to_day(j) for j in jd], fontsize=8)
    sec.set_xlabel(f"date at central meridian in CR {cr} (UTC; time runs right to left)", fontsize=8)


def _current_toroids(ax: Axes, toroids: Any, style: dict, labelled: bool) -> None:
    """Centre lines of the fitted toroids of the latest rotation, labelled per hemisphere with the Hale sign."""
    lon = np.linspace(0.0, 360.0, 361)
    for hemi in HEMISPHERES:
        t = getattr(toroids, hemi, None)
        if t is None:
            continue
        centre = t.centre_lat_deg(lon)
        label = f"{hemi} toroid now: centre {t.lat0_deg:+.1f} deg{hale_label(getattr(t, 'sign', None))}"
        ax.plot(lon, centre, **style, label=label if labelled else None, gid=f"current-{hemi}")
        if labelled:
            ax.text(3.0, centre[3] + (2.0 if hemi == "north" else -2.0), f"{hemi} toroid", fontsize=8,
                    va="bottom" if hemi == "north" else "top", zorder=6,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def _predicted_lines(ax: Axes, ds: xr.Dataset, style: dict, label: str) -> list:
    """The predicted ridge of both hemispheres, drawn last and above the current toroids (higher zorder, dashed,
    another colour), so it stays visible where the two coincide."""
    lines = []
    for hemi, centre in _predicted_ridges(ds).items():
        (line,) = ax.plot(ds["lon"].values, centre, **style, label=label if hemi == "north" else None,
                          gid=f"predicted-{hemi}")
        lines.append(line)
    return lines


def _plot_magnetogram(ax: Axes, fig: Figure, ds: xr.Dataset, inputs: Any, cr: int) -> None:
    """Br of the latest map (symmetric diverging scale), the current toroids and the predicted ridge on top."""
    br = inputs.latest
    im = ax.pcolormesh(br["lon"], br["lat"], np.clip(br.values, -BR_CLIP_G, BR_CLIP_G), cmap="RdBu_r",
                       shading="auto", vmin=-BR_CLIP_G, vmax=BR_CLIP_G, rasterized=True)
    cb = fig.colorbar(im, ax=ax, extend="both", pad=0.01, fraction=0.04)
    cb.set_label(f"Br (G): red = outward (+), blue = inward (-)\nsaturated at ±{BR_CLIP_G:.0f} G")
    _current_toroids(ax, inputs.toroids, CURRENT, labelled=True)
    _predicted_lines(ax, ds, PREDICTED_ON_BR, f"predicted ridge as seen in CR {ds.attrs['forecast_rotation']}")
    _finish(ax, f"Latest map: Br of {rotation_label(cr)} with its toroids and the predicted ridge")
    _date_axis(ax, cr)


def _plot_intensity(ax: Axes, fig: Figure, ds: xr.Dataset, inputs: Any, spots: list[dict],
                    emerged: pd.DataFrame | None) -> None:
    """Expected new ARs per sr, the predicted ridge, the numbered hotspots and the ARs that emerged (if given)."""
    target = int(ds.attrs["forecast_rotation"])
    im = ax.pcolormesh(ds["lon"], ds["lat"], intensity_per_sr(ds), cmap="magma", shading="auto", vmin=0.0,
                       rasterized=True)
    cb = fig.colorbar(im, ax=ax, pad=0.01, fraction=0.04)
    cb.set_label(f"expected new ARs per sr in CR {target}")
    _current_toroids(ax, inputs.toroids, CURRENT_ON_DENSITY, labelled=False)
    ax.plot([], [], **CURRENT_ON_DENSITY, label=f"toroids now (CR {target - 1})")
    _predicted_lines(ax, ds, PREDICTED_ON_DENSITY, f"predicted ridge as seen in CR {target}")
    _hotspots(ax, spots)
    if emerged is not None:
        n = len(emerged)
        ax.plot(emerged["lon"] if n else [], emerged["lat"] if n else [], "o", mfc="none", mec="lime", mew=1.5,
                ms=7, zorder=6, label=f"new ARs that emerged (ARISE): {n}" if n else "no ARISE ARs listed yet",
                gid="emerged")
    n = {h: float(ds["expected_count"].sel(hemisphere=h)) for h in HEMISPHERES}
    _finish(ax, f"Forecast for {rotation_label(target)}: new ARs expected north {n['north']:.1f}, south "
                f"{n['south']:.1f}\n({ds.attrs.get('emergence_model', 'ridge')} model, lead "
                f"{ds.attrs['lead_time_days_min']:.0f}-{ds.attrs['lead_time_days_max']:.0f} d after the middle "
                f"of CR {target - 1}, band {ds.attrs['field_strength_kG']:.0f} kG)")
    ax.set_xlabel("Carrington longitude (deg)")
    _date_axis(ax, target)


def _hotspots(ax: Axes, spots: list[dict]) -> None:
    """Numbered markers at the hotspots, each with its chance of at least one new AR nearby as text (to the
    marker's left at the right edge, so it stays inside the map)."""
    radius = None
    for k, spot in enumerate(spots, start=1):
        lat, lon = float(spot["lat_deg"]), float(spot["lon_deg"])
        ax.plot([lon], [lat], "o", ms=15, mfc="white", mec="black", mew=1.2, zorder=7, gid=f"hotspot-{k}")
        ax.text(lon, lat, str(k), ha="center", va="center", fontsize=9, fontweight="bold", zorder=8)
        radius_p = hotspot_probabilities(spot)
        if radius_p is None:
            continue
        radius, p = radius_p
        left = lon > 335.0
        ax.annotate(f"P={100 * p:.0f}%", (lon, lat), xytext=(-10 if left else 10, 8), textcoords="offset points",
                    ha="right" if left else "left", fontsize=8, zorder=8, gid=f"hotspot-text-{k}",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "black", "lw": 0.5, "alpha": 0.85})
    if spots:
        within = f"at least one new AR within {radius:g} deg" if radius is not None else "hotspot"
        ax.plot([], [], "o", ms=10, mfc="white", mec="black", label=f"hotspots 1-{len(spots)}: P = chance of {within}")


def _finish(ax: Axes, title: str) -> None:
    """Shared axes settings: latitudes shown, labels, legend below the bands, title."""
    ax.set_ylim(-LAT_LIMIT_DEG, LAT_LIMIT_DEG)
    ax.set_xlim(0.0, 360.0)
    ax.set_xticks(np.arange(0.0, 361.0, 30.0))
    ax.set_ylabel("latitude (deg)")
    ax.legend(loc="lower left", fontsize=8, ncol=2, framealpha=0.9)
    ax.set_title(title, fontsize=10)


def plot_hindcast(result: HindcastView, scores: Sequence[str]) -> Figure:
    """Mean log2-likelihood per new AR (bits) of each of ``scores``, per scored rotation."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    pr = result.per_rotation
    for s, style in zip(scores, ("o-", "s--", ":", "^-", "d-")):
        ax.plot(pr["cr"], pr[f"bits_{s}"], style, label=f"{s} ({result.summary['mean_bits'][s]:+.2f})", ms=3)
    ax.set_xlabel("scored rotation N+1 (CR)")
    ax.set_ylabel("mean log2-likelihood per new AR (bits)")
    ax.legend(fontsize=8, ncol=3)
    ax.set_title("Hindcast: forecasts from maps up to N, scored on ARISE ARs of N+1")
    return fig
