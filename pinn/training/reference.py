"""Test oracle: the exact steady axisymmetric state of antisymmetric bands, and the PINN's errors against it."""

from __future__ import annotations

import numpy as np

from pinn.config import Config
from pinn.losses import make_problem
from pinn.networks import SphereNet
from pinn.training.schema import evaluate_fields, output_grid


def band_toroids(lat0_deg: float = 20.0, width_deg: float = 10.0, north_sign: int = 1):
    """Axisymmetric antisymmetric toroids at +-lat0 (no longitudinal modes), opposite signs N/S."""
    from pinn.toroids import HemisphereToroid, Toroids

    return Toroids(cr=0, threshold_G=0.0,
                   north=HemisphereToroid(lat0_deg, width_deg, (), (), north_sign),
                   south=HemisphereToroid(-lat0_deg, width_deg, (), (), -north_sign))


def axisymmetric_reference(config: Config, toroids, lat_deg: np.ndarray, strength_kG: float | None = None):
    """Exact steady axisymmetric state (u, a, h) for axisymmetric ``toroids`` at latitudes ``lat_deg``.

    a = the data target (bands), u = u0 (prior), v = b = 0, h from the v-momentum balance
    (equations.steady_axisymmetric_dh_dlat) integrated in float64 on a fine grid, area mean 1.
    """
    from pinn.physics.equations import SWTParams, differential_rotation, steady_axisymmetric_dh_dlat

    prob = make_problem(config, toroids, strength_kG)
    ph = config.physics
    fine = np.linspace(-np.pi / 2, np.pi / 2, 20001)

    a_f = np.zeros_like(fine)
    for hemi in (toroids.north, toroids.south):
        if hemi is not None:
            a_f += hemi.sign * np.exp(-(((np.degrees(fine) - hemi.lat0_deg) / hemi.width_deg) ** 2))
    a_f *= float(prob.a0)
    u_f = np.asarray(differential_rotation(fine, ph.s0, ph.s2, ph.s4), np.float64)
    dh = np.asarray(steady_axisymmetric_dh_dlat(fine, u_f, a_f, SWTParams(gravity=ph.gravity)), np.float64)
    h_f = np.concatenate([[0.0], np.cumsum(0.5 * (dh[1:] + dh[:-1]) * np.diff(fine))])
    w = np.cos(fine)
    h_f += 1.0 - np.trapezoid(h_f * w, fine) / np.trapezoid(w, fine)
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
