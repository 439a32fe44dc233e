"""The ARISE active-region table (Wang, Jiang & Luo 2023, 2024): the truth every forecast is scored on.

One row per new AR (repeats removed): Carrington rotation, latitude and longitude (deg), flux (Mx).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pinn.errors import InputError

ARISE_COLUMNS = {
    "CR": "cr",
    "Lat(whole)": "lat",
    "Lon(whole)": "lon",
    "Flux(pos, Mx)": "flux_pos",
    "Flux(neg, Mx)": "flux_neg",
}


def load_arise(path: str | Path) -> pd.DataFrame:
    """Read an ARISE CSV into columns cr, lat, lon (deg, Carrington), flux (|pos| + |neg|, Mx)."""
    path = Path(path)
    try:
        raw = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(path, "ARISE table not found") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, f"not a readable CSV table ({exc.__class__.__name__})") from None
    missing = [c for c in ARISE_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(path, f"not an ARISE table: missing column(s) {', '.join(missing)}")
    table = raw[list(ARISE_COLUMNS)].rename(columns=ARISE_COLUMNS)
    table = table.apply(pd.to_numeric, errors="coerce").dropna(subset=["cr", "lat", "lon"])
    table["cr"] = table["cr"].astype(int)
    table["flux"] = table["flux_pos"].abs() + table["flux_neg"].abs()
    return table[["cr", "lat", "lon", "flux"]].reset_index(drop=True)


def ars_of(table: pd.DataFrame, crs) -> pd.DataFrame:
    """Rows of the given rotation(s)."""
    crs = [crs] if np.isscalar(crs) else list(crs)
    return table[table["cr"].isin(crs)]

