"""The real data and default configuration that ship inside the package (``pinn/data/files``,
``pinn/config/forecast.yaml``), so an installed wheel runs the main job with no checkout.

``$PINN_DATA_DIR`` replaces the bundled data folder (same layout: ``hmi/``, ``arise/``).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from pinn.errors import InputError

DEFAULT_FORECAST_CRS = tuple(range(2276, 2281))  # CR 2276-2280: the PINNBARDS case and its trailing window


def bundled_data_dir() -> Path:
    """The bundled data folder (``$PINN_DATA_DIR`` if set)."""
    env = os.environ.get("PINN_DATA_DIR")
    return Path(env) if env else Path(str(files("pinn.data") / "files"))


def bundled_map(cr: int) -> Path:
    """Path of the bundled HMI small synoptic map of rotation ``cr``."""
    path = bundled_data_dir() / "hmi" / f"hmi.Synoptic_Mr_small.{cr}.fits"
    if not path.exists():
        raise InputError(path, f"bundled map of CR {cr} not found (bundled: CR 2276-2282)")
    return path


def bundled_maps(crs: tuple[int, ...] = DEFAULT_FORECAST_CRS) -> list[Path]:
    """Paths of the bundled maps of rotations ``crs`` (default CR 2276-2280, the main job's window)."""
    return [bundled_map(cr) for cr in crs]


def arise_table(remove_repeats: bool = True) -> Path:
    """The bundled ARISE active-region table (repeats removed by default: the forecast truth)."""
    name = "ARISE_database_remove_repeat_ARs.csv" if remove_repeats else "ARISE_database_allARs.csv"
    path = bundled_data_dir() / "arise" / name
    if not path.exists():
        raise InputError(path, "bundled ARISE table not found")
    return path


def default_forecast_config() -> Path:
    """The main job's configuration, ``pinn/config/forecast.yaml`` (quick PINN settings, the hybrid's fit)."""
    return Path(str(files("pinn.config") / "forecast.yaml"))
