"""Carrier profiles: conversions, carried nests against the baselines, and the fit on ARs moving at a known rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pinn.data import arise
from pinn.emergence import baselines as bl
from pinn.emergence import carrier as ca
from pinn.emergence import density as dn
from pinn.physics.units import ModelUnits
from pinn.scoring import scores as ev

LAT = -90.0 + (np.arange(180) + 0.5) * 1.0
LON = (np.arange(360) + 0.5) * 1.0
PARAMS = bl.NestParams(width_deg=6.0, n_rotations=3, decay=1.0, mix=0.2, floor=0.05)
TRUE = (0.4, -3.0, -2.0)  # deg/day relative to Carrington: none of the published profiles


def moving_nests(rng, crs, coeffs, n_nests=14, per_rot=3, spread_deg=1.5) -> pd.DataFrame:
    """ARs of nests at fixed latitudes whose longitude moves at Omega(lat) of ``coeffs`` (deg/day, Carrington).

    A nest at (lat, lon0) at JD t_ref is at lon0 + Omega (t - t_ref); an AR of rotation cr is recorded at the
    longitude the nest has when that longitude is seen (fixed point of lon = lon0 + Omega (t(cr, lon) - t_ref)).
    """
    t_ref = bl.rotation_start_jd([crs[0]])[0]
    lats = rng.uniform(3.0, 38.0, n_nests) * rng.choice([-1.0, 1.0], n_nests)
    lon0 = rng.uniform(0.0, 360.0, n_nests)
    rows = []
    for cr in crs:
        for n in rng.integers(0, n_nests, per_rot * 4)[:per_rot * 4]:
            if rng.random() > 0.6:
                continue
            lon = lon0[n]
            for _ in range(6):
                lon = (lon0[n] + ca.rate_deg_per_day(lats[n], coeffs) * (bl.observed_jd(cr, lon) - t_ref)) % 360.0
            rows.append((cr, lats[n] + rng.normal(0, spread_deg), (lon + rng.normal(0, spread_deg)) % 360.0, 1e21))
    return pd.DataFrame(rows, columns=["cr", "lat", "lon", "flux"])


def test_published_profiles_convert_to_carrington_deg_per_day():
    snod = ca.from_sidereal_urad_s(bl.SNODGRASS_URAD_S)
    lats = np.array([0.0, 15.0, 30.0, 45.0])
    np.testing.assert_allclose(ca.rate_deg_per_day(lats, snod), bl.drift_deg_per_day(lats), atol=1e-12)
    # 430 nHz = 13.374 deg/day sidereal against 14.184 for Carrington: -0.808 deg/day, the frame drift
    core = ca.from_sidereal_nHz(430.0)
    assert core[0] == pytest.approx(ModelUnits.solar().frame_drift_deg_per_day(), abs=1e-3)
    assert core[0] == pytest.approx(-0.808, abs=2e-3)
    # the model's carrier: frame drift at the equator, + s2 Omega at 90 deg
    model = ca.model_carrier(core[0], 430.0, (0.0, -0.1, 0.0))
    assert ca.rate_deg_per_day(0.0, model) == pytest.approx(core[0])
    assert ca.rate_deg_per_day(90.0, model) == pytest.approx(core[0] - 1.3374, abs=1e-3)


def test_carried_nests_with_snodgrass_are_the_baselines():
    rng = np.random.default_rng(1)
    table = moving_nests(rng, list(range(2200, 2210)), TRUE)
    snod = ca.from_sidereal_urad_s(bl.SNODGRASS_URAD_S)
    mine = ca.nests_density(table, 2208, LAT, LON, PARAMS, snod)
    theirs = bl.nests_density(table, 2208, LAT, LON, PARAMS)
    np.testing.assert_allclose(mine.values, theirs.values, rtol=1e-9)
    assert dn.integral(mine) == pytest.approx(1.0, abs=1e-9)


def test_likelihood_at_ars_matches_the_grid_density():
    rng = np.random.default_rng(2)
    table = moving_nests(rng, list(range(2200, 2212)), TRUE)
    data = ca.pair_data(table, [2208, 2209, 2210], LAT, LON, PARAMS)
    cont = ca.log2_density_at_ars(data, TRUE, PARAMS)
    grid = np.concatenate([ev.log2_likelihood(ca.nests_density(table, t, LAT, LON, PARAMS, TRUE),
                                              *arise.ars_of(table, t)[["lat", "lon"]].values.T) for t in (2208, 2209, 2210)])
    # same ARs in the same order; nearest-cell sampling (1 deg) and the 0/360 seam leave small differences
    assert len(cont) == len(grid) > 10
    assert np.median(np.abs(cont - grid)) < 0.02
    assert np.mean(cont) == pytest.approx(np.mean(grid), abs=0.03)


def test_pair_data_select_resamples_rotations():
    rng = np.random.default_rng(3)
    table = moving_nests(rng, list(range(2200, 2210)), TRUE)
    data = ca.pair_data(table, [2205, 2206, 2207], LAT, LON, PARAMS)
    full = ca.log2_density_at_ars(data, TRUE, PARAMS)
    sub = ca.log2_density_at_ars(data.select([2207, 2205, 2207]), TRUE, PARAMS)
    by_cr = {c: full[data.cr == c] for c in (2205, 2207)}
    np.testing.assert_allclose(np.sort(sub), np.sort(np.concatenate([by_cr[2207], by_cr[2205], by_cr[2207]])))


def test_fit_recovers_a_known_profile():
    rng = np.random.default_rng(4)
    crs = list(range(2100, 2160))
    table = moving_nests(rng, crs, TRUE, n_nests=20, per_rot=4)
    data = ca.pair_data(table, crs[3:], LAT, LON, PARAMS)
    fit = ca.fit_profile(data, PARAMS, starts=(ca.NO_CARRYING, ca.from_sidereal_urad_s(bl.SNODGRASS_URAD_S)))
    lats = np.array([5.0, 15.0, 25.0, 35.0])
    # the rate itself over the latitudes of the nests, and each coefficient
    np.testing.assert_allclose(ca.rate_deg_per_day(lats, fit), ca.rate_deg_per_day(lats, TRUE), atol=0.1)
    assert fit[0] == pytest.approx(TRUE[0], abs=0.05)
    assert fit[1] == pytest.approx(TRUE[1], abs=0.6)
    assert fit[2] == pytest.approx(TRUE[2], abs=2.0)
    # the fit beats the published carriers on these ARs
    best = np.sum(ca.log2_density_at_ars(data, fit, PARAMS))
    for other in (ca.NO_CARRYING, ca.from_sidereal_urad_s(bl.SNODGRASS_URAD_S)):
        assert best > np.sum(ca.log2_density_at_ars(data, other, PARAMS)) + 10.0
