"""Carrington synoptic radial-field maps (HMI, MDI, GONG) as checked, labelled xarray Datasets.

Every map is a cylindrical equal-area (CEA) chart: columns uniform in Carrington longitude, rows
uniform in sine latitude. The producers' headers are *not* standard FITS-WCS (Calabretta & Greisen
2002, section 5.5; Thompson 2006), and each needs reading with care before it is trusted:

* JSOC (HMI, MDI) give axis 1 in "Carrington time" ``360 * CR - longitude``: ``CRVAL1 = 360 * CR - 180``
  and ``CDELT1 < 0``, so longitude *increases* with x (sunpy's ``HMISynopticMap`` takes ``|CDELT1|``).
* ``CDELT2`` is a step in sine latitude (``CUNIT2 = 'Sine Latitude'``, or no CUNIT2 at all for GONG),
  whereas standard CEA with ``PV2_1 = 1`` has ``y = (180 / pi) sin(lat)`` in degrees.
* GONG charts start at an arbitrary longitude (``CRVAL1 = 130`` puts x = 0 at 310.5 deg) and wrap.
* Headers in the wild are wrong: a ``CDELT2`` that puts the outer rows past the poles (sunpy's own MDI
  test header: 360 rows of 0.006944 reach ``|sin(lat)| = 1.25``), ``CUNIT1 = 'degreedegree'``,
  full-disk images where a synoptic map was expected.

:func:`validate_header` checks all of this and explains the first problem in one line. The accepted
header is then translated once into standard FITS-WCS (Carrington longitude, ``CDELT2`` in degrees
with ``PV2_1 = 1``) and the pixel-centre coordinates come from ``sunpy.map.GenericMap.pixel_to_world``
(heliographic Carrington frame). We translate instead of relying on sunpy's per-instrument classes
because each patches a different subset of the quirks (and ``GenericMap`` cannot read
``'Sine Latitude'`` at all); the tests check that the result equals sunpy's own ``HMISynopticMap``,
``MDISynopticMap`` and ``GONGSynopticMap`` interpretation of the untouched headers, and the README's
pixel-centre formulas.

Header decisions (documented, tested):

* Only ``CRLN-CEA`` / ``CRLT-CEA`` are accepted. ``HGLN``/``HGLT`` (Stonyhurst) longitudes are fixed to
  the Earth, not to the rotating Sun, so a "synoptic" chart in them is rejected rather than silently
  relabelled; other projections (e.g. ``-CAR``, uniform latitude) are rejected too.
* ``CUNIT2`` in sine-latitude spellings, or absent (NSO/GONG convention), means ``CDELT2`` is a step in
  ``sin(lat)``; ``CUNIT2 = 'deg'`` means standard FITS CEA (``CDELT2`` in degrees of ``(180/pi) sin(lat)``).
* Documented defects of known products (:data:`HEADER_DEFECTS`: the early HMI small synoptic files'
  ``CDELT2 = 0.006944``, ``CUNIT1 = 'degreedegree'``, ``CRPIX1 = 360.0``, and CR 2129-2144's
  ``CRPIX2 = 180.0`` written with that ``CDELT2``), alone or in any combination, are repaired, with one
  warning for the file, when the header and data confirm each of them (the product's standard layout;
  data in the rows the written ``CDELT2`` puts past the poles); ``ObservationsConfig.strict`` refuses
  them. Anything else inconsistent is refused.
* Values with ``|Br|`` above ``ObservationsConfig.max_abs_field_G`` are not solar: a few are masked to
  NaN (one warning), a map with more than ``max_implausible_fraction`` of them is refused.
* A map whose finite pixels are all exactly 0 is an empty fill, not a measurement: refused.
* A map without the heavy-tailed, spatially coherent structure of the solar field (pure noise, a
  constant) is refused (:mod:`pinn.data.structure` states the two tests and their physical thresholds;
  ``ObservationsConfig.check_structure = false`` turns them off for synthetic test patterns).
* The outer pixel *edges* must satisfy ``|sin(lat)| <= 1 + 1e-6 + slack``, where the slack is what the
  printed precision of ``CDELT2`` allows (sunpy's HMI test header prints 0.005556 for 2/360, so 360
  rows reach 1.00008). A grid within that precision of full-sphere coverage is snapped to exactly
  ``2 / NAXIS2``, which is what the producers compute (the real HMI files print 0.0055555555555555558).

Outputs are in Gauss, latitude ascending south to north, longitude ascending in [0, 360).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import xarray as xr
from astropy.io import fits

from pinn.config.schema import ObservationsConfig
from pinn.data.grid import latitude_edges, pixel_solid_angle, row_edges_deg
from pinn.data.structure import field_structure
from pinn.errors import InputError, InputWarning

__all__ = [
    "HEADER_DEFECTS",
    "HeaderDefect",
    "HeaderRepair",
    "InspectResult",
    "check_consecutive",
    "fetch_synoptic",
    "inspect_file",
    "latitude_edges",
    "load_sequence",
    "load_synoptic",
    "pixel_solid_angle",
    "regrid_uniform_latitude",
    "repair_header",
    "row_edges_deg",
    "validate_header",
]

_SINE_UNITS = {"sinelatitude", "sinlatitude", "sinlat", "sin(lat)", "sine", "sin"}
_DEGREE_SPELLINGS = {"deg", "degree", "degrees"}  # case-insensitive; anything else goes to astropy
_EDGE_TOL = 1e-6  # allowed excess of |sin(lat)| at the outer pixel edges, beyond printed precision
_KNOWN_INSTRUMENTS = ("HMI", "MDI", "GONG")
_JSOC_SERIES_ALIASES = {
    "hmi.Synoptic_Mr_small": "hmi.Mrsynop_small_720s",
    "hmi.Synoptic_Mr": "hmi.Synoptic_Mr_720s",
}


# ---------------------------------------------------------------------------------------------
# Header parsing and validation


@dataclass(frozen=True)
class _Grid:
    """The WCS of a validated synoptic header, in standard units (private)."""

    nlon: int
    nlat: int
    lon_ref_deg: float  # Carrington longitude at CRPIX1
    lon_step_deg: float  # per pixel, sign as in the data
    crpix1: float
    sin_step: float  # step in sin(lat) per pixel (exact 2/nlat when snapped)
    crpix2: float
    gauss_per_unit: float  # data * gauss_per_unit = Br in G


def validate_header(header: fits.Header, path: str | os.PathLike) -> None:
    """Check that ``header`` describes a Carrington CEA synoptic map; raise :class:`InputError` if not.

    Checks, in order: NAXIS == 2; CTYPE1/2 == CRLN-CEA/CRLT-CEA (a full-disk HPLN-TAN image is "not a
    synoptic map"); PV2_1 == 1 and CRVAL2 == 0 (reference on the equator); CUNIT1 an angle; CUNIT2 a
    sine-latitude spelling, absent, or 'deg'; the outer pixel edges within ``|sin(lat)| <= 1``; BUNIT
    a magnetic flux density (Mx/cm^2 and G are numerically equal).
    """
    _parse_grid(header, path)


def _parse_grid(header: fits.Header, path: str | os.PathLike) -> _Grid:
    naxis = header.get("NAXIS")
    if naxis != 2:
        raise InputError(path, f"expected a 2-D image, header has NAXIS = {naxis}")
    nlon, nlat = (_int_card(header, k, path) for k in ("NAXIS1", "NAXIS2"))
    if nlon < 2 or nlat < 2:
        raise InputError(path, f"image of {nlon} x {nlat} pixels is too small for a synoptic map")

    ctype1 = str(header.get("CTYPE1", "")).strip().upper()
    ctype2 = str(header.get("CTYPE2", "")).strip().upper()
    if (ctype1, ctype2) != ("CRLN-CEA", "CRLT-CEA"):
        if ctype1.startswith("HGLN") or ctype2.startswith("HGLT"):
            why = "Stonyhurst (HGLN/HGLT) longitudes are not Carrington longitudes"
        elif ctype1.startswith("CRLN") and ctype2.startswith("CRLT"):
            why = "only the CEA projection (rows uniform in sine latitude) is supported"
        else:
            why = "not a synoptic map"
        raise InputError(
            path, f"{why} (CTYPE1={ctype1 or '?'!r}, CTYPE2={ctype2 or '?'!r}; expected CRLN-CEA/CRLT-CEA)"
        )

    pv = header.get("PV2_1", 1.0)
    if not _is_number(pv) or abs(float(pv) - 1.0) > 1e-9:
        raise InputError(path, f"CEA PV2_1 = {pv!r} is not supported (expected 1)")
    crval2 = header.get("CRVAL2", 0.0)
    if not _is_number(crval2) or float(crval2) != 0.0:
        raise InputError(path, f"CRVAL2 = {crval2!r}: the reference latitude must be the equator")

    # Longitude axis.
    deg_per_unit1 = _angle_unit_to_deg(header.get("CUNIT1"), "CUNIT1", path)
    cdelt1 = _float_card(header, "CDELT1", path) * deg_per_unit1
    crval1 = _float_card(header, "CRVAL1", path) * deg_per_unit1
    if cdelt1 == 0.0:
        raise InputError(path, "CDELT1 is zero")
    if abs(crval1) > 360.0:
        # JSOC "Carrington time" t = 360 CR - lon, so lon = -t (mod 360) and the x step flips sign.
        lon_ref, lon_step = (-crval1) % 360.0, -cdelt1
    else:
        lon_ref, lon_step = crval1 % 360.0, cdelt1
    if abs(abs(lon_step) * nlon - 360.0) > 1e-5 * 360.0:  # one full rotation, no repeated column
        raise InputError(
            path, f"CDELT1 = {header['CDELT1']!r} x NAXIS1 = {nlon} does not span 360 deg of longitude"
        )

    # Latitude axis (steps in sine latitude).
    cunit2 = header.get("CUNIT2")
    norm2 = "" if cunit2 is None else re.sub(r"[\s_]", "", str(cunit2)).lower()
    if norm2 in _SINE_UNITS or norm2 == "":
        sin_per_unit2 = 1.0
    else:
        try:
            sin_per_unit2 = _angle_unit_to_deg(cunit2, "CUNIT2", path) * math.pi / 180.0
        except InputError:
            raise InputError(path, f"unknown CUNIT2 {cunit2!r} (expected 'Sine Latitude' or 'deg')") from None
    cdelt2 = _float_card(header, "CDELT2", path)
    sin_step = cdelt2 * sin_per_unit2
    crpix2 = _float_card(header, "CRPIX2", path)
    if sin_step == 0.0:
        raise InputError(path, "CDELT2 is zero")
    slack = min(_printed_half_unit(header, "CDELT2"), 1e-4 * abs(cdelt2)) * sin_per_unit2
    edge = max(abs((0.5 - crpix2) * sin_step), abs((nlat + 0.5 - crpix2) * sin_step))
    tol = _EDGE_TOL + max(abs(0.5 - crpix2), abs(nlat + 0.5 - crpix2)) * slack
    if edge > 1.0 + tol:
        raise InputError(
            path,
            f"CDELT2 = {cdelt2!r} with NAXIS2 = {nlat}, CRPIX2 = {crpix2!r} puts |sin(lat)| past 1 (outer edge {edge:.6g})",
        )
    full_sphere = (
        abs(crpix2 - (nlat + 1) / 2) < 1e-9
        and abs(abs(sin_step) * nlat - 2.0) <= nlat * slack + 2 * _EDGE_TOL
    )
    if full_sphere:
        sin_step = math.copysign(2.0 / nlat, sin_step)

    gauss = _bunit_to_gauss(header.get("BUNIT"), path)
    return _Grid(nlon, nlat, lon_ref, lon_step, _float_card(header, "CRPIX1", path), sin_step, crpix2, gauss)


def _angle_unit_to_deg(value: object, key: str, path: str | os.PathLike) -> float:
    """Degrees per unit of an angle CUNITn card; absent means degrees (the FITS default)."""
    if value is None or str(value).strip() == "":
        return 1.0
    text = str(value).strip()
    if text.lower() in _DEGREE_SPELLINGS:
        return 1.0
    try:
        return float(u.Unit(text).to(u.deg))
    except (ValueError, TypeError, u.UnitsError):
        raise InputError(path, f"unknown {key} {text!r} (expected an angle unit such as 'deg')") from None


def _bunit_to_gauss(value: object, path: str | os.PathLike) -> float:
    """Gauss per unit of BUNIT ('Mx/cm^2', 'Mx cm-2', 'G', 'Gauss' all give 1)."""
    if value is None or str(value).strip() == "":
        raise InputError(path, "no BUNIT in header: the field's unit is unknown")
    text = str(value).strip()
    try:
        unit = u.Unit(text)
    except (ValueError, TypeError):
        raise InputError(path, f"unknown BUNIT {text!r} (expected Mx/cm^2 or G)") from None
    try:
        return float(unit.to(u.G))
    except u.UnitsError:
        raise InputError(
            path, f"BUNIT {text!r} is not a magnetic flux density (expected Mx/cm^2 or G)"
        ) from None


def _printed_half_unit(header: fits.Header, key: str) -> float:
    """Half a unit in the last printed digit of a numeric card (the rounding of the written value)."""
    match = re.match(r"^.{8}=\s*[-+]?(\d*)(?:\.(\d*))?(?:[EeDd]([-+]?\d+))?", header.cards[key].image)
    if match is None:
        return 0.0
    decimals = len(match.group(2) or "")
    return 0.5 * 10.0 ** (int(match.group(3) or 0) - decimals)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _float_card(header: fits.Header, key: str, path: str | os.PathLike) -> float:
    value = header.get(key)
    if not _is_number(value):
        raise InputError(path, f"header card {key} is missing or not a number ({value!r})")
    return float(value)


def _int_card(header: fits.Header, key: str, path: str | os.PathLike) -> int:
    value = header.get(key)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise InputError(path, f"header card {key} is missing or not an integer ({value!r})")
    return int(value)


def _carrington_rotation(header: fits.Header) -> int | None:
    """CR number from CAR_ROT (JSOC, GONG) or CARROT, else from a Carrington-time CRVAL1."""
    for key in ("CAR_ROT", "CARROT"):
        value = header.get(key)
        if _is_number(value) and float(value) == int(value):
            return int(value)
    return _cr_from_carrington_time(header)


def _cr_from_carrington_time(header: fits.Header) -> int | None:
    """CR implied by a JSOC Carrington-time CRVAL1 (t = 360 CR - lon, lon in [0, 360)), else None."""
    crval1 = header.get("CRVAL1")
    if _is_number(crval1) and abs(float(crval1)) > 360.0:
        return math.ceil(float(crval1) / 360.0)
    return None


def _instrument(header: fits.Header) -> str:
    telescop = str(header.get("TELESCOP", "")).strip()
    text = f"{telescop} {header.get('INSTRUME', '')}".upper()
    for name in _KNOWN_INSTRUMENTS:
        if name in text:
            return name
    return telescop or "unknown"


def _iso_utc(header: fits.Header, key: str) -> str | None:
    """ISO UTC string of a time card ('2024.01.18_06:33:10_TAI' and ISO forms), or None if absent/bad."""
    from erfa import ErfaWarning
    from sunpy.time import parse_time

    value = header.get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        with warnings.catch_warnings():
            # some early JSOC stamps have seconds = 60 off a leap second (CR 2145 T_START '..._01:15:60_TAI'):
            # ERFA reads them as the next minute and warns "time is after end of day"
            warnings.filterwarnings("ignore", message=".*after end of day", category=ErfaWarning)
            return parse_time(value.strip()).utc.isot
    except (ValueError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------
# Documented header defects of known products: detected, confirmed by the file, then repaired


@dataclass(frozen=True)
class HeaderDefect:
    """A documented header defect of one product: where it occurs, how the file confirms it, the repair.

    ``present(header)`` is true when the header carries the documented wrong value; ``confirmed(header,
    data)`` checks that the file is the documented product and that its data fit the repaired reading
    (otherwise the file is refused as any other inconsistent file); ``repair(header)`` gives the cards
    to replace. ``source`` says where the defect is documented.
    """

    name: str
    product: str
    description: str
    source: str
    present: Callable[[fits.Header], bool]
    confirmed: Callable[[fits.Header, np.ndarray], bool]
    repair: Callable[[fits.Header], dict[str, object]]


@dataclass(frozen=True)
class HeaderRepair:
    """One card replaced by a :class:`HeaderDefect` repair (original and repaired values)."""

    defect: str
    key: str
    original: object
    repaired: object

    def text(self) -> str:
        return f"{self.key} {self.original!r} -> {self.repaired!r}"


_HMI_SMALL_DEFECT_CRS = (2096, 2180)  # rotations whose files carry the defects (README section 5)
_HMI_SMALL_CDELT2_WRITTEN = 0.006944  # the defective printed CDELT2 (1/144; 360 rows reach |sin| = 1.25)
_HMI_SMALL_CRPIX1 = 360.4  # standard CRPIX1 of the product: lon = 180 + (x + 1 - 360.4) * 0.5 deg (README)
_HMI_SMALL_CRPIX2 = 180.5  # standard CRPIX2: sin(lat) = (y + 1 - 180.5) * 2 / 360 (README)
_HMI_SMALL_CRPIX2_VARIANT_CRS = (2129, 2144)  # rotations whose files also carry CRPIX2 = 180.0 (README section 5)


def _is_hmi_small_synoptic(header: fits.Header) -> bool:
    """The layout of hmi.Synoptic_Mr_small in the documented defective rotations.

    SDO/HMI, 720 x 360 CRLN-CEA/CRLT-CEA, CDELT1 = -0.5 in Carrington time with CRVAL1 = 360 CR - 180,
    rows in sine latitude about CRPIX2 = 180.5, CAR_ROT in CR 2096-2180. In CR 2129-2144 also the
    variant's written reference cards: CRPIX2 = 180.0, and CRVAL1 = 360 CR - 180.25 with CRPIX1 = 360.0.
    """
    cr = header.get("CAR_ROT")
    if not isinstance(cr, int):
        return False
    variant = _HMI_SMALL_CRPIX2_VARIANT_CRS[0] <= cr <= _HMI_SMALL_CRPIX2_VARIANT_CRS[1]
    crval1_ok = header.get("CRVAL1") == 360.0 * cr - 180.0 or (variant and _has_variant_crval1(header))
    cunit2 = re.sub(r"[\s_]", "", str(header.get("CUNIT2", ""))).lower()
    return (
        "SDO/HMI" in str(header.get("TELESCOP", "")).upper()
        and header.get("NAXIS1") == 720
        and header.get("NAXIS2") == 360
        and str(header.get("CTYPE1", "")).strip().upper() == "CRLN-CEA"
        and str(header.get("CTYPE2", "")).strip().upper() == "CRLT-CEA"
        and cunit2 in _SINE_UNITS
        and header.get("CDELT1") == -0.5
        and (header.get("CRPIX2") == _HMI_SMALL_CRPIX2 or (variant and header.get("CRPIX2") == 180.0))
        and _HMI_SMALL_DEFECT_CRS[0] <= cr <= _HMI_SMALL_DEFECT_CRS[1]
        and crval1_ok
    )


def _has_variant_crval1(header: fits.Header) -> bool:
    """CRVAL1 = 360 CR - 180.25 written with CRPIX1 = 360.0 (the CR 2129-2144 headers of CR 2130 and 2144)."""
    cr = header.get("CAR_ROT")
    return isinstance(cr, int) and header.get("CRPIX1") == 360.0 and header.get("CRVAL1") == 360.0 * cr - 180.25


def _standard_longitude_reference(header: fits.Header) -> dict[str, object]:
    """The product's CRPIX1 = 360.4 (and CRVAL1 = 360 CR - 180 where the variant wrote 360 CR - 180.25)."""
    cards: dict[str, object] = {"CRPIX1": _HMI_SMALL_CRPIX1}
    if _has_variant_crval1(header):
        cards["CRVAL1"] = 360.0 * header["CAR_ROT"] - 180.0
    return cards


def _rows_past_poles_are_observed(header: fits.Header, data: np.ndarray) -> bool:
    """The rows that the written CDELT2 puts past the poles hold data (at least half finite).

    A real |sin(lat)| > 1 row cannot be observed, so finite data there show that the written step is
    wrong and the rows fill the sphere; the only such grid of this product is 2 / NAXIS2.
    """
    y = np.arange(data.shape[0])
    past = np.abs((y + 1 - float(header["CRPIX2"])) * float(header["CDELT2"])) > 1.0
    return bool(past.any()) and _finite_fraction(data[past]) >= 0.5


def _cunit1_is_degreedegree(header: fits.Header) -> bool:
    return str(header.get("CUNIT1", "")).strip().lower() == "degreedegree"


def _has_cdelt2_defect(header: fits.Header) -> bool:
    return _is_number(header.get("CDELT2")) and abs(header["CDELT2"] - _HMI_SMALL_CDELT2_WRITTEN) < 5e-7


def _cdelt2_defect_confirmed(header: fits.Header, data: np.ndarray) -> bool:
    """The product's layout, and data in the rows that the written CDELT2 (and CRPIX2) put past the poles."""
    return _is_hmi_small_synoptic(header) and _rows_past_poles_are_observed(header, data)


HEADER_DEFECTS: tuple[HeaderDefect, ...] = (
    HeaderDefect(
        name="hmi-small-cdelt2",
        product="hmi.Synoptic_Mr_small CR 2096-2180",
        description="CDELT2 = 0.006944 (1/144) where the rows are the standard 360 steps of 2/360 in sin(lat)",
        source="../shared/data/raw/README.txt section 5 (every file of CR 2096-2180)",
        present=_has_cdelt2_defect,
        confirmed=_cdelt2_defect_confirmed,
        repair=lambda h: {"CDELT2": 2.0 / 360.0},
    ),
    HeaderDefect(
        name="hmi-small-crpix2",
        product="hmi.Synoptic_Mr_small CR 2129-2144",
        description="CRPIX2 = 180.0 instead of the product's 180.5, written together with CDELT2 = 0.006944",
        source="../shared/data/raw/README.txt section 5 (CR 2129-2144; headers of CR 2130 and 2144)",
        present=lambda h: h.get("CRPIX2") == 180.0,
        # documented only with the CDELT2 defect: the same rows past the poles confirm that the rows are the
        # product's standard 360 (the README checked their latitudes against ARISE); alone it is refused
        confirmed=lambda h, d: _has_cdelt2_defect(h) and _cdelt2_defect_confirmed(h, d),
        repair=lambda h: {"CRPIX2": _HMI_SMALL_CRPIX2},
    ),
    HeaderDefect(
        name="hmi-small-cunit1",
        product="hmi.Synoptic_Mr_small CR 2096-2180",
        description="CUNIT1 = 'degreedegree' for degrees",
        source="../shared/data/raw/README.txt section 5 (CR 2145)",
        present=_cunit1_is_degreedegree,
        # 720 steps of 0.5 span one rotation only if the unit is the degree
        confirmed=lambda h, d: _is_hmi_small_synoptic(h),
        repair=lambda h: {"CUNIT1": "deg"},
    ),
    HeaderDefect(
        name="hmi-small-crpix1",
        product="hmi.Synoptic_Mr_small CR 2096-2180",
        description=(
            "CRPIX1 = 360.0 instead of the product's 360.4 (in CR 2129-2144 written with CRVAL1 = 360 CR - 180.25 "
            "instead of 360 CR - 180: both go to the product's standard columns, lon = 0.30 + 0.5 x deg)"
        ),
        source="../shared/data/raw/README.txt sections 1 and 5 (CR 2100; CR 2130 and 2144 headers)",
        present=lambda h: h.get("CRPIX1") == 360.0,
        confirmed=lambda h, d: _is_hmi_small_synoptic(h),
        repair=_standard_longitude_reference,
    ),
)
"""The documented header defects: anything else inconsistent is refused (:func:`validate_header`)."""


def repair_header(
    header: fits.Header, data: np.ndarray, path: str | os.PathLike, strict: bool = False
) -> tuple[fits.Header, list[HeaderRepair]]:
    """Repair the documented defects of :data:`HEADER_DEFECTS` that ``header`` and ``data`` confirm.

    Returns the (copied) repaired header and what was replaced; the header is returned unchanged when
    nothing applies. With ``strict`` a confirmed defect raises :class:`InputError` instead.
    """
    found = [d for d in HEADER_DEFECTS if d.present(header) and d.confirmed(header, data)]
    if not found:
        return header, []
    if strict:
        names = "; ".join(f"{d.description} ({d.product})" for d in found)
        raise InputError(path, f"known header defect, not repaired because observations.strict is set: {names}")
    fixed = header.copy()
    repairs = []
    for defect in found:
        for key, value in defect.repair(header).items():
            repairs.append(HeaderRepair(defect.name, key, header.get(key), value))
            fixed[key] = value
    return fixed, repairs


# ---------------------------------------------------------------------------------------------
# Reading


def _read_fits(path: str | os.PathLike) -> tuple[fits.Header, np.ndarray]:
    """Header and data (float32, native order) of the first image HDU; InputError for any failure.

    Plain and gzip/bzip2-compressed FITS and tile-compressed image HDUs are read by astropy. A file
    whose data stop short is reported as truncated (astropy's size check); one that only lacks the
    final padding but holds all its data is accepted.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(path, "file not found")
    if not p.is_file():
        raise InputError(path, "not a regular file")
    if p.stat().st_size == 0:
        raise InputError(path, "empty file")
    failure: Exception | None = None
    header, data = None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(p, memmap=False) as hdul:
                hdu = next((h for h in hdul if h.is_image and h.header.get("NAXIS", 0) > 0), None)
                if hdu is not None:
                    header = hdu.header.copy()
                    data = None if hdu.data is None else np.asarray(hdu.data, dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - astropy raises OSError, ValueError, TypeError, ... on corrupt input
            failure = exc
    truncated = next((str(w.message) for w in caught if "truncated" in str(w.message)), None)
    if failure is not None:
        text = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
        if truncated is not None:
            sizes = re.findall(r"\((\d+)\)", truncated)
            detail = f" ({sizes[0]} of {sizes[1]} bytes)" if len(sizes) == 2 else ""
            raise InputError(path, f"truncated FITS file{detail}")
        if "SIMPLE card" in text:
            raise InputError(path, "not a FITS file (no SIMPLE card)")
        if "Empty or corrupt" in text:
            raise InputError(path, "not a FITS file (empty or corrupt)")
        raise InputError(path, f"unreadable FITS file ({type(failure).__name__}: {text})")
    if header is None or data is None:
        raise InputError(path, "no image data in FITS file")
    if data.ndim != 2:
        raise InputError(path, f"expected a 2-D image, got shape {data.shape}")
    return header, data


@contextlib.contextmanager
def _quiet_sunpy() -> Iterator[None]:
    """Silence sunpy's notes that synoptic maps legitimately trigger (no solar radius, no observer)."""
    import sunpy
    from sunpy.util.exceptions import SunpyMetadataWarning

    def keep(record: logging.LogRecord) -> bool:
        return "Missing metadata for solar radius" not in record.getMessage()

    sunpy.log.addFilter(keep)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Missing metadata for", category=SunpyMetadataWarning)
            yield
    finally:
        sunpy.log.removeFilter(keep)


def _standard_header(grid: _Grid, header: fits.Header) -> fits.Header:
    """Standard FITS-WCS CEA header (Carrington longitude; CDELT2 in degrees with PV2_1 = 1)."""
    std = fits.Header()
    std["NAXIS"] = 2
    std["NAXIS1"], std["NAXIS2"] = grid.nlon, grid.nlat
    std["CTYPE1"], std["CTYPE2"] = "CRLN-CEA", "CRLT-CEA"
    std["CUNIT1"], std["CUNIT2"] = "deg", "deg"
    std["CRPIX1"], std["CRPIX2"] = grid.crpix1, grid.crpix2
    std["CRVAL1"], std["CRVAL2"] = grid.lon_ref_deg, 0.0
    std["CDELT1"], std["CDELT2"] = grid.lon_step_deg, grid.sin_step * 180.0 / math.pi
    std["PV2_1"] = 1.0
    std["BUNIT"] = "G"
    for key in ("T_OBS", "T_ROT", "DATE-OBS"):
        date = _iso_utc(header, key)
        if date is not None:
            std["DATE-OBS"] = date
            break
    return std


def _pixel_centres(
    grid: _Grid, header: fits.Header, path: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Carrington longitude [0, 360) of each column and latitude of each row, degrees (via sunpy)."""
    import sunpy.map

    with _quiet_sunpy():
        try:
            smap = sunpy.map.GenericMap(np.zeros((1, 1), np.float32), _standard_header(grid, header))
            x = np.arange(grid.nlon, dtype=float)
            y = np.arange(grid.nlat, dtype=float)
            lon = smap.pixel_to_world(x * u.pix, np.zeros_like(x) * u.pix).lon.to_value(u.deg)
            lat = smap.pixel_to_world(np.zeros_like(y) * u.pix, y * u.pix).lat.to_value(u.deg)
        except Exception as exc:  # noqa: BLE001 - any sunpy/astropy failure becomes a one-line InputError
            raise InputError(
                path, f"sunpy cannot evaluate the map's WCS ({type(exc).__name__}: {exc})"
            ) from None
    lon, lat = np.asarray(lon, float) % 360.0, np.asarray(lat, float)
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        raise InputError(path, "WCS gives non-finite pixel coordinates")
    return lon, lat


def _build_dataset(
    header: fits.Header, data: np.ndarray, path: str | os.PathLike, config: ObservationsConfig
) -> xr.Dataset:
    header, repairs = repair_header(header, data, path, strict=config.strict)
    grid = _parse_grid(header, path)
    if data.shape != (grid.nlat, grid.nlon):
        raise InputError(
            path, f"data shape {data.shape} does not match NAXIS2 x NAXIS1 = {(grid.nlat, grid.nlon)}"
        )
    finite = _finite_fraction(data)
    if finite == 0.0:
        raise InputError(path, "no finite pixels (all-NaN map)")
    if finite < config.min_finite_fraction:
        raise InputError(
            path,
            f"only {100 * finite:.2f} % of pixels are finite (min_finite_fraction = {config.min_finite_fraction})",
        )
    if not np.any(data[np.isfinite(data)]):
        # a measurement always carries noise (HMI: ~3-4 G per pixel); exact zeros everywhere are a fill value
        raise InputError(path, "every finite pixel is exactly 0: an empty (all-zero) map, not a measured field")
    cr = _carrington_rotation(header)
    if cr is None:
        raise InputError(path, "no Carrington rotation number (CAR_ROT) in header")
    implied = _cr_from_carrington_time(header)
    if implied is not None and implied != cr:
        raise InputError(
            path, f"CAR_ROT = {cr} but CRVAL1 = {header['CRVAL1']!r} (Carrington time) is in CR {implied}"
        )

    lon, lat = _pixel_centres(grid, header, path)
    lon_order = np.argsort(lon, kind="stable")
    lat_order = np.argsort(lat, kind="stable")
    lon, lat = lon[lon_order], lat[lat_order]
    if np.any(np.diff(lon) <= 0) or np.any(np.diff(lat) <= 0):
        raise InputError(path, "pixel coordinates repeat: the longitude or latitude axis is degenerate")
    br = data[np.ix_(lat_order, lon_order)] * np.float32(grid.gauss_per_unit)
    n_masked = _mask_implausible(br, path, config)
    if config.check_structure:
        problem = field_structure(br).problem()
        if problem is not None:
            raise InputError(path, problem)

    attrs: dict[str, object] = {"cr": cr, "instrument": _instrument(header)}
    for key, card in (("t_start", "T_START"), ("t_stop", "T_STOP")):
        value = _iso_utc(header, card)
        if value is not None:
            attrs[key] = value
    attrs.update(source=Path(path).name, grid="sine-latitude")
    attrs.update(_repair_attrs(repairs))
    if n_masked:
        attrs.update(masked_implausible_pixels=n_masked, max_abs_field_G=float(config.max_abs_field_G))
    _warn_repaired(path, repairs, n_masked, config)
    ds = xr.Dataset(
        {"Br": (("lat", "lon"), br.astype(np.float32), {"units": "G", "long_name": "radial magnetic field"})},
        coords={
            "lat": (
                "lat",
                lat,
                {"units": "degrees_north", "long_name": "Carrington latitude (pixel centres)"},
            ),
            "lon": (
                "lon",
                lon,
                {"units": "degrees_east", "long_name": "Carrington longitude (pixel centres)"},
            ),
        },
        attrs=attrs,
    )
    if config.regrid == "uniform":
        ds = regrid_uniform_latitude(ds, config.uniform_nlat)
    return ds


def _mask_implausible(br: np.ndarray, path: str | os.PathLike, config: ObservationsConfig) -> int:
    """Set pixels with |Br| > ``config.max_abs_field_G`` (G) to NaN in place; return their count.

    Such values cannot be solar (no photospheric field that strong has been measured), so they are
    fill values or corruption. A map where they exceed ``max_implausible_fraction`` of the finite
    pixels, or any at all with ``config.strict``, is refused: its other values are not to be trusted.
    +-inf are missing data (NaN) as before, not counted.
    """
    finite = np.isfinite(br)
    br[~finite] = np.nan
    bad = np.abs(np.where(finite, br, 0.0)) > config.max_abs_field_G
    n_bad = int(np.count_nonzero(bad))
    if n_bad == 0:
        return 0
    n_valid = int(np.count_nonzero(finite))
    fraction = n_bad / n_valid
    if config.strict or fraction > config.max_implausible_fraction:
        limit = "observations.strict is set" if config.strict else (
            f"more than max_implausible_fraction = {config.max_implausible_fraction:g}"
        )
        raise InputError(
            path,
            f"{n_bad} of {n_valid} pixels ({100 * fraction:.3g} %) have |Br| > {config.max_abs_field_G:g} G, "
            f"physically impossible ({limit})",
        )
    br[bad] = np.nan
    return n_bad


def _repair_attrs(repairs: Sequence[HeaderRepair]) -> dict[str, object]:
    """Dataset attributes recording header repairs: a summary and each card's original and repaired value."""
    if not repairs:
        return {}
    attrs: dict[str, object] = {"header_repairs": "; ".join(f"{r.defect}: {r.text()}" for r in repairs)}
    for r in repairs:
        attrs[f"original_{r.key}"] = r.original
        attrs[f"repaired_{r.key}"] = r.repaired
    return attrs


def _warn_repaired(
    path: str | os.PathLike, repairs: Sequence[HeaderRepair], n_masked: int, config: ObservationsConfig
) -> None:
    """One :class:`InputWarning` naming the file and everything repaired or masked in it."""
    parts = []
    if repairs:
        defects = ", ".join(dict.fromkeys(r.defect for r in repairs))
        parts.append(f"repaired documented header defect ({defects}): " + ", ".join(r.text() for r in repairs))
    if n_masked:
        parts.append(f"masked {n_masked} pixels with |Br| > {config.max_abs_field_G:g} G (physically impossible) to NaN")
    if parts:
        warnings.warn(f"{os.fspath(path)}: {'; '.join(parts)}", InputWarning, stacklevel=2)


def _finite_fraction(data: np.ndarray) -> float:
    return float(np.count_nonzero(np.isfinite(data))) / data.size if data.size else 0.0


def load_synoptic(path: str | os.PathLike, config: ObservationsConfig | None = None) -> xr.Dataset:
    """Read one Carrington synoptic radial-field map.

    Returns a Dataset with ``Br(lat, lon)`` in G (float32, NaN = missing), ``lat`` in degrees (pixel
    centres, ascending south to north; native rows are uniform in sine latitude) and ``lon`` in
    Carrington degrees (pixel centres, ascending in [0, 360)). Attributes: ``cr``, ``instrument``,
    ``t_start``/``t_stop`` (ISO UTC, when in the header), ``source`` (file name) and ``grid``
    (``'sine-latitude'``, or ``'uniform'`` when ``config.regrid == 'uniform'``).
    A documented header defect (:data:`HEADER_DEFECTS`) that the file confirms is repaired, and a few
    physically impossible pixels (``|Br| > config.max_abs_field_G``) are masked to NaN, each with one
    :class:`~pinn.errors.InputWarning` naming the file; the attributes ``header_repairs``,
    ``original_<KEY>``/``repaired_<KEY>`` and ``masked_implausible_pixels`` record what was done.
    ``config.strict`` refuses both instead. Every other problem raises :class:`InputError` naming the file.
    """
    config = config or ObservationsConfig()
    header, data = _read_fits(path)
    return _build_dataset(header, data, path, config)


def load_sequence(paths: Iterable[str | os.PathLike], config: ObservationsConfig | None = None) -> xr.Dataset:
    """Several maps on one grid as ``Br(cr, lat, lon)``, sorted by Carrington rotation.

    Per-rotation coordinates along ``cr``: ``t_start``, ``t_stop`` (datetime64, UTC; NaT when the header
    has none), ``instrument``, ``source``, ``header_repairs`` ('' when none) and ``masked_implausible_pixels``
    (0 when none). Grids must match and rotations must be distinct
    (:class:`InputError` names the offending file). Gaps are allowed here: see :func:`check_consecutive`.
    """
    config = config or ObservationsConfig()
    maps = [load_synoptic(p, config) for p in paths]
    if not maps:
        raise InputError(None, "no synoptic map files given")
    maps.sort(key=lambda ds: ds.attrs["cr"])
    first = maps[0]
    for prev, ds in itertools.pairwise(maps):
        if ds.attrs["cr"] == prev.attrs["cr"]:
            raise InputError(
                ds.attrs["source"], f"rotation CR {ds.attrs['cr']} given twice (also {prev.attrs['source']})"
            )
    for ds in maps[1:]:
        for name in ("lat", "lon"):
            a, b = first[name].values, ds[name].values
            if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-9):
                raise InputError(
                    ds.attrs["source"],
                    f"{name} grid ({b.size} points, {b[0]:.4f}..{b[-1]:.4f}) differs from "
                    f"{first.attrs['source']} ({a.size} points, {a[0]:.4f}..{a[-1]:.4f})",
                )

    def times(key: str) -> np.ndarray:
        return np.array(
            [
                np.datetime64(ds.attrs[key], "ns") if key in ds.attrs else np.datetime64("NaT", "ns")
                for ds in maps
            ]
        )

    br = xr.concat([ds["Br"].assign_coords(lat=first.lat, lon=first.lon) for ds in maps], dim="cr")
    out = xr.Dataset(
        coords={
            "cr": (
                "cr",
                np.array([ds.attrs["cr"] for ds in maps], dtype=np.int64),
                {"long_name": "Carrington rotation"},
            ),
            "t_start": ("cr", times("t_start"), {"long_name": "rotation start (UTC)"}),
            "t_stop": ("cr", times("t_stop"), {"long_name": "rotation stop (UTC)"}),
            "instrument": ("cr", np.array([ds.attrs["instrument"] for ds in maps], dtype=object)),
            "source": ("cr", np.array([ds.attrs["source"] for ds in maps], dtype=object)),
            "header_repairs": ("cr", np.array([ds.attrs.get("header_repairs", "") for ds in maps], dtype=object)),
            "masked_implausible_pixels": (
                "cr",
                np.array([ds.attrs.get("masked_implausible_pixels", 0) for ds in maps], dtype=np.int64),
                {"long_name": "pixels with |Br| > observations.max_abs_field_G masked to NaN"},
            ),
        },
        attrs={"grid": first.attrs["grid"]},
    )
    return out.assign(Br=br.assign_attrs(first["Br"].attrs))


def check_consecutive(crs: Sequence[int]) -> None:
    """Raise :class:`InputError` unless ``crs`` are strictly consecutive rotations (n, n+1, ...)."""
    values = [int(c) for c in crs]
    for a, b in itertools.pairwise(values):
        if b != a + 1:
            if b > a + 1:
                missing = f"CR {a + 1}" if b == a + 2 else f"CR {a + 1}-{b - 1}"
                detail = f"gap between CR {a} and CR {b} (missing {missing})"
            else:
                detail = f"CR {b} follows CR {a} (not increasing by one)"
            raise InputError(None, f"rotations are not consecutive: {detail}")


# ---------------------------------------------------------------------------------------------
# Grid geometry and conservative regridding


def regrid_uniform_latitude(ds: xr.Dataset, nlat: int) -> xr.Dataset:
    """Conservative (flux-preserving, NaN-aware) remap of every ``lat`` variable onto ``nlat`` uniform rows.

    Target rows span [-90, 90] deg with centres ``-90 + (j + 1/2) 180/nlat``. Each target value is the
    area-weighted mean of the source rows it overlaps; area on the sphere is proportional to
    ``d(sin lat)``, so the weights are overlap lengths in sin(lat). NaN source pixels are left out of the
    mean (the value is NaN only where no finite pixel overlaps), so the signed flux ``sum(Br * area)``
    is conserved exactly for finite maps. Works with leading dimensions (e.g. ``cr``).
    """
    if nlat < 1:
        raise ValueError(f"nlat must be positive, got {nlat}")
    src = np.sin(np.deg2rad(latitude_edges(ds)))
    dst_deg = np.linspace(-90.0, 90.0, nlat + 1)
    dst = np.sin(np.deg2rad(dst_deg))
    lo = np.maximum(dst[:-1, None], src[None, :-1])
    hi = np.minimum(dst[1:, None], src[None, 1:])
    weights = xr.DataArray(np.clip(hi - lo, 0.0, None), dims=("lat_new", "lat"))
    centres = 0.5 * (dst_deg[:-1] + dst_deg[1:])

    lat_attrs = dict(ds["lat"].attrs, long_name="Carrington latitude (cell centres, uniform)")
    out = ds.drop_dims("lat").assign_coords(lat=("lat", centres, lat_attrs))
    for name, var in ds.data_vars.items():
        if "lat" in var.dims:
            values = var.astype(np.float64)
            num = xr.dot(weights, values.fillna(0.0), dim="lat")
            den = xr.dot(weights, values.notnull().astype(np.float64), dim="lat")
            new = (num / den.where(den > 0)).rename(lat_new="lat").transpose(*var.dims)
            out[name] = new.assign_coords(lat=out["lat"]).assign_attrs(var.attrs)
    return out[list(ds.data_vars)].assign_attrs(dict(ds.attrs, grid="uniform"))


# ---------------------------------------------------------------------------------------------
# Inspection (never raises for bad files)


@dataclass(frozen=True)
class InspectResult:
    """What ``pinn inspect`` reports for one file; ``verdict`` is 'ok' (then any repairs) or the one-line problem."""

    path: str
    cr: int | None
    instrument: str | None
    shape: tuple[int, int] | None
    units: str | None
    finite_fraction: float | None
    verdict: str
    ok: bool

    def line(self) -> str:
        """One line for the CLI: name, CR, instrument, shape, units, finite %, verdict."""
        shape = "x".join(map(str, self.shape[::-1])) if self.shape else "?"
        finite = f"{100 * self.finite_fraction:.2f}%" if self.finite_fraction is not None else "?"
        cr = self.cr if self.cr is not None else "?"
        return f"{Path(self.path).name}  CR {cr}  {self.instrument or '?'}  {shape}  {self.units or '?'}  finite {finite}  {self.verdict}"


def inspect_file(path: str | os.PathLike, config: ObservationsConfig | None = None) -> InspectResult:
    """Load ``path`` as :func:`load_synoptic` would and report what was found; problems go to ``verdict``.

    A file read after a documented repair or masking is ``ok``, with the repair appended to ``verdict``
    (instead of the warning that :func:`load_synoptic` gives)."""
    config = config or ObservationsConfig()
    found = InspectResult(os.fspath(path), None, None, None, None, None, verdict="ok", ok=True)
    try:
        header, data = _read_fits(path)
        bunit = header.get("BUNIT")
        found = dataclasses.replace(
            found,
            cr=_carrington_rotation(header),
            instrument=_instrument(header),
            shape=(int(data.shape[0]), int(data.shape[1])),
            units=None if bunit is None else str(bunit).strip(),
            finite_fraction=_finite_fraction(data),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InputWarning)
            _build_dataset(header, data, path, config)
    except InputError as exc:
        return dataclasses.replace(found, verdict=exc.problem, ok=False)
    notes = [str(w.message).removeprefix(f"{os.fspath(path)}: ") for w in caught if w.category is InputWarning]
    return dataclasses.replace(found, verdict="; ".join(["ok", *notes]))


# ---------------------------------------------------------------------------------------------
# Optional download (explicit call only; needs sunpy[net] and a JSOC-registered e-mail)


def fetch_synoptic(
    cr_range: Iterable[int],
    out_dir: str | os.PathLike,
    series: str = "hmi.Mrsynop_small_720s",
    email: str | None = None,
) -> list[Path]:
    """Download synoptic maps for the rotations ``cr_range`` (inclusive min..max) from JSOC into ``out_dir``.

    ``series`` is a JSOC series (``hmi.Mrsynop_small_720s`` = the 720x360 files named
    ``hmi.Synoptic_Mr_small.<CR>.fits``; ``hmi.Synoptic_Mr_720s`` = 3600x1440); the file-name stems
    ``hmi.Synoptic_Mr_small`` / ``hmi.Synoptic_Mr`` are accepted as aliases. JSOC requires a registered
    e-mail (``email`` or the ``JSOC_EMAIL`` environment variable). Nothing is downloaded unless called.
    """
    crs = sorted({int(c) for c in cr_range})
    if not crs:
        raise InputError(None, "no Carrington rotations requested")
    email = email or os.environ.get("JSOC_EMAIL")
    if not email:
        raise InputError(None, "JSOC needs a registered e-mail: pass email= or set JSOC_EMAIL")
    try:
        from sunpy.net import Fido
        from sunpy.net import attrs as a
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise InputError(None, f"fetching needs sunpy[net] ({exc})") from None
    series = _JSOC_SERIES_ALIASES.get(series, series)
    query = Fido.search(
        a.jsoc.Series(series), a.jsoc.PrimeKey("CAR_ROT", f"{crs[0]}-{crs[-1]}"), a.jsoc.Notify(email)
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = Fido.fetch(query, path=str(out / "{file}"))
    if getattr(files, "errors", None):
        raise InputError(None, f"JSOC download failed for {len(files.errors)} file(s): {files.errors[0]}")
    return sorted(Path(f) for f in files)
