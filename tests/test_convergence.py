"""A PINN state far from convergence is flagged against the zero-field level of its own toroids."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from pinn.training.convergence import UNCONVERGED_FRACTION, unconverged_message, zero_field_data_loss


def band(lat0: float, width: float) -> SimpleNamespace:
    return SimpleNamespace(centre_lat_deg=lambda lon: np.full(np.shape(lon), lat0), width_deg=width)


def test_zero_field_level_of_an_equatorial_band_is_analytic():
    w = 5.0
    toroids = SimpleNamespace(north=band(0.0, w), south=None, cr=2280)
    # area mean of exp(-2 (lat/w)^2) over the sphere = (1/2) int exp(-2 x^2 / w^2) cos x dx ~ w sqrt(pi/2) / 2 (w in rad)
    expected = math.radians(w) * math.sqrt(math.pi / 2) / 2 * math.exp(-math.radians(w) ** 2 / 8)
    assert zero_field_data_loss(toroids, nlat=1800, nlon=8) == pytest.approx(expected, rel=2e-3)
    two = SimpleNamespace(north=band(20.0, w), south=band(-20.0, w), cr=2280)  # apart: the squares add
    assert zero_field_data_loss(two) == pytest.approx(2 * expected * math.cos(math.radians(20.0)), rel=0.02)


def test_flagged_only_above_the_stated_fraction_of_that_level():
    toroids = SimpleNamespace(north=band(18.0, 8.0), south=band(-17.0, 8.0), cr=2280)
    level = zero_field_data_loss(toroids)
    message = unconverged_message({"final_data": 2 * UNCONVERGED_FRACTION * level}, toroids)
    assert message is not None and "CR 2280 ended far from convergence" in message and "\n" not in message
    assert unconverged_message({"final_data": 1e-4 * level}, toroids) is None  # a converged run
    assert unconverged_message({"final_mom_u": 1.0}, toroids) is None  # no data term: the classical start
