"""The map channel: strong flux of the latest map carried at the surface rate onto the density grid."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from pinn.data.grid import cell_areas
from pinn.emergence import map_channel as mc
from pinn.emergence.baselines import drift_deg_per_day
from pinn.physics.constants import CARRINGTON_SYNODIC_DAYS

LAT = np.degrees(np.arcsin((np.arange(360) + 0.5) / 180.0 - 1.0))  # sine-latitude rows, like HMI small maps
LON = (np.arange(720) + 0.5) * 0.5
GRID_LAT = -90.0 + (np.arange(180) + 0.5)
GRID_LON = np.arange(360) + 0.5


def blob_map(lat0: float, lon0: float, peak_G: float = 800.0, sigma_deg: float = 2.0) -> xr.DataArray:
    d2 = (LAT[:, None] - lat0) ** 2 + ((((LON[None, :] - lon0) + 180.0) % 360.0 - 180.0) * np.cos(np.radians(lat0))) ** 2
    br = peak_G * np.exp(-0.5 * d2 / sigma_deg**2) + 20.0 * np.sin(np.radians(LON))[None, :]  # weak field: below 100 G
    return xr.DataArray(br, dims=("lat", "lon"), coords={"lat": LAT, "lon": LON})


@pytest.mark.parametrize("lat0", [-25.0, 5.0, 20.0])
def test_a_region_moves_one_rotation_at_the_surface_rate(lat0):
    flux = mc.carried_flux(blob_map(lat0, 100.0), GRID_LAT, GRID_LON)
    i, j = np.unravel_index(np.argmax(flux), flux.shape)
    expected = 100.0 + float(drift_deg_per_day(lat0)) * CARRINGTON_SYNODIC_DAYS  # Snodgrass 1983 vs Carrington
    assert abs(GRID_LAT[i] - lat0) <= 1.0
    assert abs(GRID_LON[j] - expected) <= 1.0, (GRID_LON[j], expected)


def test_weak_and_polar_flux_is_left_out_and_gridding_keeps_the_flux():
    br = blob_map(20.0, 200.0)
    strong = mc.strong_flux(br)
    assert strong[np.abs(br.values) < mc.THRESHOLD_G].max() == 0.0  # the 20 G background is gone
    assert mc.strong_flux(blob_map(60.0, 200.0)).max() == 0.0  # above the activity belts
    # gridding averages flux density: a constant field stays that constant, and the flux is kept within 5 %
    constant = mc.to_grid(np.full((LAT.size, LON.size), 500.0), LAT, LON, GRID_LAT, GRID_LON)
    np.testing.assert_allclose(constant, 500.0, rtol=1e-12)
    gridded = mc.to_grid(strong, LAT, LON, GRID_LAT, GRID_LON)
    src = float(np.sum(strong * cell_areas(LAT, LON)))
    assert float(np.sum(gridded * cell_areas(GRID_LAT, GRID_LON))) == pytest.approx(src, rel=0.05)


def test_feature_is_finite_and_peaks_at_the_carried_region():
    feature = mc.log_flux_feature(blob_map(-15.0, 300.0), GRID_LAT, GRID_LON)
    assert np.isfinite(feature).all()
    i, _ = np.unravel_index(np.argmax(feature), feature.shape)
    assert abs(GRID_LAT[i] + 15.0) <= 1.0
    assert feature.max() - np.median(feature) > 3.0  # a region stands well out of the quiet floor (log units)
