"""The adapters from the run configuration to the physics layer's parameter objects."""

from __future__ import annotations

import dataclasses

import pytest

from pinn.config.physics import band_strength, model_units, solver_settings, swt_params, zonal_flow
from pinn.config.schema import Config, PhysicsConfig, SolverConfig
from pinn.physics.equations import SWTParams, ZonalFlow
from pinn.physics.solver import SolverSettings
from pinn.physics.units import ModelUnits


def test_physics_defaults_are_the_configuration_defaults():
    """The physics layer's own defaults (for use without a configuration) equal the configuration's."""
    assert solver_settings() == SolverSettings()
    assert zonal_flow() == ZonalFlow()
    assert model_units() == ModelUnits.solar()
    assert swt_params() == SWTParams()


def test_every_solver_setting_comes_from_the_configuration():
    """Each SolverSettings field is a key of the solver section; the others are the forecast's."""
    settings = {f.name for f in dataclasses.fields(SolverSettings)}
    assert settings <= {f.name for f in dataclasses.fields(SolverConfig)}
    changed = solver_settings(SolverConfig(truncation=21, dt=0.02, x64=True, hyperdiffusion_order=2))
    assert (changed.truncation, changed.dt, changed.x64, changed.hyperdiffusion_order) == (21, 0.02, True, 2)


def test_adapters_follow_the_configuration():
    physics = PhysicsConfig(gravity=3.0, s0=0.01, s2=-0.2, s4=0.0, rho_g_cm3=0.4, band_strength_kG=40.0)
    assert swt_params(physics).gravity == 3.0
    assert zonal_flow(physics) == ZonalFlow(0.01, -0.2, 0.0)
    # field unit ~ sqrt(rho): doubling rho makes the same kG field sqrt(2) weaker in model units
    assert band_strength(physics) == pytest.approx(band_strength(PhysicsConfig(band_strength_kG=40.0)) / 2**0.5)
    assert band_strength(physics, 20.0) == pytest.approx(band_strength(physics) / 2.0)
    assert model_units(Config().physics).r0_rsun == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        # Snodgrass (1983) magnetic features, deg/day vs Carrington (experiments/carrier: +0.11, -0.11, -0.49)
        ("surface_features", (0.1124, -0.1077, -0.4926)),
        # Charbonneau et al. (1999): 460.7 - 62.69 sin^2 - 67.13 sin^4 nHz vs Carrington 455.98 nHz
        ("tachocline", (0.0861, -0.1098, -0.4711)),
        # today's flow: equator at the core rate, so everything drifts about -0.8 deg/day or faster
        ("core", (-0.8610, -1.0349, -1.3637)),
    ],
)
def test_zonal_flow_options_carry_patterns_at_their_published_rates(option, expected):
    """u0 of each ``physics.zonal_flow`` option, seen from the 430-nHz frame plus the frame's own drift,
    advects a pattern at the published rate against the Carrington frame (deg/day at 10, 20, 30 deg)."""
    import math

    import numpy as np

    physics = PhysicsConfig(zonal_flow=option)
    flow = zonal_flow(physics)
    drift = model_units(physics).frame_drift_deg_per_day()
    omega_deg_day = math.degrees(2.0 * math.pi * physics.core_rate_nHz * 1e-9 * 86400.0)
    lat = np.radians([10.0, 20.0, 30.0])
    rel = np.asarray(flow(lat)) / np.cos(lat)  # angular velocity relative to the frame, units of Omega
    np.testing.assert_allclose(drift + omega_deg_day * rel, expected, atol=2e-3)


def test_core_zonal_flow_is_todays_s_keys():
    """``zonal_flow: core`` (the default) is exactly the s0, s2, s4 keys, as before the option existed."""
    assert PhysicsConfig().zonal_flow == "core"
    assert zonal_flow(PhysicsConfig(s0=0.01, s2=-0.2, s4=0.0)) == ZonalFlow(0.01, -0.2, 0.0)
