"""The causally chosen data-only baseline as a function: candidate scores, causal choices, densities.

Moved from ``experiments/baselines/run.py`` so that the hindcast scores the same baselines (docs/science.md section
5). A *candidate* is one method of :mod:`pinn.emergence.baselines` with one setting of its hyperparameters, named by a
label (:func:`label`). Each *method* forecasts target M (the scored N+1) with the candidate of highest
total bits over the targets before M; the *data-only baseline* forecasts M with the method whose own causal
forecasts had the highest total before M (:func:`prequential`). Nothing about M or later is used for M.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from pinn.data import arise, grid
from pinn.emergence import baselines as bl
from pinn.emergence import density as dn
from pinn.scoring import scores as ev

# Rotations with no data: SOHO lost contact June-October 1998 (CR 1938-1940); CR 2262-2264 kept aside
# (absent from the repository's data). Other rotations without rows count as zero ARs.
UNOBSERVED = (1938, 1939, 1940, 2262, 2263, 2264)
WIDTHS = (2.0, 3.0, 5.0, 8.0)  # deg
ROTATIONS = (1, 2, 3, 5)
DECAYS = (0.25, 0.5, 1.0)
MIXES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7)
FLOORS = (0.01, 0.03, 0.05, 0.1)
SHARE_DECAYS = (None, 0.5, 0.8, 0.95)  # None: the density's own hemisphere split
MIN_ROTATIONS = 20  # causal fits start once this many rotations have been scored
BAND = "band"
FAMILIES = {
    "band_floor": lambda c: c.startswith("b0 ") and c.endswith("sNone"),
    "band_hemi": lambda c: c.startswith("b0 "),
    "nests": lambda c: c.startswith(("bw", "b0 ")) and c.endswith("sNone"),
    "nests_hemi": lambda c: c.startswith(("bw", "b0 ")),
    "climatology": lambda c: c.startswith("c0 "),
    "nests_clim": lambda c: c.startswith(("cw", "c0 ")),
}
DEFAULTS = {k: "b0 f0.05 sNone" for k in FAMILIES} | {"climatology": "c0 f0.05 sNone", "nests_clim": "c0 f0.05 sNone"}
METHODS = (BAND, *FAMILIES)


def label(base, w, k, d, m, f, s) -> str:
    """Candidate label: base b (band) or c (climatology), kernel settings, floor, hemisphere-share decay."""
    if m == 0.0:
        return f"{base}0 f{f} s{s}"
    return f"{base}w{w} K{k} d{d} m{m} f{f} s{s}"


def target_scores(table, counts, library, target, lat, lon, index_da) -> pd.DataFrame:
    """Per-AR bits of every candidate for one target rotation (factorised: kernels at the ARs only)."""
    truth = arise.ars_of(table, target)
    flat = ev.sample(index_da, truth["lat"], truth["lon"]).astype(int)
    north = lat[flat // len(lon)] > 0
    areas = grid.cell_areas(lat, lon)
    band_grid = bl.unfloored_band(table, target, lat, lon)
    band_at, band_north = band_grid.ravel()[flat], bl.north_mass(band_grid, lat, lon)
    past = table[(table["cr"] < target) & (table["cr"] >= target - max(ROTATIONS))]
    shares = {s: bl.north_share(counts, target, s) for s in SHARE_DECAYS if s is not None}
    out = {"cr": np.full(len(truth), target), "lat": truth["lat"].values, "lon": truth["lon"].values,
           BAND: ev.log2_likelihood(dn.band_density(bl.band_history(table, target), lat, lon),
                                    truth["lat"], truth["lon"])}
    kern_at, kern_north = {}, {}
    for w in WIDTHS:
        if len(past):
            kern = bl.carried_kernels(past, target, lat, lon, w)
            kern_at[w] = kern.reshape(len(past), -1)[:, flat].T  # (n_truth, n_past)
            kern_north[w] = np.sum((kern * areas)[:, lat > 0, :], axis=(1, 2))

    clim = bl.climatology_density(table, target, lat, lon, library=library).values
    clim = (clim - bl.BAND_FLOOR / grid.FOUR_PI) / (1 - bl.BAND_FLOOR)
    bases = {"b": (band_at, band_north, SHARE_DECAYS), "c": (clim.ravel()[flat], bl.north_mass(clim, lat, lon), (None,))}

    def emit(mixed, mass_n, f, tag, share_decays):
        for s in share_decays:
            p = mixed if s is None else mixed * np.where(north, shares[s] / mass_n, (1 - shares[s]) / (1 - mass_n))
            out[tag(f, s)] = np.log2((1 - f) * p + f / grid.FOUR_PI)

    for (base, (b_at, b_north, sd)), f in itertools.product(bases.items(), FLOORS):
        emit(b_at, b_north, f, lambda f, s, base=base: label(base, 0, 0, 0, 0.0, f, s), sd)
    for w, k, d in itertools.product(WIDTHS, ROTATIONS, DECAYS):
        if k == 1 and d != 1.0:
            continue  # one rotation back: the decay does nothing
        wt = bl.recency_weights(past["cr"].values, target, k, d)
        for base, (b_at, b_north, sd) in bases.items():
            if w not in kern_at or wt.sum() == 0:
                kd, kn = b_at, b_north  # no recent AR: the kernel part falls back to the base density
            else:
                kd, kn = kern_at[w] @ (wt / wt.sum()), float(kern_north[w] @ (wt / wt.sum()))
            for m, f in itertools.product(MIXES[1:], FLOORS):
                emit((1 - m) * b_at + m * kd, (1 - m) * b_north + m * kn, f,
                     lambda f, s, w=w, k=k, d=d, m=m, base=base: label(base, w, k, d, m, f, s), sd)
    return pd.DataFrame(out)


def prequential(scores: pd.DataFrame, columns: list[str], default: str,
                min_rotations: int = MIN_ROTATIONS) -> tuple[np.ndarray, pd.Series]:
    """Bits of the causally chosen column at every AR, and the column chosen per target."""
    per_rot = scores.groupby("cr")[columns].sum()
    before = per_rot.cumsum().shift(1).fillna(0.0)
    n_before = pd.Series(np.arange(len(per_rot)), index=per_rot.index)
    chosen = before.idxmax(axis=1).where(n_before >= min_rotations, default)
    pick = scores["cr"].map(chosen)
    col_idx = pd.Index(columns).get_indexer(pick)
    return scores[columns].values[np.arange(len(scores)), col_idx], chosen


@dataclass(frozen=True)
class DataOnlyResult:
    """Per-AR bits of every method and the data-only choice (``bits``), and the choices per target."""

    bits: pd.DataFrame  # cr, lat, lon, band, <family>..., data_only
    choices: pd.DataFrame  # index cr; choice_<method> (candidate label, or method name for data_only)


def default_targets(table: pd.DataFrame, first: int | None = None, last: int | None = None) -> list[int]:
    """Targets with ARs and a non-empty band history, optionally within first..last."""
    return [int(m) for m in np.unique(table["cr"]) if len(bl.band_history(table, int(m))) > 0
            and (first is None or m >= first) and (last is None or m <= last)]


def score_methods(table: pd.DataFrame, lat, lon, targets: list[int]) -> DataOnlyResult:
    """Causal forecasts of every method and of the data-only baseline on ``targets`` (ascending).

    The causal choice for target M uses the targets of this list before M only, so pass the whole record
    (:func:`default_targets`) to reproduce ``experiments/baselines``.
    """
    index_da = dn.density_dataarray(np.arange(len(lat) * len(lon), dtype=float).reshape(len(lat), len(lon)), lat, lon)
    counts = bl.hemisphere_counts(table, int(table["cr"].min()), int(table["cr"].max()), UNOBSERVED)
    library = bl.analog_library(table, int(table["cr"].max()) + 1)
    scores = pd.concat([target_scores(table, counts, library, m, lat, lon, index_da) for m in targets],
                       ignore_index=True)
    methods = {BAND: scores[BAND].values}
    chosen = {}
    for fam, keep in FAMILIES.items():
        cols = [c for c in scores.columns if c not in ("cr", "lat", "lon", BAND) and keep(c)]
        methods[fam], chosen[fam] = prequential(scores, cols, DEFAULTS[fam])
    mdf = pd.DataFrame({"cr": scores["cr"], **methods})
    methods["data_only"], chosen["data_only"] = prequential(mdf, list(methods), BAND)
    bits = pd.DataFrame({"cr": scores["cr"], "lat": scores["lat"], "lon": scores["lon"], **methods})
    choices = pd.DataFrame({f"choice_{k}": v for k, v in chosen.items()})
    choices.index.name = "cr"
    return DataOnlyResult(bits, choices)


def parse_label(text: str) -> dict:
    """Settings of a candidate label (:func:`label`): base, width, K, decay, mix, floor, share decay."""
    parts = text.split()
    base = parts[0][0]
    out = {"base": base, "width": None, "K": None, "decay": None, "mix": 0.0}
    if parts[0][1] == "w":
        out.update(width=float(parts[0][2:]), K=int(parts[1][1:]), decay=float(parts[2][1:]), mix=float(parts[3][1:]))
    out["floor"] = float(parts[-2][1:])
    out["share_decay"] = None if parts[-1] == "sNone" else float(parts[-1][1:])
    return out


def candidate_density(table: pd.DataFrame, target: int, lat, lon, text: str) -> xr.DataArray:
    """The density (per sr, integrating to 1) of the candidate ``text`` for ``target``, from rows cr < target."""
    p = parse_label(text)
    past_all = table[table["cr"] < target]
    if p["base"] == "b":
        base = bl.unfloored_band(past_all, target, lat, lon)
    else:
        clim = bl.climatology_density(past_all, target, lat, lon).values
        base = (clim - bl.BAND_FLOOR / grid.FOUR_PI) / (1 - bl.BAND_FLOOR)
    mixed = base
    if p["mix"] > 0:
        past = past_all[past_all["cr"] >= target - p["K"]]
        wt = bl.recency_weights(past["cr"].values, target, p["K"], p["decay"])
        if len(past) and wt.sum() > 0:
            kern = np.tensordot(wt / wt.sum(), bl.carried_kernels(past, target, lat, lon, p["width"]), 1)
            mixed = (1 - p["mix"]) * base + p["mix"] * kern
    if p["share_decay"] is not None:
        counts = bl.hemisphere_counts(past_all, int(table["cr"].min()), target - 1, UNOBSERVED)
        mixed = bl.split_hemispheres(mixed, lat, lon, bl.north_share(counts, target, p["share_decay"]))
    return dn.density_dataarray(dn.with_floor(mixed, p["floor"]), lat, lon)


def method_density(table: pd.DataFrame, result: DataOnlyResult, target: int, method: str, lat, lon) -> xr.DataArray:
    """Density of ``method`` (a family, ``band`` or ``data_only``) for ``target`` with its causal choice."""
    if method == "data_only":
        method = result.choices.loc[target, "choice_data_only"]
    if method == BAND:
        return dn.band_density(bl.band_history(table, target), lat, lon)
    return candidate_density(table, target, lat, lon, result.choices.loc[target, f"choice_{method}"])
