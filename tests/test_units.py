"""Model units against the scales quoted in docs/science.md section 2 and exact round trips."""

from __future__ import annotations

import astropy.units as u
import pytest

from pinn.config.physics import model_units
from pinn.config.schema import PhysicsConfig
from pinn.errors import ConfigError


def test_default_scales_match_spec():
    units = model_units()
    # 1 time unit is about 4.3 days; about 100 time units per year
    assert units.time_unit.to_value(u.day) == pytest.approx(4.29, rel=0.01)
    assert units.time_to_model(365.25 * u.day) == pytest.approx(85.0, rel=0.02)
    # r0 * Omega about 1.3 km/s; field unit about 2e5 G
    assert units.velocity_unit.to_value(u.km / u.s) == pytest.approx(1.32, rel=0.02)
    assert units.field_unit.to_value(u.G) == pytest.approx(2.08e5, rel=0.02)
    # 20 kG is about 0.1 model units; model-frame drift about 0.8 deg/day
    assert units.field_to_model(20 * u.kG) == pytest.approx(0.096, rel=0.02)
    assert abs(units.frame_drift_deg_per_day()) == pytest.approx(0.81, rel=0.03)


def test_round_trips_and_unit_checks():
    units = model_units(PhysicsConfig(rho_g_cm3=0.1, core_rate_nHz=440.0))
    assert units.field_from_model(units.field_to_model(3 * u.T)).to_value(u.kG) == pytest.approx(30.0)
    assert units.time_from_model(units.time_to_model(7 * u.day)).to_value(u.day) == pytest.approx(7.0)
    assert units.velocity_from_model(units.velocity_to_model(50 * u.m / u.s)).to_value(u.m / u.s) == pytest.approx(50.0)
    # density scales the field unit as sqrt(rho)
    ratio = (model_units(PhysicsConfig(rho_g_cm3=0.4)).field_unit / model_units().field_unit).decompose().value
    assert ratio == pytest.approx(2**0.5)
    with pytest.raises(ConfigError, match="do not convert"):
        units.field_to_model(3 * u.day)
    with pytest.raises(ConfigError, match="astropy Quantity"):
        units.time_to_model(3.0)
