"""Test oracle: the exact steady axisymmetric state of antisymmetric bands, and the PINN's errors against it."""

from __future__ import annotations

import numpy as np

from pinn.config.physics import physics_bands, swt_params, zonal_flow
from pinn.config.schema import Config
from pinn.physics.bands import (
    DEFAULT_LAT0_DEG,
    DEFAULT_SIGN_NORTH,
    DEFAULT_WIDTH_DEG,
    antisymmetric_pair,
    flux_density,
)
from pinn.physics.equations import axisymmetric_thickness
from pinn.toroids.fit import HemisphereToroid, Toroids
from pinn.training.losses import make_problem
from pinn.training.networks import SphereNet
from pinn.training.schema import evaluate_fields, output_grid


def band_toroids(lat0_deg: float = DEFAULT_LAT0_DEG, width_deg: float = DEFAULT_WIDTH_DEG,
                 north_sign: int = DEFAULT_SIGN_NORTH):
    """Axisymmetric antisymmetric toroids at +-lat0 (no longitudinal modes), opposite signs N/S, as a
    :class:`pinn.toroids.fit.Toroids` (the form the PINN's data term takes)."""
    north, south = (HemisphereToroid(b.lat0_deg, b.width_deg, (), (), b.sign)
                    for b in antisymmetric_pair(lat0_deg, width_deg, north_sign))
    return Toroids(cr=0, threshold_G=0.0, north=north, south=south)


def axisymmetric_reference(config: Config, toroids, lat_deg: np.ndarray, strength_kG: float | None = None):
    """Exact steady axisymmetric state (u, a, h) for axisymmetric ``toroids`` at latitudes ``lat_deg``.

    a = the data target (bands), u = u0 (prior), v = b = 0, h from the v-momentum balance
    (:func:`pinn.physics.equations.axisymmetric_thickness`) on a fine float64 grid, area mean 1.
    """
    prob = make_problem(config, toroids, strength_kG)
    fine = np.linspace(-np.pi / 2, np.pi / 2, 20001)
    bands = physics_bands(toroids, "uniform")  # the axisymmetric reference: s = 1
    a_f = flux_density(fine, 0.0, bands, float(prob.a0))
    u_f = np.asarray(zonal_flow(config.physics)(fine), np.float64)
    h_f = axisymmetric_thickness(fine, u_f, a_f, swt_params(config.physics))
    lat = np.radians(np.asarray(lat_deg, np.float64))
    return {"u": np.interp(lat, fine, u_f), "a": np.interp(lat, fine, a_f), "h": np.interp(lat, fine, h_f)}


def axisymmetric_errors(model: SphereNet, config: Config, toroids, nlat: int = 90, nlon: int = 36) -> dict:
    """Area-weighted relative L2 errors of u, a and h - 1 (and RMS of v, b) against the exact state."""
    lat, lon = output_grid(nlat, nlon)
    f = evaluate_fields(model, lat, lon)
    ref = axisymmetric_reference(config, toroids, lat)
    w = np.cos(np.radians(lat))[:, None] * np.ones((1, nlon))

    def rel(x, y):
        return float(np.sqrt(np.sum(w * (x - y) ** 2) / np.sum(w * y**2)))

    return {
        "u": rel(f["u"], ref["u"][:, None]),
        "a": rel(f["a"], ref["a"][:, None]),
        "h-1": rel(f["h"] - 1.0, ref["h"][:, None] - 1.0),
        "v_rms_over_u_rms": float(np.sqrt(np.sum(w * f["v"] ** 2) / np.sum(w * ref["u"][:, None] ** 2))),
        "b_rms_over_a_rms": float(np.sqrt(np.sum(w * f["b"] ** 2) / np.sum(w * ref["a"][:, None] ** 2))),
    }
