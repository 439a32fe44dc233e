"""The twin experiment's emergence law, synthetic-AR sampler and synoptic sampling (pinn.emergence.twin)."""

from __future__ import annotations

import numpy as np
import pytest

from pinn.emergence import twin
from pinn.emergence.density import integral, uniform_density
from pinn.scoring import scores as ev

LAT = -90.0 + (np.arange(90) + 0.5) * 2.0
LON = (np.arange(180) + 0.5) * 2.0


def bumpy_field() -> np.ndarray:
    """A band at +-20 deg whose strength is 2 near lon 90 and 0.5 elsewhere."""
    d = (LON - 90.0 + 180.0) % 360.0 - 180.0
    along = 0.5 + 1.5 * np.exp(-((d / 20.0) ** 2))
    return (np.exp(-(((np.abs(LAT) - 20.0) / 5.0) ** 2)))[:, None] * along[None, :]


def test_law_density_is_normalised_and_zero_below_threshold():
    field = bumpy_field()
    dens = twin.law_density(field, LAT, LON, threshold=0.6)
    assert integral(dens) == pytest.approx(1.0, rel=1e-12)
    assert np.all(dens.values[field <= 0.6] == 0.0)
    assert np.all(dens.values[field > 0.6] > 0.0)
    floored = twin.law_density(field, LAT, LON, threshold=0.6, floor=0.1)
    assert integral(floored) == pytest.approx(1.0, rel=1e-12)
    assert floored.values.min() == pytest.approx(0.1 / (4 * np.pi))
    with pytest.raises(ValueError, match="threshold"):
        twin.law_density(field, LAT, LON, threshold=5.0)


def test_sampler_count_and_concentration_on_strong_field():
    dens = twin.law_density(bumpy_field(), LAT, LON, threshold=0.6)
    rng = np.random.default_rng(1)
    draws = [twin.sample_ars(dens, 10.0, rng) for _ in range(400)]
    counts = np.array([len(d) for d in draws])
    assert counts.mean() == pytest.approx(10.0, abs=0.35)  # Poisson: sd of the mean 0.16
    assert counts.var() == pytest.approx(10.0, rel=0.25)
    ars = np.concatenate([d[["lat", "lon"]].values for d in draws])
    # the field exceeds 0.6 only in the bump (|lon - 90| < ~37 deg) near +-20 deg
    assert np.all(np.abs(np.abs(ars[:, 0]) - 20.0) < 6.0)
    assert np.all(np.abs(ars[:, 1] - 90.0) < 40.0)
    # both hemispheres, in equal shares (the field is symmetric)
    assert np.mean(ars[:, 0] > 0) == pytest.approx(0.5, abs=0.05)


def test_model_drawn_from_beats_uniform_and_a_displaced_model():
    dens = twin.law_density(bumpy_field(), LAT, LON, threshold=0.6, floor=0.05)
    ars = twin.sample_ars(twin.law_density(bumpy_field(), LAT, LON, threshold=0.6), 200.0, np.random.default_rng(2))
    own = ev.log2_likelihood(dens, ars["lat"], ars["lon"]).mean()
    moved = twin.law_density(np.roll(bumpy_field(), 60, axis=1), LAT, LON, threshold=0.6, floor=0.05)
    assert own > ev.log2_likelihood(uniform_density(LAT, LON), ars["lat"], ars["lon"]).mean() + 3.0
    assert own > ev.log2_likelihood(moved, ars["lat"], ars["lon"]).mean() + 3.0


def test_field_at_observation_follows_the_frame_drift_and_time():
    src = np.arange(128) * 360.0 / 128
    times = np.arange(0.0, 30.0, 1.0)
    # a field growing linearly in time (value = t) everywhere: each column reads its own time
    grow = np.broadcast_to(times[:, None, None], (len(times), 3, 128)).copy()
    t_obs = np.linspace(2.25, 27.5, LON.size)
    out = twin.field_at_observation(times, grow, src, LON, t_obs, frame_drift_deg_day=-0.8)
    assert out.shape == (3, LON.size)
    assert np.allclose(out, t_obs[None, :])
    # a static model-frame pattern cos(lon_m) is seen at Carrington lon as cos(lon - drift t)
    pattern = np.broadcast_to(np.cos(np.radians(src))[None, None, :], (len(times), 3, 128)).copy()
    seen = twin.field_at_observation(times, pattern, src, LON, t_obs, frame_drift_deg_day=-0.8)
    assert np.allclose(seen[0], np.cos(np.radians(LON + 0.8 * t_obs)), atol=2e-3)


def test_carry_field_moves_each_row_at_its_rate():
    field = np.zeros((2, LON.size))
    field[:, 45] = 1.0  # lon 91
    moved = twin.carry_field(field, [10.0, 20.0], LON, rate_deg_day=[1.0, -0.5], days=12.0)
    assert LON[np.argmax(moved[0])] == pytest.approx(103.0)
    assert moved[1, LON == 85.0] == pytest.approx(1.0)
    assert moved.sum(axis=1) == pytest.approx([1.0, 1.0])
    half = twin.carry_field(field, [10.0, 20.0], LON, rate_deg_day=[1.0, 1.0], days=1.0)  # half a cell
    assert half[0, 45] == pytest.approx(0.5) and half[0, 46] == pytest.approx(0.5)
