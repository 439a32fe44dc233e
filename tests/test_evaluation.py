"""Scores and baselines against analytic answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pinn.data import arise, grid
from pinn.data.bundled import arise_table
from pinn.emergence import density as dn
from pinn.errors import InputError
from pinn.scoring import scores as ev

SINE_LAT = np.degrees(np.arcsin((np.arange(360) + 0.5 - 180) / 180))
UNIFORM_LAT = np.linspace(-89.75, 89.75, 360)
LON = np.arange(720) * 0.5 + 0.25


@pytest.mark.parametrize("lat", [SINE_LAT, UNIFORM_LAT])
def test_cell_areas_sum_to_sphere(lat):
    areas = grid.cell_areas(lat, LON)
    assert areas.sum() == pytest.approx(4 * math.pi, rel=1e-12)
    assert np.all(areas > 0)


def test_uniform_scores():
    d = dn.uniform_density(SINE_LAT, LON)
    assert dn.integral(d) == pytest.approx(1.0, abs=1e-12)
    bits = ev.log2_likelihood(d, [10.0, -20.0], [5.0, 300.0])
    np.testing.assert_allclose(bits, -3.6515, atol=1e-4)
    assert ev.roc_auc(d, [10.0, -20.0], [5.0, 300.0]) == pytest.approx(0.5)


def test_auc_of_monotone_density_is_analytic():
    """p ~ 1 + sin(lat): sin(lat) of a random area-uniform point is U(-1, 1), so AUC = (1 + sin lat_AR) / 2."""
    lat = UNIFORM_LAT
    values = np.repeat((1.0 + np.sin(np.radians(lat)))[:, None], len(LON), axis=1)
    d = dn.density_dataarray(dn.normalise(values, lat, LON), lat, LON)
    ar_lat = np.array([-40.0, 0.0, 30.0, 60.0])
    expected = np.mean((1 + np.sin(np.radians(ar_lat))) / 2)
    assert ev.roc_auc(d, ar_lat, np.full(4, 100.0)) == pytest.approx(expected, abs=5e-3)


def test_band_density_peak_value_matches_gaussian():
    """Narrow bands: density at the band centre is w / (2 pi cos(lat0) sigma sqrt(2 pi)), plus the floor."""
    lat = UNIFORM_LAT
    history = pd.DataFrame({"lat": np.r_[np.full(30, 20.0) + np.linspace(-4, 4, 30), np.full(10, -15.0) + np.linspace(-4, 4, 10)]})
    floor = 0.05
    d = dn.band_density(history, lat, LON, floor=floor)
    assert dn.integral(d) == pytest.approx(1.0, abs=1e-9)
    north = history["lat"][history["lat"] > 0]
    sigma = math.radians(max(np.std(north), 3.0))
    weight = (30 + 1) / (40 + 2)
    expected = (1 - floor) * weight / (2 * math.pi * math.cos(math.radians(20.0)) * sigma * math.sqrt(2 * math.pi)) + floor / (4 * math.pi)
    got = ev.sample(d, [20.0], [123.0])[0]
    assert got == pytest.approx(expected, rel=0.02)
    # the band beats uniform on ARs drawn from it
    assert ev.log2_likelihood(d, [20.0, 19.0, -15.0], [0.0, 90.0, 200.0]).mean() > ev.UNIFORM_BITS + 1.0


def test_persistence_density_normalised_and_peaks_on_flux():
    import xarray as xr

    br = np.zeros((len(SINE_LAT), len(LON)))
    br[200:210, 100:110] = 500.0
    br[0, :] = np.nan
    da = xr.DataArray(br, dims=("lat", "lon"), coords={"lat": SINE_LAT, "lon": LON})
    d = dn.persistence_density(da, smoothing_deg=3.0, floor=0.1)
    assert dn.integral(d) == pytest.approx(1.0, abs=1e-9)
    assert ev.sample(d, [SINE_LAT[205]], [LON[105]])[0] > 10 * ev.sample(d, [-30.0], [300.0])[0]


def test_paired_bootstrap_intervals():
    rot = np.repeat(np.arange(10), 5)
    const = ev.paired_bootstrap(np.full(50, 0.3), rot)
    assert (const.low, const.high) == pytest.approx((0.3, 0.3))
    noise = np.random.default_rng(1).normal(0.0, 1.0, 50)
    noise -= noise.mean()
    iv = ev.paired_bootstrap(noise, rot)
    assert iv.low < 0 < iv.high and iv.n_rotations == 10 and iv.n_ars == 50
    shifted = ev.paired_bootstrap(noise + 2.0, rot)
    assert shifted.low > 0


def test_arise_table_real_values():
    table = arise.load_arise(arise_table())
    cr2280 = arise.ars_of(table, 2280)
    assert len(cr2280) == 15
    assert cr2280["lat"].iloc[0] == pytest.approx(-15.35219361)
    assert (table["flux"] > 0).all()


def test_arise_bad_tables(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("CR,Label\n2280,1\n")
    with pytest.raises(InputError, match=r"bad\.csv: not an ARISE table: missing column"):
        arise.load_arise(bad)
    with pytest.raises(InputError, match="not found"):
        arise.load_arise(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="empty ARISE selection"):
        dn.band_density(pd.DataFrame({"lat": []}), UNIFORM_LAT, LON)
