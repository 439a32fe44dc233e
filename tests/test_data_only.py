"""Data-only baseline as a function: candidate labels rebuild the densities the factorised scores used."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from pinn.data import arise, grid
from pinn.data.bundled import arise_table
from pinn.emergence import baselines as bl
from pinn.emergence import data_only as do
from pinn.emergence import density as dn
from pinn.scoring import scores as ev

LAT = -89.0 + 2.0 * np.arange(90)
LON = 1.0 + 2.0 * np.arange(180)


@pytest.fixture(scope="module")
def table():
    return arise.load_arise(arise_table())


def test_candidate_density_matches_factorised_scores(table):
    target = 2270
    index_da = dn.density_dataarray(np.arange(LAT.size * LON.size, dtype=float).reshape(LAT.size, LON.size), LAT, LON)
    counts = bl.hemisphere_counts(table, int(table["cr"].min()), int(table["cr"].max()), do.UNOBSERVED)
    library = bl.analog_library(table, target)
    scores = do.target_scores(table, counts, library, target, LAT, LON, index_da)
    truth = arise.ars_of(table, target)
    for text in ("b0 f0.05 sNone", "b0 f0.03 s0.8", "bw3.0 K3 d0.5 m0.1 f0.03 s0.8", "cw2.0 K3 d0.5 m0.1 f0.01 sNone"):
        dens = do.candidate_density(table, target, LAT, LON, text)
        assert dn.integral(dens) == pytest.approx(1.0, rel=1e-9)
        np.testing.assert_allclose(ev.log2_likelihood(dens, truth["lat"], truth["lon"]), scores[text], atol=1e-9)


def test_score_methods_causal_and_no_leakage(table):
    targets = do.default_targets(table, 2240, 2250)
    full = do.score_methods(table, LAT, LON, targets)
    cut = do.score_methods(table[table["cr"] <= 2245], LAT, LON, [t for t in targets if t <= 2245])
    early = full.bits[full.bits["cr"] <= 2245].reset_index(drop=True)
    np.testing.assert_allclose(early["data_only"], cut.bits["data_only"])
    assert set(full.bits.columns) >= {"cr", "lat", "lon", *do.METHODS, "data_only"}
    t = targets[-1]
    dens = do.method_density(table, full, t, "data_only", LAT, LON)
    truth = arise.ars_of(table, t)
    np.testing.assert_allclose(ev.log2_likelihood(dens, truth["lat"], truth["lon"]),
                               full.bits.loc[full.bits["cr"] == t, "data_only"], atol=1e-9)


# ---------------------------------------------------------------------------------------------
# The fast path (kernels at the ARs only, candidates as array operations) against the straightforward
# per-AR, per-candidate code it replaced (kept here verbatim as the reference).


def reference_carried_kernels(history, target, lat_deg, lon_deg, width_deg):
    """The kernel grids, one AR at a time (the original pinn.emergence.baselines.carried_kernels)."""
    lat = np.radians(np.asarray(lat_deg, float))
    lon_grid = np.asarray(lon_deg, float)
    areas = grid.cell_areas(lat_deg, lon_deg)
    t_grid = bl.observed_jd(np.full(lon_grid.shape, target), lon_grid)
    kappa = 1.0 / math.radians(width_deg) ** 2
    out = np.empty((len(history), len(lat), len(lon_grid)))
    t_ar = bl.observed_jd(history["cr"].values, history["lon"].values)
    for k, (la, lo, t0) in enumerate(zip(history["lat"].values, history["lon"].values, t_ar)):
        centre = np.radians(bl.carry_lon(lo, la, t_grid - t0))
        la_r = math.radians(la)
        cosd = np.sin(lat)[:, None] * math.sin(la_r) + np.cos(lat)[:, None] * math.cos(la_r) * np.cos(
            np.radians(lon_grid) - centre)[None, :]
        kern = np.exp(kappa * (cosd - 1.0))
        out[k] = kern / np.sum(kern * areas)
    return out


def reference_target_scores(table, counts, library, target, lat, lon, index_da):
    """Per-AR bits of every candidate, one candidate at a time (the original pinn.emergence.data_only.target_scores)."""
    truth = arise.ars_of(table, target)
    flat = ev.sample(index_da, truth["lat"], truth["lon"]).astype(int)
    north = lat[flat // len(lon)] > 0
    areas = grid.cell_areas(lat, lon)
    band_grid = bl.unfloored_band(table, target, lat, lon)
    band_at, band_north = band_grid.ravel()[flat], bl.north_mass(band_grid, lat, lon)
    past = table[(table["cr"] < target) & (table["cr"] >= target - max(do.ROTATIONS))]
    shares = {s: bl.north_share(counts, target, s) for s in do.SHARE_DECAYS if s is not None}
    out = {"cr": np.full(len(truth), target), "lat": truth["lat"].values, "lon": truth["lon"].values,
           do.BAND: ev.log2_likelihood(dn.band_density(bl.band_history(table, target), lat, lon),
                                       truth["lat"], truth["lon"])}
    kern_at, kern_north = {}, {}
    for w in do.WIDTHS:
        if len(past):
            kern = reference_carried_kernels(past, target, lat, lon, w)
            kern_at[w] = kern.reshape(len(past), -1)[:, flat].T
            kern_north[w] = np.sum((kern * areas)[:, lat > 0, :], axis=(1, 2))
    clim = bl.climatology_density(table, target, lat, lon, library=library).values
    clim = (clim - bl.BAND_FLOOR / grid.FOUR_PI) / (1 - bl.BAND_FLOOR)
    bases = {"b": (band_at, band_north, do.SHARE_DECAYS),
             "c": (clim.ravel()[flat], bl.north_mass(clim, lat, lon), (None,))}

    def emit(mixed, mass_n, f, tag, share_decays):
        for s in share_decays:
            p = mixed if s is None else mixed * np.where(north, shares[s] / mass_n, (1 - shares[s]) / (1 - mass_n))
            out[tag(f, s)] = np.log2((1 - f) * p + f / grid.FOUR_PI)

    for (base, (b_at, b_north, sd)), f in itertools.product(bases.items(), do.FLOORS):
        emit(b_at, b_north, f, lambda f, s, base=base: do.label(base, 0, 0, 0, 0.0, f, s), sd)
    for w, k, d in itertools.product(do.WIDTHS, do.ROTATIONS, do.DECAYS):
        if k == 1 and d != 1.0:
            continue
        wt = bl.recency_weights(past["cr"].values, target, k, d)
        for base, (b_at, b_north, sd) in bases.items():
            if w not in kern_at or wt.sum() == 0:
                kd, kn = b_at, b_north
            else:
                kd, kn = kern_at[w] @ (wt / wt.sum()), float(kern_north[w] @ (wt / wt.sum()))
            for m, f in itertools.product(do.MIXES[1:], do.FLOORS):
                emit((1 - m) * b_at + m * kd, (1 - m) * b_north + m * kn, f,
                     lambda f, s, w=w, k=k, d=d, m=m, base=base: do.label(base, w, k, d, m, f, s), sd)
    return pd.DataFrame(out)


def reference_score_methods(table, lat, lon, targets):
    """The original pinn.emergence.data_only.score_methods on the reference scores."""
    index_da = dn.density_dataarray(np.arange(len(lat) * len(lon), dtype=float).reshape(len(lat), len(lon)), lat, lon)
    counts = bl.hemisphere_counts(table, int(table["cr"].min()), int(table["cr"].max()), do.UNOBSERVED)
    library = bl.analog_library(table, int(table["cr"].max()) + 1)
    scores = pd.concat([reference_target_scores(table, counts, library, m, lat, lon, index_da) for m in targets],
                       ignore_index=True)
    methods, chosen = {do.BAND: scores[do.BAND].values}, {}
    for fam, keep in do.FAMILIES.items():
        cols = [c for c in scores.columns if c not in ("cr", "lat", "lon", do.BAND) and keep(c)]
        methods[fam], chosen[fam] = do.prequential(scores, cols, do.DEFAULTS[fam])
    mdf = pd.DataFrame({"cr": scores["cr"], **methods})
    methods["data_only"], chosen["data_only"] = do.prequential(mdf, list(methods), do.BAND)
    return scores, methods, pd.DataFrame({f"choice_{k}": v for k, v in chosen.items()})


@pytest.mark.parametrize("target", [1941, 2000, 2265, 2281])  # 1941, 2265: right after data gaps (no kernel ARs)
def test_fast_target_scores_equal_the_reference(table, target):
    index_da = dn.density_dataarray(np.arange(LAT.size * LON.size, dtype=float).reshape(LAT.size, LON.size), LAT, LON)
    counts = bl.hemisphere_counts(table, int(table["cr"].min()), int(table["cr"].max()), do.UNOBSERVED)
    library = bl.analog_library(table, target)
    fast = do.target_scores(table, counts, library, target, LAT, LON, index_da)
    ref = reference_target_scores(table, counts, library, target, LAT, LON, index_da)
    assert list(fast.columns) == list(ref.columns)  # column order decides ties in the causal choice
    assert len(fast) == len(ref) > 0
    np.testing.assert_allclose(fast.values, ref.values, rtol=0, atol=1e-9)


def test_fast_score_methods_equal_the_reference(table):
    targets = do.default_targets(table, None, 1960)  # past the 20 rotations of defaults, over the 1938-1940 gap
    fast = do.score_methods(table[table["cr"] <= 1960], LAT, LON, targets)
    scores, methods, choices = reference_score_methods(table[table["cr"] <= 1960], LAT, LON, targets)
    assert len(targets) > do.MIN_ROTATIONS + 5
    assert (fast.choices.values == choices.values).all()
    assert list(fast.choices.index) == targets
    for name, bits in methods.items():
        np.testing.assert_allclose(fast.bits[name], bits, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(fast.bits[["cr", "lat", "lon"]].values, scores[["cr", "lat", "lon"]].values)
