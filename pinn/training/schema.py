"""The output dataset (state.nc): the trained fields on a regular grid, with units and provenance.

Variables u, v, h, a, b, A, a_obs on (lat, lon) cell centres, in model units; each carries ``to_physical``
(the factor to ``physical_units``), the attrs give the unit factors, band strength, pattern speed, steps, seed.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from pinn.config.physics import model_units
from pinn.config.schema import Config
from pinn.training.losses import Problem, toroid_target
from pinn.training.networks import SphereNet, field_values
from pinn.training.timedep import SeriesProblem, latest_time

FORMULATION = (
    "steady in a frame drifting at a trainable pattern speed c (d/dt -> -c d/dlon); "
    "field from flux function A (h a = -dA/dlat, h b = dA/dlon / cos lat); flow = tangent projection of a "
    "3-D network vector; residuals x cos(lat)"
)
FORMULATION_TIME_DEPENDENT = (
    "time-dependent over the window of maps (network input t; full d/dt residual in the core-rate model frame, "
    "no pattern speed; data term at each map's time); state = the network at the latest map's time t_N = 0; "
    "field from flux function A (h a = -dA/dlat, h b = dA/dlon / cos lat); flow = tangent projection of a "
    "3-D network vector; residuals x cos(lat)"
)


def output_grid(nlat: int, nlon: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre latitudes (symmetric about the equator) and longitudes, degrees."""
    lat = -90.0 + (np.arange(nlat) + 0.5) * (180.0 / nlat)
    lon = (np.arange(nlon) + 0.5) * (360.0 / nlon)
    return lat, lon


# compiled once per network structure and grid shape (a jit made inside the function compiled again for every case)
_steady_fields = jax.jit(lambda model, lat, lon: field_values(model, lat, lon))
_timed_fields = jax.jit(lambda model, lat, lon, t: field_values(model, lat, lon, "forward", t))


def evaluate_fields(model: SphereNet, lat_deg: np.ndarray, lon_deg: np.ndarray,
                    t: float | None = None) -> dict[str, np.ndarray]:
    """u, v, h, a, b, A (model units) on the (lat, lon) grid in degrees; arrays of shape (nlat, nlon); at model
    time ``t`` for a network with a time input (time-dependent formulation)."""
    la, lo = np.meshgrid(np.radians(lat_deg), np.radians(lon_deg), indexing="ij")
    if t is None:
        fv = _steady_fields(model, jnp.asarray(la, jnp.float32), jnp.asarray(lo, jnp.float32))
    else:
        fv = _timed_fields(model, jnp.asarray(la, jnp.float32), jnp.asarray(lo, jnp.float32),
                           jnp.full(la.shape, t, jnp.float32))
    out = {k: np.asarray(v) for k, v in zip(("u", "v", "h", "a", "b"), fv.fields)}
    out["A"] = np.asarray(fv.A)
    return out


def state_dataset(model: SphereNet, problem: Problem, config: Config, steps: int | None = None,
                  toroids_cr: int | None = None):
    """The trained state on the output grid as an xarray Dataset (model units, factors in attrs).

    Time-dependent formulation (``problem`` a :class:`SeriesProblem`): the network at the latest map's
    time t_N, with the latest map's toroids as ``a_obs``; every other reader of the state is unchanged.
    """
    import astropy.units as u
    import xarray as xr

    formulation = FORMULATION
    t_state = None
    if isinstance(problem, SeriesProblem):
        t_state = latest_time(problem)
        problem = problem.latest
        formulation = FORMULATION_TIME_DEPENDENT
    lat, lon = output_grid(config.train.output_nlat, config.train.output_nlon)
    f = evaluate_fields(model, lat, lon, t_state)
    la, lo = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
    target, _ = toroid_target(problem, jnp.asarray(la.ravel(), jnp.float32), jnp.asarray(lo.ravel(), jnp.float32))
    mu = model_units(config.physics)
    vel = mu.velocity_unit.to_value(u.m / u.s)
    fld = mu.field_unit.to_value(u.G)
    c = 0.0 if t_state is not None else float(model.pattern_speed[...])  # time-dependent: no drifting frame
    meta = {
        "u": ("eastward velocity", "r0*Omega", vel, "m s-1"),
        "v": ("northward velocity", "r0*Omega", vel, "m s-1"),
        "h": ("shell thickness (undisturbed 1)", "1", 1.0, "1"),
        "a": ("eastward (toroidal) magnetic field", "field unit", fld, "G"),
        "b": ("northward (poloidal) magnetic field", "field unit", fld, "G"),
        "A": ("flux function: h a = -dA/dlat, h b = dA/dlon / cos(lat)", "field unit * r0", fld, "G r0"),
        "a_obs": ("toroid data target of a (observed centre lines, widths, signs; peak a0)", "field unit", fld, "G"),
    }
    data = dict(f, a_obs=np.asarray(target).reshape(la.shape))
    ds = xr.Dataset(
        {k: (("lat", "lon"), np.asarray(v, np.float32),
             {"long_name": meta[k][0], "units": f"model ({meta[k][1]})", "to_physical": meta[k][2],
              "physical_units": meta[k][3]}) for k, v in data.items()},
        coords={"lat": ("lat", lat, {"units": "degrees_north"}),
                "lon": ("lon", lon, {"units": "degrees_east", "long_name": "longitude (model frame = "
                                     "Carrington at the map's reference time)"})},
    )
    ds.attrs.update({
        "title": "PINN MHD-SWT state (PINNBARDS)",
        "formulation": formulation,
        "velocity_unit_m_s": vel,
        "field_unit_G": fld,
        "field_unit_kG": fld / 1e3,
        "time_unit_days": mu.time_unit.to_value(u.day),
        "length_unit_cm": mu.r0_cm,
        "band_strength_kG": float(problem.a0) * fld / 1e3,
        "band_strength_model": float(problem.a0),
        "gravity": float(problem.gravity),
        "prior_s0_s2_s4": np.asarray(problem.s, np.float64),
        "pattern_speed_model": c,
        "pattern_speed_deg_per_day": math.degrees(c) / mu.time_unit.to_value(u.day),
        "steps": -1 if steps is None else int(steps),
        "seed": int(config.seed),
    })
    if toroids_cr is not None:
        ds.attrs["toroids_cr"] = int(toroids_cr)
    return ds
