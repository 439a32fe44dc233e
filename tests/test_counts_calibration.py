"""Counts, hotspot probabilities and calibration: known answers on simple densities."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pinn.data import arise
from pinn.emergence import counts as ct
from pinn.emergence import density as dn
from pinn.emergence import map_channel as mc
from pinn.scoring import calibration as cal
from pinn.scoring import scores as ev

LAT = -89.5 + np.arange(180.0)
LON = 0.5 + np.arange(360.0)


def uniform():
    return dn.uniform_density(LAT, LON)


def test_intensity_sums_to_rates():
    mu = ev.intensity(uniform(), {"north": 3.0, "south": 5.0})
    assert mu[LAT > 0].sum() == pytest.approx(3.0)
    assert mu[LAT < 0].sum() == pytest.approx(5.0)


def test_prob_near_uniform_cap():
    rates = {"north": 4.0, "south": 4.0}
    cap = 2 * math.pi * (1 - math.cos(math.radians(10.0))) / (2 * math.pi)  # share of a hemisphere
    p = ct.prob_at_least_one_near(uniform(), rates, [{"lat_deg": 45.0, "lon_deg": 100.0}])[0]
    assert p == pytest.approx(1 - math.exp(-4.0 * cap), rel=0.02)


def test_count_tilt_recovers_and_ignores_noise():
    rng = np.random.default_rng(0)
    base = rng.uniform(2, 8, 400)
    x = rng.standard_normal(400)
    n = rng.poisson(base * np.exp(0.5 * x))
    g, sd, scale = ct.fit_count_tilt(base, x, n)
    assert abs(g / 1.0 - 0.5 * scale) < 3 * sd
    g0, sd0, _ = ct.fit_count_tilt(base, x, rng.poisson(base))
    assert abs(g0) < 3 * sd0
    assert ct.fit_count_tilt(base, np.ones(400), n)[0] == 0.0


def test_several_feature_tilt_recovers_known_gammas():
    rng = np.random.default_rng(2)
    base = rng.uniform(2, 8, 600)
    x = np.stack([3.0 * rng.standard_normal(600) + 1.0, 0.5 * rng.standard_normal(600), rng.standard_normal(600)])
    z = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)  # the fit's standardisation
    truth = np.array([0.4, -0.3, 0.0])
    tilt = ct.fit_count_tilts(base, x, rng.poisson(base * np.exp(truth @ z)))
    assert np.all(np.abs(np.array(tilt.gamma) - truth) < 3 * np.array(tilt.sd))
    assert tilt.sd[0] < 0.05 and tilt.scale == pytest.approx(tuple(x.std(axis=1)))
    # a constant feature is left out: the others' fit is the one-feature fit, bit for bit
    n = rng.poisson(base * np.exp(0.2 * z[0]))
    one = ct.fit_count_tilts(base, [x[0]], n)
    with_const = ct.fit_count_tilts(base, [x[0], np.full(600, 2.0)], n)
    assert with_const.gamma == (one.gamma[0], 0.0) and with_const.sd == (one.sd[0], ct.PRIOR_SD)
    assert ct.fit_count_tilt(base, x[0], n) == (one.gamma[0], one.sd[0], one.scale[0])


def test_two_copies_of_a_feature_share_its_gamma():
    """Two copies of z under independent N(0, 1) priors are one z with gamma = g1 + g2 under N(0, 2): the
    several-feature (Newton) fit against the one-feature (scalar) fit."""
    rng = np.random.default_rng(4)
    base, x = rng.uniform(1, 5, 300), rng.standard_normal(300)
    n = rng.poisson(base * np.exp(0.3 * x))
    pair = ct.fit_count_tilts(base, [x, x], n)
    g = ct.fit_count_tilt(base, x, n, prior_sd=math.sqrt(2.0))[0]
    assert pair.gamma[0] == pytest.approx(pair.gamma[1], abs=1e-9)
    assert pair.gamma[0] + pair.gamma[1] == pytest.approx(g, abs=1e-4)
    assert 0.1 < g < 0.5


def test_hemisphere_flux_of_a_hand_made_map():
    lat, lon = -89.5 + np.arange(180.0), 0.5 + np.arange(360.0)
    br = np.full((180, 360), 50.0)  # network field, below the threshold
    br[(lat > 10) & (lat < 20)] = 200.0
    br[(lat < -10) & (lat > -20)] = -300.0
    br[lat > 60] = 900.0  # polar field beyond the latitude limit
    br[5, 7] = np.nan  # a missing pixel counts as no flux
    flux = mc.hemisphere_flux(xr.DataArray(br, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}), 100.0, 50.0)
    band = 2 * math.pi * (math.sin(math.radians(20)) - math.sin(math.radians(10))) * mc.R_SUN_CM**2  # cm^2
    assert flux["north"] == pytest.approx(200.0 * band, rel=1e-9)
    assert flux["south"] == pytest.approx(300.0 * band, rel=1e-9)


def flat_ridge() -> xr.Dataset:
    """A predicted ridge that neither grows nor weakens (ridge growth 0: a static case)."""
    return xr.Dataset({"mean_strength": (("hemisphere", "lon"), np.ones((2, 2)))},
                      coords={"hemisphere": ["north", "south"], "lead_days": ("lon", [0.0, 27.0])})


def synthetic_rotations(gamma_raw: float, n_rot: int, seed: int) -> tuple[pd.DataFrame, list[int], list[dict]]:
    """An ARISE-like table where the new ARs of each target are Poisson(EW rate x exp(gamma_raw u)) per hemisphere,
    u = log(map flux / (1e22 Mx x EW rate)) ~ N(0, 0.5^2) the flux feature up to a constant; 12 rotations of Poisson(6) before the first target."""
    rng = np.random.default_rng(seed)
    rows, first = [], 1000
    def add(cr, counts):
        rows.extend((cr, sign * 15.0, 100.0) for h, sign in (("north", 1), ("south", -1)) for _ in range(counts[h]))
    for cr in range(first, first + 12):
        add(cr, {h: int(rng.poisson(6)) for h in ct.HEMIS})
    targets, fluxes = [], []
    for cr in range(first + 12, first + 12 + n_rot):
        table = pd.DataFrame(rows, columns=["cr", "lat", "lon"])
        ew = ct.ew_rates(table, cr)
        u = {h: float(rng.normal(0.0, 0.5)) for h in ct.HEMIS}
        fluxes.append({h: 1e22 * ew[h] * math.exp(u[h]) for h in ct.HEMIS})  # Mx
        add(cr, {h: int(rng.poisson(ew[h] * math.exp(gamma_raw * u[h]))) for h in ct.HEMIS})
        targets.append(cr)
    return pd.DataFrame(rows, columns=["cr", "lat", "lon"]), targets, fluxes


def test_count_record_flux_tilt_recovers_known_gamma():
    table, targets, fluxes = synthetic_rotations(0.8, 120, seed=5)
    ridge = flat_ridge()
    rec = ct.count_record([(t, ridge) for t in targets], table, fluxes=fluxes)
    assert rec["flux_per_ar_north"].to_numpy() == pytest.approx(np.log(rec["flux_north"] / rec["ew_north"]))
    past = rec.iloc[:-1]
    scale = float(np.concatenate([past["flux_per_ar_north"], past["flux_per_ar_south"]]).std())
    g, sd = rec["gamma_ew_flux_flux_per_ar"].iloc[-1], rec["gamma_sd_ew_flux_flux_per_ar"].iloc[-1]
    assert abs(g - 0.8 * scale) < 3 * sd and sd < 0.05  # gamma per standardised feature = gamma_raw x its sd
    assert rec["bits_ew_flux"].mean() > rec["bits_ew"].mean() + 0.1
    # ridge growth 0 (static cases): the growth tilts are the untilted forecasts, bit for bit
    assert (rec["bits_ew_growth"] == rec["bits_ew"]).all() and (rec["gamma"] == 0.0).all()
    assert (rec["bits_ew_flux_growth"] == rec["bits_ew_flux"]).all()
    summary = ct.count_summary(rec)
    assert set(summary["minus_mean5"]) == {"ew", "ew_growth", "ew_flux", "ew_flux_growth"}
    assert summary["gamma_last_tilts"]["ew_flux"]["flux_per_ar"] == {"gamma": g, "sd": sd}


def test_count_record_causal_in_the_last_rotation():
    table, targets, fluxes = synthetic_rotations(0.8, 30, seed=6)
    ridge = flat_ridge()
    ridges = [(t, ridge) for t in targets]
    rec = ct.count_record(ridges, table, min_fit_rotations=3, fluxes=fluxes)
    last = targets[-1]
    extra = pd.DataFrame([(last, 20.0, 50.0)] * 9, columns=["cr", "lat", "lon"])  # 9 more ARs in the last rotation
    other = ct.count_record(ridges, pd.concat([table, extra], ignore_index=True), min_fit_rotations=3,
                            fluxes=[*fluxes[:-1], {h: 100.0 * fluxes[-1][h] for h in ct.HEMIS}])
    pd.testing.assert_frame_equal(other.iloc[:-1], rec.iloc[:-1])
    assert other["n_north"].iloc[-1] == rec["n_north"].iloc[-1] + 9
    assert other["bits_ew_flux"].iloc[-1] != rec["bits_ew_flux"].iloc[-1]
    assert rec["gamma_ew_flux_flux_per_ar"].iloc[5:].abs().min() > 0  # the fits were on


def test_rates_causal():
    table = arise.load_arise(__import__("pinn.data.bundled", fromlist=["x"]).arise_table())
    a = ct.mean5_rates(table, 2270)
    b = ct.mean5_rates(table[table["cr"] < 2270], 2270)
    assert a == b


def test_calibration_of_truth_is_reliable():
    rng = np.random.default_rng(1)
    d = uniform()
    rates = {"north": 6.0, "south": 6.0}
    p = cal.cell_probability(d, rates)
    assert p.shape == (18, 36)
    obs = []
    for _ in range(200):
        n = rng.poisson(12)
        obs.append(cal.cell_observed(np.degrees(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(0, 360, n)))
    o = np.stack(obs)
    pp = np.broadcast_to(p, o.shape)
    t = cal.reliability(pp, o)
    assert np.allclose(t["mean_p"], t["freq"], atol=0.02)
    assert cal.brier_skill(pp, pp, o) == 0.0
    assert cal.plot_reliability({"truth": t}) is not None
    assert cal.brier_skill(pp, np.full(o.shape, 0.5), o) > 0.5
