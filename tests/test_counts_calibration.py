"""Counts, hotspot probabilities and calibration: known answers on simple densities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pinn.data import arise
from pinn.emergence import counts as ct
from pinn.emergence import density as dn
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
