"""Where the bundled real data live (``data/`` at the repository root), overridable by PINN_DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path

from pinn.errors import InputError

DEFAULT_FORECAST_CRS = tuple(range(2276, 2281))  # CR 2276-2280: the PINNBARDS case and its trailing window


def bundled_data_dir() -> Path:
    """The bundled data folder (``$PINN_DATA_DIR`` if set)."""
    env = os.environ.get("PINN_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


def bundled_map(cr: int) -> Path:
    """Path of the bundled HMI small synoptic map of rotation ``cr``."""
    path = bundled_data_dir() / "hmi" / f"hmi.Synoptic_Mr_small.{cr}.fits"
    if not path.exists():
        raise InputError(path, f"bundled map of CR {cr} not found (bundled: CR 2276-2282)")
    return path


def bundled_maps(crs: tuple[int, ...] = DEFAULT_FORECAST_CRS) -> list[Path]:
    return [bundled_map(cr) for cr in crs]


def arise_table(remove_repeats: bool = True) -> Path:
    """The bundled ARISE active-region table (repeats removed by default: the forecast truth)."""
    name = "ARISE_database_remove_repeat_ARs.csv" if remove_repeats else "ARISE_database_allARs.csv"
    path = bundled_data_dir() / "arise" / name
    if not path.exists():
        raise InputError(path, "bundled ARISE table not found")
    return path


def default_forecast_config() -> Path:
    """configs/forecast.yaml beside the package (the quick PINN settings of the README's main job)."""
    return Path(__file__).resolve().parents[1] / "configs" / "forecast.yaml"
