"""The forecast's start state: the trained PINN state, or the classical balanced band of the same toroids.

``forecast.start`` chooses it:

* ``pinn`` (default): the PINN state fitted to the toroids and the MHD-SWT equations
  (:mod:`pinn.training.state_cache`, trained once per toroids and config);
* ``classical``: the ablation that asks whether the PINN matters. The same toroids (centre lines,
  widths, signs; warped where the fit chose M > 0), the same field strength and background rotation,
  built as the classical band state of :func:`pinn.physics.states.band_state` on the solver grid: u = u0,
  v = 0, A from the band, h from the axisymmetric pressure balance of u0 and the band (docs/science.md
  section 4's "classical" reference). No training. The forecast then balances it on the solver grid like
  any start (``solver.balance_start``).

Both return the state as the PINN writes it: u, v, h, A (and a, b) on (lat, lon) in degrees, model units.
Both first refuse a ``solver.truncation`` whose grid does not resolve the toroids (:func:`check_resolution`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from pinn.chain.diagnostics import classical_start
from pinn.config.physics import solver_for
from pinn.config.schema import Config
from pinn.errors import ConfigError
from pinn.physics import resolution as rs
from pinn.training import state_cache
from pinn.training.timedep import ToroidSeries


def check_resolution(toroids_list: Sequence, config: Config) -> None:
    """Refuse (:class:`ConfigError` naming ``solver.truncation`` and its minimum) a solver grid coarser than
    the narrowest toroid's half-width w (:mod:`pinn.physics.resolution`), before any training or integration."""
    widths = [(getattr(t, "cr", None), hemi, h.width_deg) for t in toroids_list
              for hemi in ("north", "south") if (h := getattr(t, hemi, None)) is not None]
    if not widths:
        return
    cr, hemi, w = min(widths, key=lambda x: x[2])
    trunc = config.solver.truncation
    if rs.resolves(trunc, w):
        return
    need = rs.minimum_truncation(w)
    where = f"CR {cr} {hemi}" if cr is not None else hemi
    raise ConfigError(
        f"config key 'solver.truncation' = {trunc}: its grid ({rs.gaussian_latitudes(trunc)} latitudes, "
        f"{rs.latitude_spacing_deg(trunc):.2f} deg apart) does not resolve the toroid of {where} (half-width "
        f"{w:.2f} deg, {rs.POINTS_PER_HALF_WIDTH:g} latitude per half-width needed): minimum "
        f"{need if need is not None else 'above 425'}")


def classical_state(toroids, config: Config, strength_kG: float) -> xr.Dataset:
    """The classical balanced band of ``toroids`` at ``strength_kG`` (kG) on the solver's Gaussian grid."""
    solver = solver_for(config)
    state = classical_start(solver, toroids, strength_kG, config.physics)
    nodal = solver.to_nodal(state)
    coords = {"lat": ("lat", solver.lat, {"units": "degrees_north"}),
              "lon": ("lon", solver.lon, {"units": "degrees_east"})}
    ds = xr.Dataset({k: (("lat", "lon"), np.asarray(nodal[k], np.float64)) for k in ("u", "v", "h", "a", "b", "A")},
                    coords=coords)
    ds.attrs.update(start="classical", strength_kG=float(strength_kG), pattern_speed_model=0.0)
    if getattr(toroids, "cr", None) is not None:
        ds.attrs["toroids_cr"] = int(toroids.cr)
    return ds


def start_state(toroids, config: Config, strength_kG: float, series: ToroidSeries | None = None) -> xr.Dataset:
    """The start state of a forecast from ``toroids`` (the window fit) at ``strength_kG`` (kG), as
    ``forecast.start`` asks; ``series``: the per-map toroids the time-dependent PINN is trained on instead
    (:attr:`pinn.chain.inputs.ForecastInputs.series`; None: the window fit, the steady PINN)."""
    check_resolution(_resolved([toroids], [series]), config)
    if config.forecast.start == "classical":
        return classical_state(toroids, config, strength_kG)
    return state_cache.pinn_state(toroids if series is None else series, config, strength_kG)


def start_states(toroids_list: Sequence, config: Config, strength_kG: float, mesh=None,
                 series: Sequence[ToroidSeries | None] | None = None) -> list[xr.Dataset]:
    """:func:`start_state` of many toroids (and ``series``, one per case or None); PINN states are trained
    together (:func:`pinn.training.state_cache.pinn_states`)."""
    series = [None] * len(toroids_list) if series is None else list(series)
    check_resolution(_resolved(toroids_list, series), config)
    if config.forecast.start == "classical":
        return [classical_state(t, config, strength_kG) for t in toroids_list]
    trained = [t if s is None else s for t, s in zip(toroids_list, series)]
    return state_cache.pinn_states(trained, config, strength_kG, mesh,
                       toroids_crs=[getattr(t, "cr", None) for t in toroids_list])


def _resolved(toroids_list: Sequence, series: Sequence[ToroidSeries | None]) -> list:
    """The toroids whose widths the solver grid must resolve: each window fit, and the latest map's own fit
    where the PINN is trained on a series (its state at t_N follows that map's band)."""
    return [*toroids_list, *(s.latest for s in series if s is not None)]
