"""Synthetic synoptic maps: the load_synoptic Dataset contract, grids, region statistics, Hale/Joy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pinn.toroids.fit import HemisphereToroid
from pinn.toroids.synthetic import draw_regions, map_grid, paint_map, synthetic_map, synthetic_sequence

REPO = Path(__file__).resolve().parents[1]
NORTH = HemisphereToroid(20.0, 6.0, (5.0, 2.0), (40.0, -100.0), -1)
SOUTH = HemisphereToroid(-18.0, 5.0, (4.0,), (150.0,), +1)


def test_dataset_contract_on_the_native_hmi_grid():
    ds = synthetic_map(NORTH, SOUTH, seed=0, cr=2279)
    assert ds["Br"].dims == ("lat", "lon") and ds["Br"].shape == (360, 720)
    lat, lon = ds["lat"].values, ds["lon"].values
    assert np.all(np.diff(lat) > 0) and np.all(np.diff(lon) > 0)
    y = np.arange(360)
    np.testing.assert_allclose(np.sin(np.radians(lat)), (y + 1 - 180.5) * 2 / 360, atol=1e-12)
    np.testing.assert_allclose(lon, 180.0 + (np.arange(720) + 1 - 360.4) * 0.5, atol=1e-9)
    assert lon[0] == pytest.approx(0.30) and lon[-1] == pytest.approx(359.80)
    assert ds.attrs["cr"] == 2279 and ds.attrs["instrument"] == "synthetic"
    assert ds.attrs["t_start"] < ds.attrs["t_stop"]
    assert np.isfinite(ds["Br"].values).all()


def test_same_grid_as_the_reader_of_real_maps():
    path = REPO / "pinn" / "data" / "files" / "hmi" / "hmi.Synoptic_Mr_small.2280.fits"
    if not path.is_file():
        pytest.skip("bundled HMI map not found")
    from pinn.data.observations import load_synoptic

    real = load_synoptic(path)
    ds = synthetic_map(NORTH, SOUTH, seed=0)
    np.testing.assert_allclose(ds["lat"].values, real["lat"].values, atol=1e-9)
    np.testing.assert_allclose(ds["lon"].values, real["lon"].values, atol=1e-9)
    assert ds.attrs["t_start"][:10] == real.attrs["t_start"][:10]


@pytest.mark.parametrize(("nlat", "nlon", "grid"), [(1440, 3600, "sine"), (180, 360, "uniform")])
def test_any_grid_size(nlat, nlon, grid):
    lat, lon = map_grid(nlat, nlon, grid)
    assert lat.shape == (nlat,) and lon.shape == (nlon,)
    assert -90 < lat[0] < lat[-1] < 90 and 0 < lon[0] < lon[-1] < 360
    if grid == "uniform":
        np.testing.assert_allclose(np.diff(lat), 180.0 / nlat)
    else:
        np.testing.assert_allclose(np.diff(np.sin(np.radians(lat))), 2.0 / nlat)
    ds = synthetic_map(NORTH, None, n_regions=30, nlat=nlat, nlon=nlon, grid=grid, seed=1)
    assert ds["Br"].shape == (nlat, nlon)
    assert ds.attrs["grid"] == ("uniform" if grid == "uniform" else "sine-latitude")


def test_regions_follow_the_band_hale_and_joy():
    regions = draw_regions(NORTH, SOUTH, 2000, seed=3)
    for hemi, tor in ((1, NORTH), (-1, SOUTH)):
        sel = regions.hemisphere == hemi
        assert sel.sum() == 2000
        offset = regions.lat[sel] - tor.centre_lat_deg(regions.lon[sel])
        # the profile exp(-(d/w)^2) is a normal of standard deviation w / sqrt(2)
        assert offset.mean() == pytest.approx(0.0, abs=0.15)
        assert offset.std() == pytest.approx(tor.width_deg / math.sqrt(2), rel=0.05)
        assert np.all(regions.leading[sel] == -tor.sign)  # sign(a) = -sign(leading polarity)
        # Joy's law: mean tilt about 32 deg * sin|lat|, leading polarity towards the equator
        expected = 32.1 * np.sin(np.radians(np.abs(regions.lat[sel])))
        assert np.mean(regions.tilt_deg[sel] - expected) == pytest.approx(0.0, abs=0.6)


def test_default_map_has_at_least_30_regions_per_hemisphere():
    ds = synthetic_map(NORTH, SOUTH, seed=0)
    assert ds.attrs["n_regions"] >= 60


def test_stratified_scatter_has_exact_width_and_centred_pairs():
    regions = draw_regions(NORTH, None, 40, scatter="stratified", seed=2)
    offset = regions.lat - NORTH.centre_lat_deg(regions.lon)
    flux = regions.peak_G * regions.size_deg**2
    assert np.sum(flux * offset) / np.sum(flux) == pytest.approx(0.0, abs=1e-9)
    assert math.sqrt(np.sum(flux * offset**2) / np.sum(flux)) == pytest.approx(NORTH.width_deg / math.sqrt(2))
    k = len(regions) // 2
    np.testing.assert_allclose(offset[:k], -offset[k:])
    np.testing.assert_allclose(regions.lon[:k], regions.lon[k:])


def test_painted_bipole_orientation_and_flux_balance():
    # One clean region per hemisphere, no noise: check the painted polarity order and tilt.
    regions = draw_regions(NORTH, SOUTH, 1, seed=4, tilt_scatter_deg=0.0, separation_deg=(6.0, 6.0))
    ds = paint_map(regions, noise_G=0.0, network_G=0.0)
    br = ds["Br"].values
    lat2d, lon2d = np.meshgrid(ds["lat"].values, ds["lon"].values, indexing="ij")
    for hemi, tor in ((1, NORTH), (-1, SOUTH)):
        i = int(np.nonzero(regions.hemisphere == hemi)[0][0])
        near = (np.abs(lat2d - regions.lat[i]) < 10) & (
            np.abs((lon2d - regions.lon[i] + 180) % 360 - 180) < 12
        )
        pos, neg = near & (br > 0), near & (br < 0)

        def centroid(mask, lon0=regions.lon[i]):
            w = np.abs(br[mask])
            dlon = (lon2d[mask] - lon0 + 180) % 360 - 180
            return np.sum(w * lat2d[mask]) / w.sum(), np.sum(w * dlon) / w.sum()

        (lat_p, lon_p), (lat_n, lon_n) = centroid(pos), centroid(neg)
        assert np.sum(br[pos]) == pytest.approx(-np.sum(br[neg]), rel=1e-3)
        leading_sign = 1 if lon_p > lon_n else -1
        assert leading_sign == -tor.sign
        lead_lat, trail_lat = (lat_p, lat_n) if leading_sign > 0 else (lat_n, lat_p)
        assert abs(lead_lat) < abs(trail_lat)  # Joy: leading polarity nearer the equator


def test_network_and_noise_stay_below_the_threshold():
    ds = synthetic_map(None, None, seed=5)
    assert np.mean(np.abs(ds["Br"].values) > 100.0) < 1e-3
    assert 5.0 < float(np.std(ds["Br"].values)) < 30.0


def test_seeded_and_sequence_layout():
    a = synthetic_map(NORTH, SOUTH, seed=9)
    b = synthetic_map(NORTH, SOUTH, seed=9)
    c = synthetic_map(NORTH, SOUTH, seed=10)
    assert a.identical(b)
    assert not np.array_equal(a["Br"].values, c["Br"].values)
    seq = synthetic_sequence(NORTH, SOUTH, [2278, 2279, 2280], n_regions=30, seed=1)
    assert seq["Br"].dims == ("cr", "lat", "lon")
    assert list(seq["cr"].values) == [2278, 2279, 2280]
    assert seq["t_start"].dtype.kind == "M" and np.all(np.diff(seq["t_start"].values) > np.timedelta64(0))
    assert not np.array_equal(seq["Br"].sel(cr=2278).values, seq["Br"].sel(cr=2279).values)
