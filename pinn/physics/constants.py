"""Solar constants shared by every stage, each defined once (sources in docs/science.md)."""

from __future__ import annotations

CARRINGTON_SYNODIC_DAYS = 27.2753  # mean synodic Carrington rotation period, days
CARRINGTON_SIDEREAL_URAD_S = 2.865  # sidereal rate of the Carrington frame, microrad/s (25.38 d; 14.184 deg/day)
HEMISPHERES = ("north", "south")  # order of every per-hemisphere axis
