"""The causally chosen data-only baseline as a function: candidate scores, causal choices, densities.

Moved from ``experiments/baselines/run.py`` so that the hindcast scores the same baselines (docs/science.md section
5). A *candidate* is one method of :mod:`pinn.emergence.baselines` with one setting of its hyperparameters, named by a
label (:func:`label`). Each *method* forecasts target M (the scored N+1) with the candidate of highest
total bits over the targets before M; the *data-only baseline* forecasts M with the method whose own causal
forecasts had the highest total before M (:func:`prequential`). The *data-only stack* forecasts M with the linear
pool of every method's causal forecast, its weights fitted on the methods' scores at the targets before M
(:func:`stack_weights`, :mod:`pinn.emergence.stacking`). Nothing about M or later is used for M.

At lead L (rotations; default 1) target M = N+L is forecast from the rows of rotations <= N only: the band,
hemisphere shares, climatology and recency weights are those of the rotation after N (:func:`issue_basis`), the
kernels of recent ARs are carried to the observation times of M (L rotations), and the causal choices for M
use only the targets <= N, whose outcome is known when M is forecast.
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
from pinn.emergence import stacking as st
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
STACK = "data_only_stack"  # the causal linear pool of METHODS (stack_weights)


def issue_basis(target: int, lead: int = 1) -> int:
    """The rotation after the last one known when ``target`` is forecast ``lead`` rotations ahead (N+1 for
    target N+L): every history-based part of a forecast of ``target`` is that of this rotation."""
    if lead < 1:
        raise ValueError(f"lead must be >= 1 rotation, got {lead}")
    return target - lead + 1


def label(base, w, k, d, m, f, s) -> str:
    """Candidate label: base b (band) or c (climatology), kernel settings, floor, hemisphere-share decay."""
    if m == 0.0:
        return f"{base}0 f{f} s{s}"
    return f"{base}w{w} K{k} d{d} m{m} f{f} s{s}"


def candidate_labels() -> list[str]:
    """Labels of every candidate, in the column order of :func:`target_scores` (ties go to the first)."""
    out = [label(base, 0, 0, 0, 0.0, f, s) for base in ("b", "c") for f in FLOORS
           for s in (SHARE_DECAYS if base == "b" else (None,))]
    for w, k, d in _kernel_settings():
        for base in ("b", "c"):
            out += [label(base, w, k, d, m, f, s) for m, f in itertools.product(MIXES[1:], FLOORS)
                    for s in (SHARE_DECAYS if base == "b" else (None,))]
    return out


def _kernel_settings() -> list[tuple[float, int, float]]:
    """(width deg, rotations back, decay) of the kernel candidates; one rotation back ignores the decay."""
    return [(w, k, d) for w, k, d in itertools.product(WIDTHS, ROTATIONS, DECAYS) if not (k == 1 and d != 1.0)]


def _floored_bits(mixed: np.ndarray, mass_n: np.ndarray, north: np.ndarray, shares: list[float | None]) -> np.ndarray:
    """log2 of floor/4pi + (1 - floor) x (hemisphere-split ``mixed``) for every floor and share decay (bits).

    ``mixed``: (..., n_ar) floor-free densities at the ARs (per sr), ``mass_n``: (...) their north masses;
    ``shares``: north share per share decay (None: keep the density's own split). Returns
    (..., n_floor, n_share, n_ar), the candidate order of :func:`candidate_labels`.
    """
    split = []
    for share in shares:
        if share is None:
            split.append(mixed)
        else:
            m = mass_n[..., None]
            split.append(mixed * np.where(north, share / m, (1 - share) / (1 - m)))
    p = np.stack(split, axis=-2)[..., None, :, :]  # (..., 1, n_share, n_ar)
    f = np.asarray(FLOORS)[:, None, None]
    return np.log2((1 - f) * p + f / grid.FOUR_PI)


def target_bits(table, counts, library, target, lat, lon, index_da,
                lead: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bits at every AR of ``target``: the band's (n_ar,), every candidate's (n_ar, n_candidate) in the
    order of :func:`candidate_labels`, and the ARs' (lat, lon) (2, n_ar) in degrees. ``lead``: rotations
    ahead (the forecast reads rows of rotations < :func:`issue_basis` only).

    Factorised: the kernels are evaluated at the ARs' grid cells plus their normalisation and north mass
    only, once per (width, AR), and the rotations/decays/mixes/floors/shares are array operations on them.
    """
    truth = arise.ars_of(table, target)
    basis = issue_basis(target, lead)
    flat = ev.sample(index_da, truth["lat"], truth["lon"]).astype(int)
    north = lat[flat // len(lon)] > 0
    band_grid = bl.unfloored_band(table, basis, lat, lon)
    band_at, band_north = band_grid.ravel()[flat], bl.north_mass(band_grid, lat, lon)
    past = table[(table["cr"] < basis) & (table["cr"] >= basis - max(ROTATIONS))]
    shares = [None if s is None else bl.north_share(counts, basis, s) for s in SHARE_DECAYS]
    band = ev.log2_likelihood(dn.band_density(bl.band_history(table, basis), lat, lon), truth["lat"], truth["lon"])
    clim = bl.climatology_density(table, basis, lat, lon, library=library).values
    clim = (clim - bl.BAND_FLOOR / grid.FOUR_PI) / (1 - bl.BAND_FLOOR)
    bases = {"b": (band_at, band_north, shares), "c": (clim.ravel()[flat], bl.north_mass(clim, lat, lon), [None])}

    settings = _kernel_settings()
    widths = sorted({w for w, _, _ in settings})
    if len(past):
        kern_at, kern_north = bl.carried_kernels_at(past, target, lat, lon, widths, flat)
    wts = np.array([bl.recency_weights(past["cr"].values, basis, k, d) for _, k, d in settings]).reshape(
        len(settings), len(past))
    mix = np.asarray(MIXES[1:])[None, :, None]
    blocks_base, blocks_kern = [], []
    for b_at, b_north, sh in bases.values():
        blocks_base.append(_floored_bits(b_at, np.asarray(b_north), north, sh).reshape(-1, len(flat)))
        kd = np.repeat(b_at[None, :], len(settings), axis=0)  # no recent AR: the kernel part is the base density
        kn = np.full(len(settings), b_north)
        for i, (w, _, _) in enumerate(settings):
            total = wts[i].sum()
            if len(past) and total != 0:
                kd[i] = kern_at[widths.index(w)] @ (wts[i] / total)
                kn[i] = kern_north[widths.index(w)] @ (wts[i] / total)
        mixed = (1 - mix) * b_at[None, None, :] + mix * kd[:, None, :]  # (setting, mix, n_ar)
        mass = (1 - mix[..., 0]) * b_north + mix[..., 0] * kn[:, None]
        blocks_kern.append(_floored_bits(mixed, mass, north, sh).reshape(len(settings), -1, len(flat)))
    cand = np.concatenate([*blocks_base, np.concatenate(blocks_kern, axis=1).reshape(-1, len(flat))])
    return band, cand.T, np.array([truth["lat"].values, truth["lon"].values], float).reshape(2, -1)


def target_scores(table, counts, library, target, lat, lon, index_da, lead: int = 1) -> pd.DataFrame:
    """Per-AR bits of every candidate for one target rotation (columns cr, lat, lon, band, labels)."""
    band, cand, pos = target_bits(table, counts, library, target, lat, lon, index_da, lead)
    head = pd.DataFrame({"cr": np.full(len(band), target), "lat": pos[0], "lon": pos[1], BAND: band})
    return pd.concat([head, pd.DataFrame(cand, columns=candidate_labels())], axis=1)


def prequential(scores: pd.DataFrame, columns: list[str], default: str,
                min_rotations: int = MIN_ROTATIONS, lead: int = 1) -> tuple[np.ndarray, pd.Series]:
    """Bits of the causally chosen column at every AR, and the column chosen per target.

    The choice for target M maximises the total over the targets <= M - ``lead`` (those scored by the time
    M is forecast ``lead`` rotations ahead); ``default`` until ``min_rotations`` of them exist."""
    per_rot = scores.groupby("cr")[columns].sum()
    known = np.searchsorted(per_rot.index.values, per_rot.index.values - lead, side="right")  # targets <= M - lead
    cum = np.vstack([np.zeros((1, len(columns))), per_rot.cumsum().values])
    before = pd.DataFrame(cum[known], index=per_rot.index, columns=per_rot.columns)
    n_before = pd.Series(known, index=per_rot.index)
    chosen = before.idxmax(axis=1).where(n_before >= min_rotations, default)
    pick = scores["cr"].map(chosen)
    col_idx = pd.Index(columns).get_indexer(pick)
    return scores[columns].values[np.arange(len(scores)), col_idx], chosen


@dataclass(frozen=True)
class DataOnlyResult:
    """Per-AR bits of every method and the data-only choice (``bits``), and the choices per target."""

    bits: pd.DataFrame  # cr, lat, lon, band, <family>..., data_only
    choices: pd.DataFrame  # index cr; choice_<method> (candidate label, or method name for data_only)


def default_targets(table: pd.DataFrame, first: int | None = None, last: int | None = None, lead: int = 1) -> list[int]:
    """Targets with ARs and a non-empty band history (at ``lead``: of the rotations up to N), optionally within
    first..last."""
    return [int(m) for m in np.unique(table["cr"]) if len(bl.band_history(table, issue_basis(int(m), lead))) > 0
            and (first is None or m >= first) and (last is None or m <= last)]


def score_methods(table: pd.DataFrame, lat, lon, targets: list[int], lead: int = 1) -> DataOnlyResult:
    """Causal forecasts of every method and of the data-only baseline on ``targets`` (ascending), each made
    ``lead`` rotations ahead (from the rows of rotations <= target - lead).

    The causal choice for target M uses the targets of this list <= M - lead only, so pass the whole record
    (:func:`default_targets`) to reproduce ``experiments/baselines``.
    """
    index_da = dn.density_dataarray(np.arange(len(lat) * len(lon), dtype=float).reshape(len(lat), len(lon)), lat, lon)
    counts = bl.hemisphere_counts(table, int(table["cr"].min()), int(table["cr"].max()), UNOBSERVED)
    library = bl.analog_library(table, int(table["cr"].max()) + 1)
    bl.rotation_start_jd(np.arange(int(table["cr"].min()), max(targets, default=0) + 2))  # one sunpy call for all
    per_target = [target_bits(table, counts, library, m, lat, lon, index_da, lead) for m in targets]
    scores = pd.concat([pd.DataFrame({"cr": np.repeat(np.asarray(targets, int), [len(b) for b, _, _ in per_target]),
                                      "lat": np.concatenate([p[0] for _, _, p in per_target]),
                                      "lon": np.concatenate([p[1] for _, _, p in per_target]),
                                      BAND: np.concatenate([b for b, _, _ in per_target])}),
                        pd.DataFrame(np.concatenate([c for _, c, _ in per_target]), columns=candidate_labels())], axis=1)
    methods = {BAND: scores[BAND].values}
    chosen = {}
    for fam, keep in FAMILIES.items():
        cols = [c for c in scores.columns if c not in ("cr", "lat", "lon", BAND) and keep(c)]
        methods[fam], chosen[fam] = prequential(scores, cols, DEFAULTS[fam], lead=lead)
    mdf = pd.DataFrame({"cr": scores["cr"], **methods})
    methods["data_only"], chosen["data_only"] = prequential(mdf, list(methods), BAND, lead=lead)
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


def candidate_density(table: pd.DataFrame, target: int, lat, lon, text: str, lead: int = 1) -> xr.DataArray:
    """The density (per sr, integrating to 1) of the candidate ``text`` for ``target`` forecast ``lead``
    rotations ahead, from rows cr <= target - lead (kernels carried to the observation times of ``target``)."""
    p = parse_label(text)
    basis = issue_basis(target, lead)
    past_all = table[table["cr"] < basis]
    if p["base"] == "b":
        base = bl.unfloored_band(past_all, basis, lat, lon)
    else:
        clim = bl.climatology_density(past_all, basis, lat, lon).values
        base = (clim - bl.BAND_FLOOR / grid.FOUR_PI) / (1 - bl.BAND_FLOOR)
    mixed = base
    if p["mix"] > 0:
        past = past_all[past_all["cr"] >= basis - p["K"]]
        wt = bl.recency_weights(past["cr"].values, basis, p["K"], p["decay"])
        if len(past) and wt.sum() > 0:
            kern = np.tensordot(wt / wt.sum(), bl.carried_kernels(past, target, lat, lon, p["width"]), 1)
            mixed = (1 - p["mix"]) * base + p["mix"] * kern
    if p["share_decay"] is not None:
        counts = bl.hemisphere_counts(past_all, int(table["cr"].min()), basis - 1, UNOBSERVED)
        mixed = bl.split_hemispheres(mixed, lat, lon, bl.north_share(counts, basis, p["share_decay"]))
    return dn.density_dataarray(dn.with_floor(mixed, p["floor"]), lat, lon)


def stack_weights(result: DataOnlyResult, targets, lead: int = 1, min_rotations: int | None = None) -> pd.DataFrame:
    """Per target (index), the weights of :data:`METHODS` in the data-only stack: the linear pool of the methods'
    causal forecasts that scored best over the record's targets <= target - ``lead`` (all weight on the band until
    ``min_rotations`` (None: :data:`MIN_ROTATIONS`) targets are known, as :func:`prequential` does). ``result`` must
    be the record at ``lead``."""
    need = MIN_ROTATIONS if min_rotations is None else min_rotations
    return st.causal_pool_weights(result.bits, list(METHODS), targets, BAND, need, lead)


def stack_bits(result: DataOnlyResult, lead: int = 1, min_rotations: int | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """The data-only stack's bits at every AR of the record (its causal forecast of each target) and its weights."""
    targets = np.unique(result.bits["cr"])
    weights = stack_weights(result, targets, lead, min_rotations)
    per_ar = weights.loc[result.bits["cr"].to_numpy()].to_numpy()
    return st.pool_bits(result.bits[list(METHODS)].to_numpy(float), per_ar), weights


def stack_components(result: DataOnlyResult, target: int, lead: int = 1) -> list[tuple[str, float]]:
    """The data-only stack of ``target`` as (candidate label or ``band``, weight) pairs with weight > 0: each
    method's causal choice for ``target`` and its pool weight, summed over methods that chose the same candidate
    (what the fit artifact stores for the forecast)."""
    weights = stack_weights(result, [target], lead).iloc[0]
    pooled: dict[str, float] = {}  # methods whose choice is the same candidate are one component
    for m, w in weights.items():
        if w > 0:
            text = m if m == BAND else str(result.choices.loc[target, f"choice_{m}"])
            pooled[text] = pooled.get(text, 0.0) + float(w)
    return list(pooled.items())


def label_density(table: pd.DataFrame, target: int, lat, lon, text: str, lead: int = 1) -> xr.DataArray:
    """The density of a data-only choice as the record and the fit artifact name it: ``band`` (the band baseline of
    the rotations before the issue basis) or a candidate label (:func:`candidate_density`)."""
    if text == BAND:
        return dn.band_density(bl.band_history(table, issue_basis(target, lead)), lat, lon)
    return candidate_density(table, target, lat, lon, text, lead)


def pooled_density(table: pd.DataFrame, components, target: int, lat, lon, lead: int = 1) -> xr.DataArray:
    """The linear pool of candidate densities ``components`` ((label or ``band``, weight) pairs) for ``target``."""
    total = sum(w for _, w in components)
    parts = [w / total * label_density(table, target, lat, lon, c, lead).values for c, w in components]
    return dn.density_dataarray(np.sum(parts, axis=0), lat, lon)


def method_density(table: pd.DataFrame, result: DataOnlyResult, target: int, method: str, lat, lon,
                   lead: int = 1) -> xr.DataArray:
    """Density of ``method`` (a family, ``band``, ``data_only`` or ``data_only_stack``) for ``target`` with its causal
    choice; ``result`` and ``lead`` must match (the record of :func:`score_methods` at that lead)."""
    if method == STACK:
        return pooled_density(table, stack_components(result, target, lead), target, lat, lon, lead)
    if method == "data_only":
        method = result.choices.loc[target, "choice_data_only"]
    return label_density(table, target, lat, lon, method if method == BAND else
                         result.choices.loc[target, f"choice_{method}"], lead)
