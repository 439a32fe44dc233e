"""Figures of the forecast and the hindcast (matplotlib ``Figure`` objects, no pyplot).

No pyplot, so the caller's backend is left alone; the caller saves the figure (``pinn.io.save_figure``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pinn.ridges import HEMISPHERES, centre_at_lead

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pinn.forecast import ForecastResult
    from pinn.hindcast import HindcastResult


def plot_forecast(result: ForecastResult) -> Figure:
    """Latest magnetogram with current toroids, predicted toroids, and the emergence density."""
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


def plot_hindcast(result: HindcastResult, scores: Sequence[str]) -> Figure:
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
