"""What a forecast of rotation N+1 may know at the end of rotation N: the maps up to N and their toroids.

The maps are read and checked (consecutive, one instrument), trimmed to the toroid window, and the latest
toroids are fitted causally (trailing window: nothing after map N). With ``train.formulation: time_dependent``
each map of that window is also fitted alone (:func:`map_series`): the time-dependent PINN's data term puts
map k's own band at its time t_k (:mod:`pinn.training.timedep`), so the maps tell how the band moves.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from pinn.config.schema import Config, EmergenceConfig
from pinn.data.observations import check_consecutive, load_sequence
from pinn.emergence.map_channel import hemisphere_flux
from pinn.errors import InputError, InputWarning
from pinn.toroids import fit as tor
from pinn.training.timedep import ToroidSeries, fit_series, window_series


@dataclass(frozen=True)
class ForecastInputs:
    """What the forecast may know at the end of rotation N: the maps up to N and their toroids."""

    crs: tuple[int, ...]  # rotations used, the latest last
    latest: xr.DataArray  # Br(lat, lon) of rotation N, G
    toroids: object  # pinn.toroids.fit.Toroids of rotation N (causal window)
    hemisphere_flux: dict  # unsigned flux share of strong pixels per hemisphere over the window
    t_start: np.datetime64  # start of rotation N (NaT if unknown)
    t_stop: np.datetime64  # end of rotation N (NaT if unknown)
    map_notes: tuple[dict, ...] = ()  # per map used: cr, source, header_repairs, masked_implausible_pixels
    series: ToroidSeries | None = None  # time_dependent: each map of the window fitted alone (map_series); else None


def prepare_inputs(paths: Sequence[str | Path], config: Config) -> ForecastInputs:
    """Load up to ``toroids.window`` consecutive maps (latest last) and fit the latest toroids causally."""
    if not paths:
        raise InputError(None, "no synoptic maps given")
    seq = load_sequence(paths, config.observations)
    crs = [int(c) for c in seq["cr"].values]
    check_consecutive(crs)
    instruments = {str(v) for v in np.atleast_1d(seq["instrument"].values)} if "instrument" in seq else set()
    if len(instruments) > 1:
        raise InputError(paths[-1], f"maps from different instruments mixed ({', '.join(sorted(instruments))})")
    window = config.toroids.window
    if len(crs) > window:
        seq = seq.isel(cr=slice(-window, None))
        crs = crs[-window:]
    elif len(crs) < window:
        warnings.warn(f"toroids of CR {crs[-1]} from {len(crs)} map{'s' if len(crs) > 1 else ''} (CR "
                      f"{crs[0]}-{crs[-1]}), fewer than toroids.window = {window}", InputWarning, stacklevel=2)
    toroids = tor.fit_toroids_window(seq, config.toroids, causal=True) if len(crs) > 1 else tor.fit_toroids(
        seq.isel(cr=0), config.toroids)
    series = map_series(seq, toroids, config) if config.train.formulation == "time_dependent" else None
    latest = seq["Br"].isel(cr=-1)
    flux = _hemisphere_flux(seq["Br"], config.toroids.threshold_G, config.toroids.lat_limit_deg)
    t_start = seq["t_start"].values[-1] if "t_start" in seq else np.datetime64("NaT")
    t_stop = seq["t_stop"].values[-1] if "t_stop" in seq else np.datetime64("NaT")
    return ForecastInputs(tuple(crs), latest, toroids, flux, t_start, t_stop, map_notes(seq), series)


def map_series(seq: xr.Dataset, toroids, config: Config) -> ToroidSeries:
    """Each map of the (causal, trimmed) window ``seq`` fitted alone (:func:`pinn.training.timedep.fit_series`),
    the time-dependent PINN's data at each map time.

    A window of one map (a gap in the data just before rotation N) has no second time to tell motion from:
    its one fit ``toroids`` is placed at the ``toroids.window`` map times (:func:`window_series`, the band at
    rest in the Carrington frame), with one :class:`InputWarning`, so a hindcast still scores that target like
    every other row. A map without strong pixels in a hemisphere gives no band there at its time (the data
    term is masked, :func:`fit_series`); one whose own fit fails stops the case with an error naming its rotation.
    """
    crs = [int(c) for c in seq["cr"].values]
    if len(crs) < 2:
        warnings.warn(f"time-dependent PINN of CR {crs[-1]}: one map in the window (no map of CR {crs[-1] - 1}), "
                      f"so its fit is placed at each of the toroids.window = {config.toroids.window} map times",
                      InputWarning, stacklevel=3)
        return window_series(toroids, config)
    try:
        return fit_series(seq, config.toroids)
    except InputError as exc:
        raise InputError(exc.path, f"time-dependent PINN of CR {crs[-1]}: {exc.problem}") from exc


def map_notes(seq: xr.Dataset) -> tuple[dict, ...]:
    """What the reader repaired or masked in each map of a sequence (its ``header_repairs`` and
    ``masked_implausible_pixels`` coordinates), one dict per rotation."""
    n = seq.sizes["cr"]
    repairs = seq["header_repairs"].values if "header_repairs" in seq.coords else [""] * n
    masked = seq["masked_implausible_pixels"].values if "masked_implausible_pixels" in seq.coords else [0] * n
    sources = seq["source"].values if "source" in seq.coords else [""] * n
    return tuple({"cr": int(c), "source": str(s), "header_repairs": str(r), "masked_implausible_pixels": int(m)}
                 for c, s, r, m in zip(seq["cr"].values, sources, repairs, masked))


def hemisphere_weights(inputs: ForecastInputs, ec: EmergenceConfig) -> dict[str, float]:
    """Weight of each hemisphere in the emergence model: the flux shares, or equal (``emergence.hemisphere_weight``)."""
    return inputs.hemisphere_flux if ec.hemisphere_weight == "flux" else {"north": 0.5, "south": 0.5}


def _hemisphere_flux(br: xr.DataArray, threshold: float, lat_limit: float) -> dict:
    """Share of the strong-pixel unsigned flux of the window's maps ``br`` (cr, lat, lon) in each hemisphere (each
    map's flux: :func:`pinn.emergence.map_channel.hemisphere_flux`)."""
    per_map = [hemisphere_flux(br.isel(cr=i), threshold, lat_limit) for i in range(br.sizes["cr"])]
    north, south = (sum(f[h] for f in per_map) for h in ("north", "south"))
    total = north + south
    if total <= 0:
        return {"north": 0.5, "south": 0.5}
    return {"north": north / total, "south": south / total}
