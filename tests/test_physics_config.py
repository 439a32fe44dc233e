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
