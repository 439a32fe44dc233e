"""The ARISE active-region table (Wang, Jiang & Luo 2023, 2024): the truth every forecast is scored on.

One row per new AR (repeats removed): Carrington rotation, latitude and longitude (deg), flux (Mx).

Every row is validated on load, because a silently dropped or misread AR changes every score:
``CR`` an integer rotation in ``[1, current rotation]`` (Carrington's numbering starts in 1853; no AR can
be listed for a rotation not yet observed), ``Lat(whole)`` a number in [-90, 90] deg, ``Lon(whole)`` a
number in [0, 360] deg, ``Flux(pos, Mx)`` and ``Flux(neg, Mx)`` finite numbers. Rule: a table with any
bad row is refused (:class:`~pinn.errors.InputError`) naming the first bad row (data row, counted from 1
after the header, and its file line), its column and value, and how many rows are bad in all; nothing
is dropped, since the table is the truth and a partial truth scores a forecast wrongly.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pinn.errors import InputError
from pinn.io import file_sha256

ARISE_COLUMNS = {
    "CR": "cr",
    "Lat(whole)": "lat",
    "Lon(whole)": "lon",
    "Flux(pos, Mx)": "flux_pos",
    "Flux(neg, Mx)": "flux_neg",
}
_RANGES = {"Lat(whole)": (-90.0, 90.0), "Lon(whole)": (0.0, 360.0)}  # degrees, inclusive
_CR2280_START = _dt.datetime(2024, 1, 18, 6, 32, 33, tzinfo=_dt.UTC)  # HMI T_START of CR 2280, UTC
_CARRINGTON_SYNODIC_DAYS = 27.2753  # mean synodic Carrington period


def current_rotation(now: _dt.datetime | None = None) -> int:
    """The Carrington rotation in progress at ``now`` (UTC; default: the clock), from CR 2280's start and
    the mean synodic period (good to a day or so, ample for a plausibility bound)."""
    now = now or _dt.datetime.now(_dt.UTC)
    elapsed_days = (now - _CR2280_START).total_seconds() / 86400.0
    return 2280 + math.floor(elapsed_days / _CARRINGTON_SYNODIC_DAYS)


def load_arise(path: str | Path, max_cr: int | None = None) -> pd.DataFrame:
    """Read an ARISE CSV into columns cr, lat, lon (deg, Carrington), flux (|pos| + |neg|, Mx).

    Every row is validated (module docstring): a bad row refuses the table with one line naming it.
    ``max_cr``: the latest plausible rotation (default :func:`current_rotation`).
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(path, "ARISE table not found") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, f"not a readable CSV table ({exc.__class__.__name__})") from None
    missing = [c for c in ARISE_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(path, f"not an ARISE table: missing column(s) {', '.join(missing)}")
    text = raw[list(ARISE_COLUMNS)]
    values = text.apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce").astype(float))
    problems = _row_problems(text, values, current_rotation() if max_cr is None else max_cr)
    if problems:
        row, column, why = problems[0]
        raise InputError(
            path,
            f"bad ARISE row: data row {row + 1} (file line {row + 2}), column {column!r}: {why} "
            f"({len(problems)} bad row(s) in all; the table is refused, not filtered)",
        )
    table = values.rename(columns=ARISE_COLUMNS)
    table["cr"] = table["cr"].astype(int)
    table["flux"] = table["flux_pos"].abs() + table["flux_neg"].abs()
    return table[["cr", "lat", "lon", "flux"]].reset_index(drop=True)


def _row_problems(text: pd.DataFrame, values: pd.DataFrame, max_cr: int) -> list[tuple[int, str, str]]:
    """(row index, column, why) of the first problem of each bad row, in file order."""
    bad = pd.DataFrame(False, index=values.index, columns=values.columns)
    why = pd.DataFrame("", index=values.index, columns=values.columns)
    for column in values.columns:
        number = values[column]
        shown = text[column].map(repr)
        not_number = ~np.isfinite(number.to_numpy(dtype=float))
        why[column] = np.where(not_number, shown + " is not a number", "")
        bad[column] = not_number
        if column == "CR":
            not_int = ~not_number & (number % 1 != 0)
            out = ~not_number & ~not_int & ((number < 1) | (number > max_cr))
            why[column] = np.where(not_int, shown + " is not an integer rotation", why[column])
            why[column] = np.where(out, shown + f" is outside the plausible rotations 1..{max_cr}", why[column])
            bad[column] |= not_int | out
        elif column in _RANGES:
            lo, hi = _RANGES[column]
            out = ~not_number & ((number < lo) | (number > hi))
            why[column] = np.where(out, shown + f" is outside [{lo:g}, {hi:g}] deg", why[column])
            bad[column] |= out
    rows = np.flatnonzero(bad.to_numpy().any(axis=1))
    return [
        (int(r), column := str(bad.columns[bad.iloc[r].to_numpy().argmax()]), str(why.iloc[r][column]))
        for r in rows
    ]


def table_record(path: str | Path) -> dict[str, str]:
    """Which ARISE table was used: its absolute path and the sha256 of its bytes (hex)."""
    path = Path(path)
    return {"path": str(path.resolve()), "sha256": file_sha256(path)}


def ars_of(table: pd.DataFrame, crs) -> pd.DataFrame:
    """Rows of the given rotation(s)."""
    crs = [crs] if np.isscalar(crs) else list(crs)
    return table[table["cr"].isin(crs)]
