"""Which triangular truncation resolves a toroidal band: the rule behind the forecast's check of solver.truncation.

The solver's Gaussian grid for truncation T has ``2 ceil((3T + 1) / 4)`` latitudes
(:func:`pinn.physics.solver.grid_for_truncation`), about ``180 / nlat`` degrees apart. A band
``exp(-((lat - c) / w)^2)`` of half-width ``w`` (degrees; the toroid width of :mod:`pinn.toroids.fit`) is
resolved when at least :data:`POINTS_PER_HALF_WIDTH` grid latitudes fall within one half-width, i.e. when the
spacing is at most ``w / POINTS_PER_HALF_WIDTH``; coarser grids alias the band onto a few rows (T5 puts a
9-degree band on 8 latitudes, 22.5 degrees apart) and the forecast is silently wrong.
"""

from __future__ import annotations

import math

POINTS_PER_HALF_WIDTH = 1.0  # grid latitudes per band half-width w (2 across the band's core 2w): the minimum
MAX_TRUNCATION = 425  # the largest truncation the solver builds


def gaussian_latitudes(truncation: int) -> int:
    """Number of Gaussian latitudes of the solver grid at triangular truncation ``truncation``."""
    return 2 * math.ceil((3 * truncation + 1) / 4)


def latitude_spacing_deg(truncation: int) -> float:
    """Mean latitude spacing (degrees) of the solver grid at ``truncation``: 180 / number of latitudes."""
    return 180.0 / gaussian_latitudes(truncation)


def resolves(truncation: int, half_width_deg: float, points: float = POINTS_PER_HALF_WIDTH) -> bool:
    """Whether the grid of ``truncation`` has at least ``points`` latitudes per band half-width (degrees)."""
    return latitude_spacing_deg(truncation) * points <= half_width_deg


def minimum_truncation(half_width_deg: float, points: float = POINTS_PER_HALF_WIDTH) -> int | None:
    """The smallest truncation whose grid resolves a band of ``half_width_deg`` (None: none up to 425)."""
    return next((t for t in range(4, MAX_TRUNCATION + 1) if resolves(t, half_width_deg, points)), None)
