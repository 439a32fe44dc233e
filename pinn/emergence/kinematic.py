"""Kinematic strength: the observed s(lon) of the current toroids carried in longitude, without dynamics.

The ablation that isolates the dynamics (issue 21). The integrated physics starts from the toroids with
their observed strength along the band, s(lon) (:mod:`pinn.toroids.strength`, mean 1, samples every 5 deg,
with ``physics.strength_profile: observed``), and its predicted ridge strength is read at each Carrington
longitude's own lead time (:func:`pinn.emergence.ridges.lead_days`). The kinematic strength is the same s(lon)
with no dynamics at all: each hemisphere's profile moved rigidly in Carrington longitude at the surface
magnetic-feature rate (Snodgrass 1983, :data:`pinn.emergence.baselines.SNODGRASS_URAD_S`, the rate AR nests
move: experiments/carrier) at the toroid's centre latitude, for the lead time of each longitude:

    k(lon) = s(lon - Omega(lam_c(lon)) * tau(lon)),   tau(lon) = lead_days(lon) (days after the middle of N).

Reference time: the toroid fit (:func:`pinn.toroids.fit.fit_toroids_window`) stacks the maps of its causal
window in the Carrington frame of the latest rotation N, and the chain dates the fitted toroids, as the start
state it builds from them, at the middle of rotation N (:mod:`pinn.emergence.ridges`); the carry starts there,
as the integration does. (Longitude phi of a synoptic map is really seen (180 - phi)/360 of a rotation from that
middle; at |Omega| <= 0.3 deg/day, |lam| <= 25 deg, dating it at the middle moves s by at most 4 deg, within
the 25-deg smoothing of s.) Omega is evaluated at the centre line at the target longitude, lam_c(lon). A
hemisphere without a toroid, or a toroid without s(lon), has k = 1 (uniform, as the static ridge's strength).
"""

from __future__ import annotations

import numpy as np

from pinn.emergence import baselines as bl
from pinn.emergence import carrier

SURFACE_FEATURES = carrier.from_sidereal_urad_s(bl.SNODGRASS_URAD_S)  # (A, B, C) deg/day vs Carrington


def kinematic_strength(toroid, lon_deg: np.ndarray, lead: np.ndarray,
                       coeffs: carrier.Coeffs = SURFACE_FEATURES) -> np.ndarray:
    """k(lon) of one hemisphere's ``toroid`` (a :class:`pinn.physics.bands.Band` or None) at Carrington
    longitudes ``lon_deg`` (deg), each carried for ``lead`` days (same shape) at the rate profile ``coeffs``
    (deg/day relative to Carrington; default the surface magnetic-feature rate). 1 where there is no s(lon)."""
    lon = np.asarray(lon_deg, float)
    if toroid is None or not toroid.strength_profile:
        return np.ones(lon.shape)
    rate = carrier.rate_deg_per_day(toroid.centre_lat_deg(lon), coeffs)
    source = np.mod(lon - rate * np.asarray(lead, float), 360.0)  # where the pattern seen at lon was at the fit
    return np.asarray(toroid.strength_at(source), float)
