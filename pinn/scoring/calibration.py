"""Calibration of the emergence forecast: P(>= 1 new AR) per coarse cell, reliability, Brier skill.

Each forecast (density + per-hemisphere expected counts, :func:`pinn.scoring.scores.intensity`) gives per
``cell_deg`` x ``cell_deg`` cell the Poisson probability 1 - exp(-mu) of at least one new AR; the
observation is whether one emerged there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from pinn.scoring.scores import intensity


def coarse_sum(values: np.ndarray, lat_deg: np.ndarray, lon_deg: np.ndarray, cell_deg: float = 10.0) -> np.ndarray:
    """Sum a (lat, lon) field into ``cell_deg`` cells (by cell centre)."""
    i = np.clip(((np.asarray(lat_deg) + 90.0) // cell_deg).astype(int), 0, int(180 / cell_deg) - 1)
    j = (np.mod(np.asarray(lon_deg), 360.0) // cell_deg).astype(int)
    out = np.zeros((int(180 / cell_deg), int(360 / cell_deg)))
    np.add.at(out, (i[:, None], j[None, :]), values)
    return out


def cell_probability(density: xr.DataArray, rates: dict, cell_deg: float = 10.0) -> np.ndarray:
    """P(>= 1 new AR) per coarse cell from a density and per-hemisphere expected counts."""
    mu = coarse_sum(intensity(density, rates), density["lat"].values, density["lon"].values, cell_deg)
    return 1.0 - np.exp(-mu)


def cell_observed(ar_lat, ar_lon, cell_deg: float = 10.0) -> np.ndarray:
    """1 where at least one AR of the rotation lies in the coarse cell, else 0."""
    out = np.zeros((int(180 / cell_deg), int(360 / cell_deg)))
    i = np.clip(((np.asarray(ar_lat, float) + 90.0) // cell_deg).astype(int), 0, out.shape[0] - 1)
    j = (np.mod(np.asarray(ar_lon, float), 360.0) // cell_deg).astype(int) % out.shape[1]
    out[i, j] = 1.0
    return out


def brier(p: np.ndarray, o: np.ndarray) -> float:
    """Mean squared difference of probabilities and 0/1 outcomes."""
    return float(np.mean((np.asarray(p, float) - np.asarray(o, float)) ** 2))


def brier_skill(p: np.ndarray, p_ref: np.ndarray, o: np.ndarray) -> float:
    """1 - Brier(p) / Brier(p_ref): positive when ``p`` beats the reference."""
    return 1.0 - brier(p, o) / brier(p_ref, o)


def reliability(p: np.ndarray, o: np.ndarray, edges: np.ndarray | None = None) -> pd.DataFrame:
    """Per probability bin: mean forecast, observed frequency, number of cells."""
    p, o = np.ravel(p), np.ravel(o)
    edges = np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]) if edges is None else edges
    k = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    rows = [{"low": edges[b], "high": edges[b + 1], "mean_p": float(p[k == b].mean()),
             "freq": float(o[k == b].mean()), "n": int((k == b).sum())} for b in range(len(edges) - 1) if (k == b).any()]
    return pd.DataFrame(rows)


def plot_reliability(tables: dict[str, pd.DataFrame]):
    """Reliability diagram (observed frequency vs forecast probability) of several forecasts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    for name, t in tables.items():
        ax.plot(t["mean_p"], t["freq"], "o-", label=name, ms=3)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_xlabel("forecast P(>= 1 new AR in 10x10 deg cell)")
    ax.set_ylabel("observed frequency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def calibration_summary(probabilities: dict[str, Sequence[np.ndarray]], observed: Sequence[np.ndarray],
                        references: Sequence[str] = ("data_only", "band")) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Brier scores, Brier skill against each of ``references``, and reliability tables of per-cell forecasts.

    ``probabilities``: per model, one P(>= 1 new AR) array per scored rotation (:func:`cell_probability`);
    ``observed``: the matching 0/1 arrays (:func:`cell_observed`). Returns the summary and the tables.
    """
    o = np.stack(observed)
    p = {k: np.stack(v) for k, v in probabilities.items()}
    tables = {k: reliability(v, o) for k, v in p.items()}
    summary = {"brier": {k: brier(v, o) for k, v in p.items()},
               **{f"brier_skill_vs_{r}": {k: brier_skill(v, p[r], o) for k, v in p.items()} for r in references if r in p},
               "reliability": {k: t.to_dict(orient="records") for k, t in tables.items()}}
    return summary, tables
