"""Conversions between physical quantities (astropy) and the nondimensional MHD-SWT model units.

Model units (docs/science.md section 2): length r0, time 1/Omega, velocity r0*Omega, magnetic field in Alfven
speed units divided by r0*Omega, i.e. B_unit = sqrt(4 pi rho) * r0 * Omega (Gauss, cgs). This module
is the only place where those factors are computed; everything else takes floats in model units
inside and astropy Quantities at the boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import astropy.units as u
from astropy.constants import R_sun

from pinn.errors import ConfigError
from pinn.physics.constants import CARRINGTON_SYNODIC_DAYS

DAY_S = 86400.0


@dataclass(frozen=True)
class ModelUnits:
    """Scale factors of the model's unit system, in cgs. Build with :meth:`solar` (or, from a run
    configuration, :func:`pinn.config.physics.model_units`)."""

    r0_cm: float  # shell radius
    omega_s: float  # frame (core) angular velocity, rad/s
    carrington_rate_s: float  # Carrington frame angular velocity, rad/s
    rho_g_cm3: float  # density of the layer

    @classmethod
    def solar(cls, r0_rsun: float = 0.7, core_rate_nHz: float = 430.0, carrington_rate_s: float = 2.865e-6,
              rho_g_cm3: float = 0.2) -> ModelUnits:
        """Units of a tachocline shell: radius in solar radii, frame rate in nHz, Carrington rate in rad/s,
        density in g/cm^3. Defaults: r0 = 0.7 R_sun (Charbonneau et al. 1999), the radiative core's rate
        (Schou et al. 1998), the Carrington sidereal rate (25.38 d), rho from model S (Christensen-Dalsgaard
        et al. 1996); the same as the run configuration's ``physics`` section."""
        return cls(
            r0_cm=r0_rsun * R_sun.to_value(u.cm),
            omega_s=2.0 * math.pi * core_rate_nHz * 1e-9,
            carrington_rate_s=carrington_rate_s,
            rho_g_cm3=rho_g_cm3,
        )

    @property
    def r0_rsun(self) -> float:
        """Shell radius in solar radii."""
        return self.r0_cm / R_sun.to_value(u.cm)

    @property
    def core_rate_nHz(self) -> float:
        """Frame rotation rate in nHz."""
        return self.omega_s / (2.0 * math.pi * 1e-9)

    # -- scale factors --------------------------------------------------------------------
    @property
    def time_unit(self) -> u.Quantity:
        """One model time unit (1/Omega)."""
        return (1.0 / self.omega_s) * u.s

    @property
    def velocity_unit(self) -> u.Quantity:
        """r0 * Omega."""
        return (self.r0_cm * self.omega_s) * u.cm / u.s

    @property
    def field_unit(self) -> u.Quantity:
        """Field of unit model strength: sqrt(4 pi rho) r0 Omega, in Gauss."""
        return math.sqrt(4.0 * math.pi * self.rho_g_cm3) * self.r0_cm * self.omega_s * u.G

    # -- conversions ----------------------------------------------------------------------
    def field_to_model(self, b: u.Quantity) -> float:
        """Magnetic field (any astropy magnetic-field unit: G, kG, T) -> model units."""
        return float((_as_quantity(b, u.G, "field") / self.field_unit).decompose())

    def field_from_model(self, b: float, unit: u.Unit = u.kG) -> u.Quantity:
        return (b * self.field_unit).to(unit)

    def time_to_model(self, t: u.Quantity) -> float:
        """Time (days, s, ...) -> model time units."""
        return float((_as_quantity(t, u.s, "time") * self.omega_s / u.s).decompose())

    def time_from_model(self, t: float, unit: u.Unit = u.day) -> u.Quantity:
        return (t * self.time_unit).to(unit)

    def velocity_to_model(self, v: u.Quantity) -> float:
        return float((_as_quantity(v, u.cm / u.s, "velocity") / self.velocity_unit).decompose())

    def velocity_from_model(self, v: float, unit: u.Unit = u.m / u.s) -> u.Quantity:
        return (v * self.velocity_unit).to(unit)

    # -- frames ---------------------------------------------------------------------------
    @property
    def carrington_minus_frame_rate(self) -> float:
        """Angular velocity of the Carrington frame relative to the model frame, in model units.

        Positive when the Carrington frame turns faster than the core: a pattern fixed in the model
        frame then drifts to decreasing Carrington longitude.
        """
        return (self.carrington_rate_s - self.omega_s) / self.omega_s

    def frame_drift_deg_per_day(self) -> float:
        """Drift of the model frame against the Carrington frame, deg/day (about -0.8 by default)."""
        return -math.degrees((self.carrington_rate_s - self.omega_s) * DAY_S)

    @property
    def carrington_rotation_model(self) -> float:
        """Synodic Carrington rotation (27.2753 d) in model time units."""
        return self.time_to_model(CARRINGTON_SYNODIC_DAYS * u.day)


def _as_quantity(value: u.Quantity, unit: u.Unit, what: str) -> u.Quantity:
    if not isinstance(value, u.Quantity):
        raise ConfigError(f"{what} must be an astropy Quantity with units, got {value!r}")
    try:
        return value.to(unit)
    except u.UnitConversionError:
        raise ConfigError(f"{what} has units {value.unit}, which do not convert to {unit}") from None
