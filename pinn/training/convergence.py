"""Is a trained PINN state converged enough to forecast from? A check of its data term against the toroids.

The data loss (:mod:`pinn.training.losses`) is the area mean of (a - a_obs)^2 / a0^2. A network that outputs
no field at all scores the *zero-field level* D0 = mean(a_obs^2) / a0^2 of the observed bands (about 0.1 for
two 8-degree bands); converged runs reach 1e-4 D0 or less (experiments/field_strength: 7e-6 at 3000 steps).
A state whose data loss is above ``UNCONVERGED_FRACTION`` x D0 explains less than 90 % of the observed bands'
variance: its forecast is not the PINN's, and the forecast says so with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pinn.data.grid import cell_areas

UNCONVERGED_FRACTION = 0.1  # of the zero-field level: 3 orders of magnitude above a converged run
HEMISPHERE_SIGN = {"north": 1.0, "south": -1.0}  # only the squares matter


def zero_field_data_loss(toroids, nlat: int = 180, nlon: int = 360) -> float:
    """D0 = area mean of (a_obs / a0)^2 over the sphere for the observed toroids (uniform strength along them)."""
    lat = -90.0 + (np.arange(nlat) + 0.5) * 180.0 / nlat
    lon = (np.arange(nlon) + 0.5) * 360.0 / nlon
    target = np.zeros((nlat, nlon))
    for hemi, sign in HEMISPHERE_SIGN.items():
        t = getattr(toroids, hemi, None)
        if t is not None:
            centre = np.asarray(t.centre_lat_deg(lon), float)[None, :]
            target += sign * np.exp(-(((lat[:, None] - centre) / t.width_deg) ** 2))
    areas = cell_areas(lat, lon)
    return float(np.sum(target**2 * areas) / np.sum(areas))


def unconverged_message(final_terms: Mapping[str, float], toroids, fraction: float = UNCONVERGED_FRACTION) -> str | None:
    """A one-line warning when the state's final data loss is above ``fraction`` x the zero-field level, else None.

    ``final_terms``: the state's ``final_<term>`` attributes (or the terms themselves); a state without a data
    term (the classical start) is never flagged.
    """
    data = final_terms.get("final_data", final_terms.get("data"))
    if data is None:
        return None
    level = zero_field_data_loss(toroids)
    if not (level > 0 and float(data) > fraction * level):
        return None
    return (f"the PINN state of CR {getattr(toroids, 'cr', '?')} ended far from convergence: data loss "
            f"{float(data):.3g} is {float(data) / level:.2g} x the zero-field level {level:.3g} (a converged run: "
            f"below 1e-4 x); more train.adam_steps, or forecast.start=classical")
