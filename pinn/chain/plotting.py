"""Figures of the forecast and the hindcast (matplotlib ``Figure`` objects, no pyplot).

No pyplot, so the caller's backend is left alone; the caller saves the figure (``pinn.io.save_figure``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import xarray as xr

from pinn.emergence.ridges import HEMISPHERES, centre_at_lead

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class ForecastView(Protocol):
    """What the forecast figure reads of a :class:`pinn.chain.forecast.ForecastResult`."""

    dataset: xr.Dataset  # forecast.nc
    inputs: Any  # the case inputs: ``latest`` Br map, ``toroids``, ``crs``


class HindcastView(Protocol):
    """What the hindcast figure reads of a :class:`pinn.chain.hindcast.HindcastResult`."""

    per_rotation: pd.DataFrame
    summary: dict


def intensity_per_sr(ds) -> np.ndarray:
    """Expected new ARs per sr of forecast.nc: the density x the expected count of its hemisphere."""
    from pinn.data import grid
    from pinn.scoring import scores as ev
    rates = {h: float(ds["expected_count"].sel(hemisphere=h)) for h in HEMISPHERES}
    return ev.intensity(ds["emergence_density"], rates) / grid.cell_areas(ds["lat"].values, ds["lon"].values)


def plot_forecast(result: ForecastView, emerged=None) -> Figure:
    """Latest magnetogram with current and predicted toroids; the expected new ARs per sr of N+1 with the
    predicted toroids and, where known, the ARs that did emerge (``emerged``: rows with lat, lon; read
    after the forecast, for the figure only)."""
    from matplotlib.figure import Figure

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
        pred = centre_at_lead(ds, hemi, lead)
        ax.plot(ds["lon"], pred, "m--", lw=1.4, label="predicted (at observation time)" if hemi == "north" else None)
    ax.set_ylabel("latitude (deg)")
    ax.set_ylim(-60, 60)
    ax.set_title(f"CR {inputs.crs[-1]} Br (G, clipped at 300) with toroids; forecast for CR {inputs.crs[-1] + 1}")
    ax.legend(loc="lower left", fontsize=8)
    _plot_intensity(axes[1], fig, axes, ds, emerged)
    return fig


def _plot_intensity(ax, fig, axes, ds, emerged) -> None:
    """Expected new ARs per sr, the predicted toroids, and the ARs that emerged (if given)."""
    im = ax.pcolormesh(ds["lon"], ds["lat"], intensity_per_sr(ds), cmap="magma", shading="auto")
    fig.colorbar(im, ax=axes, shrink=0.5, label="expected new ARs per sr")
    lead = ds["observation_lead_days"].values
    for hemi in HEMISPHERES:
        ax.plot(ds["lon"], centre_at_lead(ds, hemi, lead), "c--", lw=1.2,
                label="predicted toroid" if hemi == "north" else None)
    if emerged is not None and len(emerged):
        ax.plot(emerged["lon"], emerged["lat"], "o", mfc="none", mec="lime", ms=6,
                label=f"emerged (ARISE, {len(emerged)})")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_ylim(-60, 60)
    ax.set_xlabel("Carrington longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    n = {h: float(ds["expected_count"].sel(hemisphere=h)) for h in HEMISPHERES}
    ax.set_title(f"new ARs expected in CR {ds.attrs['forecast_rotation']}: north {n['north']:.1f}, "
                 f"south {n['south']:.1f} ({ds.attrs.get('emergence_model', 'ridge')} model, lead "
                 f"{ds.attrs['lead_time_days_min']:.0f}-{ds.attrs['lead_time_days_max']:.0f} d, "
                 f"{ds.attrs['field_strength_kG']:.0f} kG)")


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
