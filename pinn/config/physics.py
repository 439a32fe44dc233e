"""Adapters from the run configuration (:mod:`pinn.config.schema`) to the physics layer's own parameter objects.

:mod:`pinn.physics` never reads the configuration: it takes frozen parameter objects
(:class:`~pinn.physics.equations.SWTParams`, :class:`~pinn.physics.equations.ZonalFlow`,
:class:`~pinn.physics.units.ModelUnits`, :class:`~pinn.physics.solver.SolverSettings`). This module is the
one place that maps configuration sections onto them, so the physics can be used (and tested) without a
configuration, and a configuration key the physics does not read never reaches it.
"""

from __future__ import annotations

from pinn.config.schema import Config, PhysicsConfig, SolverConfig
from pinn.physics.bands import Band
from pinn.physics.equations import SWTParams, ZonalFlow
from pinn.physics.rotation import PROFILES_NHZ, flow_from_rate
from pinn.physics.solver import Solver, SolverSettings, make_solver
from pinn.physics.states import strength_from_kG
from pinn.physics.units import ModelUnits


def swt_params(physics: PhysicsConfig | None = None) -> SWTParams:
    """Solar MHD-SWT parameters (model units: rotation rate 1, no tilt) of a ``physics`` section."""
    return SWTParams(gravity=(physics or PhysicsConfig()).gravity)


def zonal_flow(physics: PhysicsConfig | None = None) -> ZonalFlow:
    """The background rotation u0 of a ``physics`` section: ``s0, s2, s4`` (``zonal_flow: core``) or the
    published profile ``zonal_flow`` names (:mod:`pinn.physics.rotation`) seen from the frame ``core_rate_nHz``."""
    physics = physics or PhysicsConfig()
    if physics.zonal_flow == "core":
        return ZonalFlow(physics.s0, physics.s2, physics.s4)
    return flow_from_rate(PROFILES_NHZ[physics.zonal_flow], physics.core_rate_nHz)


def physics_bands(toroids, strength_profile: str = "uniform") -> tuple[Band, ...]:
    """The bands the physics builds from ``toroids`` (objects with ``.north``/``.south``, None for a hemisphere
    without a fit): centre line, width and sign, with the toroid's s(lon) when ``strength_profile`` (the
    key ``physics.strength_profile``) is ``observed`` and uniform (s = 1, today's bands) when ``uniform``."""
    if strength_profile not in ("uniform", "observed"):
        raise ValueError(f"strength_profile must be 'uniform' or 'observed', got {strength_profile!r}")
    return tuple(
        Band(t.lat0_deg, t.width_deg, t.amplitudes_deg, t.phases_deg, t.sign,
             t.strength_profile if strength_profile == "observed" else ())
        for t in (toroids.north, toroids.south)
        if t is not None
    )


def model_units(physics: PhysicsConfig | None = None) -> ModelUnits:
    """The unit system of a ``physics`` section."""
    physics = physics or PhysicsConfig()
    return ModelUnits.solar(physics.r0_rsun, physics.core_rate_nHz, physics.carrington_rate_s, physics.rho_g_cm3)


def band_strength(physics: PhysicsConfig | None = None, strength_kG: float | None = None) -> float:
    """Peak toroidal field a0 in model units: ``strength_kG`` if given, else ``physics.band_strength_kG``."""
    physics = physics or PhysicsConfig()
    kG = physics.band_strength_kG if strength_kG is None else strength_kG
    return strength_from_kG(kG, model_units(physics))


def solver_settings(solver: SolverConfig | None = None) -> SolverSettings:
    """The numerical settings of a ``solver`` section (its forecast-only keys stay behind)."""
    solver = solver or SolverConfig()
    return SolverSettings(
        truncation=solver.truncation,
        dt=solver.dt,
        dissipation_efold_rotations=solver.dissipation_efold_rotations,
        hyperdiffusion_order=solver.hyperdiffusion_order,
        x64=solver.x64,
        dissipation=solver.dissipation,
        exponential_filter_order=solver.exponential_filter_order,
        time_stepper=solver.time_stepper,
        reference_thickness=solver.reference_thickness,
    )


def solver_for(config: Config, dt: float | None = None) -> Solver:
    """The solver of a run configuration (its ``solver`` and ``physics`` sections); ``dt`` overrides."""
    return make_solver(solver_settings(config.solver), swt_params(config.physics), dt=dt)
