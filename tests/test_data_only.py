"""Data-only baseline as a function: candidate labels rebuild the densities the factorised scores used."""

from __future__ import annotations

import numpy as np
import pytest

from pinn.data import arise
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
