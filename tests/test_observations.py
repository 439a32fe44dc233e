"""Reading synoptic magnetograms: real HMI maps, instrument header fixtures, bad files, regridding."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

from pinn.config.schema import ObservationsConfig
from pinn.data.observations import (
    InspectResult,
    check_consecutive,
    fetch_synoptic,
    inspect_file,
    latitude_edges,
    load_sequence,
    load_synoptic,
    pixel_solid_angle,
    regrid_uniform_latitude,
    validate_header,
)
from pinn.data.structure import MIN_COHERENCE, MIN_STRONG_FRACTION, field_structure
from pinn.errors import InputError, InputWarning
from pinn.toroids.fit import HemisphereToroid
from pinn.toroids.synthetic import synthetic_map

REPO = Path(__file__).resolve().parents[1]
RAW = REPO.parent / "shared" / "data" / "raw"  # shared data beside the repository (CI: ../shared)
HMI_DIRS = (REPO / "pinn" / "data" / "files" / "hmi", RAW / "hmi_synoptic_mr_small")
FIXTURES = RAW / "header_fixtures"
# geometry and unit tests write placeholder patterns (ones, ramps), not magnetograms: no structure check
GEOMETRY_ONLY = ObservationsConfig(check_structure=False)


NORTH = HemisphereToroid(lat0_deg=15.0, width_deg=5.0, amplitudes_deg=(), phases_deg=(), sign=-1)
SOUTH = HemisphereToroid(lat0_deg=-15.0, width_deg=5.0, amplitudes_deg=(), phases_deg=(), sign=1)


def hmi_map(cr: int) -> Path:
    """Path of the real HMI small synoptic map of rotation ``cr`` (repo data first, then ../shared)."""
    for folder in HMI_DIRS:
        path = folder / f"hmi.Synoptic_Mr_small.{cr}.fits"
        if path.is_file():
            return path
    pytest.skip(f"real HMI map for CR {cr} not found in {', '.join(map(str, HMI_DIRS))}")


def fixture_header(name: str) -> fits.Header:
    """A header from ../shared/data/raw/header_fixtures (skips when the shared data are absent)."""
    path = FIXTURES / f"{name}_synoptic.header"
    if not path.is_file():
        pytest.skip(f"header fixture {path} not found (needs ../shared/data/raw)")
    header = fits.Header.fromtextfile(path)
    for key in ("CHECKSUM", "DATASUM"):  # stale once the data are replaced
        header.remove(key, ignore_missing=True)
    return header


def write_fits(path: Path, header: fits.Header, data: np.ndarray | None = None) -> Path:
    """Write ``data`` (default: ones of the header's shape) with ``header`` as a primary HDU."""
    if data is None:
        data = np.ones((header["NAXIS2"], header["NAXIS1"]), np.float32)
    fits.PrimaryHDU(data, header).writeto(path, overwrite=True)
    return path


def header_lon_sinlat(header: fits.Header) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre longitude and sin(lat) straight from a header (no sunpy): the README formulas."""
    x = np.arange(header["NAXIS1"])
    y = np.arange(header["NAXIS2"])
    crval1 = header["CRVAL1"]
    if abs(crval1) > 360:  # JSOC Carrington time: longitude increases with x although CDELT1 < 0
        lon = (-crval1 - (x + 1 - header["CRPIX1"]) * header["CDELT1"]) % 360
    else:
        lon = (crval1 + (x + 1 - header["CRPIX1"]) * header["CDELT1"]) % 360
    sinlat = (y + 1 - header["CRPIX2"]) * (2.0 / header["NAXIS2"])
    return lon, sinlat


# ---------------------------------------------------------------------------------------------
# Real HMI map (README: CR 2280, 720x360, NaN 0.72 %, T_START 2024.01.18_06:33:10_TAI)


def test_real_hmi_map_coordinates_units_and_metadata():
    path = hmi_map(2280)
    ds = load_synoptic(path)
    assert ds["Br"].dims == ("lat", "lon")
    assert ds["Br"].shape == (360, 720)
    assert ds["Br"].attrs["units"] == "G"
    assert ds["lon"].values[0] == pytest.approx(0.30, abs=1e-9)
    assert ds["lon"].values[-1] == pytest.approx(359.80, abs=1e-9)
    assert ds["lat"].values[0] == pytest.approx(-85.73, abs=0.01)
    assert ds["lat"].values[-1] == pytest.approx(85.73, abs=0.01)
    assert np.all(np.diff(ds["lat"].values) > 0) and np.all(np.diff(ds["lon"].values) > 0)
    # README pixel centres: lon = 180 + (x + 1 - 360.4) * 0.5, sin(lat) = (y + 1 - 180.5) * 2 / 360
    x, y = np.arange(720), np.arange(360)
    np.testing.assert_allclose(ds["lon"].values, 180 + (x + 1 - 360.4) * 0.5, atol=1e-9)
    np.testing.assert_allclose(np.sin(np.deg2rad(ds["lat"].values)), (y + 1 - 180.5) * 2 / 360, atol=1e-12)
    assert ds.attrs["cr"] == 2280 and ds.attrs["instrument"] == "HMI"
    assert ds.attrs["grid"] == "sine-latitude" and ds.attrs["source"] == path.name
    # 2024-01-18 06:33:10 TAI = 06:32:33 UTC (TAI - UTC = 37 s)
    assert ds.attrs["t_start"] == "2024-01-18T06:32:33.000"
    assert ds.attrs["t_stop"] == "2024-02-14T14:44:44.000"
    finite = float(ds["Br"].notnull().mean())
    assert abs((1 - finite) * 100 - 0.72) < 0.01  # README NaN % for CR 2280
    # Mx/cm^2 is numerically G: extremes equal the header's DATAMIN/DATAMAX
    header = fits.getheader(path)
    assert float(ds["Br"].max()) == pytest.approx(header["DATAMAX"], rel=1e-6)
    assert float(ds["Br"].min()) == pytest.approx(header["DATAMIN"], rel=1e-6)


@pytest.mark.filterwarnings("ignore:Missing metadata for observer")
def test_real_hmi_map_matches_sunpy_hmisynopticmap_and_raw_pixels():
    """Our translated WCS equals sunpy's own HMISynopticMap reading of the untouched file."""
    import astropy.units as u
    import sunpy.map

    path = hmi_map(2280)
    ds = load_synoptic(path)
    smap = sunpy.map.Map(path)
    assert type(smap).__name__ == "HMISynopticMap"
    lon = smap.pixel_to_world(np.arange(720) * u.pix, np.zeros(720) * u.pix).lon.to_value(u.deg)
    lat = smap.pixel_to_world(np.zeros(360) * u.pix, np.arange(360) * u.pix).lat.to_value(u.deg)
    np.testing.assert_allclose(ds["lon"].values, lon, atol=1e-9)
    np.testing.assert_allclose(ds["lat"].values, lat, atol=1e-9)
    np.testing.assert_array_equal(ds["Br"].values, smap.data.astype(np.float32))  # no reordering for HMI


def test_inspect_real_map_is_ok():
    result = inspect_file(hmi_map(2280))
    assert isinstance(result, InspectResult)
    assert result.ok and result.verdict == "ok"
    assert (result.cr, result.instrument, result.shape, result.units) == (2280, "HMI", (360, 720), "Mx/cm^2")
    assert result.finite_fraction == pytest.approx(1 - 0.0072, abs=1e-4)
    assert "CR 2280" in result.line() and result.line().endswith("ok")


# ---------------------------------------------------------------------------------------------
# Other instruments: headers from sunpy's test data with synthetic data


def test_gong_fixture_rolls_longitude_and_keeps_gauss(tmp_path):
    header = fixture_header("gong")
    lon_hdr, sin_hdr = header_lon_sinlat(header)
    assert lon_hdr[0] == pytest.approx(310.5)  # GONG charts start at LONG0 = 310 and wrap
    data = (lon_hdr[None, :] + 1000 * sin_hdr[:, None]).astype(np.float32)  # encodes each pixel's position
    ds = load_synoptic(write_fits(tmp_path / "gong.fits", header, data), GEOMETRY_ONLY)
    assert ds["Br"].shape == (180, 360)
    assert ds.attrs["instrument"] == "GONG" and ds.attrs["cr"] == 2276 and ds["Br"].attrs["units"] == "G"
    assert "t_start" not in ds.attrs  # GONG headers carry no rotation start/stop
    np.testing.assert_allclose(ds["lon"].values, np.arange(360) + 0.5, atol=1e-9)
    # 180 rows uniform in sine latitude: first centre at sin(lat) = -89.5/90
    assert ds["lat"].values[0] == pytest.approx(-math.degrees(math.asin(89.5 / 90)), abs=1e-9)
    assert ds["lat"].values[0] == pytest.approx(-83.948, abs=0.01)
    # each pixel landed where its encoded position says (to float32 precision)
    expected = ds["lon"].values[None, :] + 1000 * np.sin(np.deg2rad(ds["lat"].values))[:, None]
    np.testing.assert_allclose(ds["Br"].values, expected, atol=1e-3)


def test_gong_fixture_agrees_with_sunpy_gongsynopticmap(tmp_path):
    import astropy.units as u
    import sunpy.map

    header = fixture_header("gong")
    path = write_fits(tmp_path / "gong.fits", header)
    ds = load_synoptic(path, GEOMETRY_ONLY)
    smap = sunpy.map.Map(path)
    assert type(smap).__name__ == "GONGSynopticMap"
    lon = smap.pixel_to_world(np.arange(360) * u.pix, np.zeros(360) * u.pix).lon.to_value(u.deg)
    lat = smap.pixel_to_world(np.zeros(180) * u.pix, np.arange(180) * u.pix).lat.to_value(u.deg)
    np.testing.assert_allclose(ds["lon"].values, np.sort(lon % 360), atol=1e-9)
    # sunpy uses the printed CDELT2 = 0.0111111; we snap to exactly 2/180 (differs by < 1e-3 deg)
    np.testing.assert_allclose(ds["lat"].values, lat, atol=1e-3)


@pytest.mark.filterwarnings("ignore:Missing metadata for observer")
def test_mdi_fixture_header_is_rejected_and_corrected_one_loads(tmp_path):
    header = fixture_header("mdi")
    # sunpy's MDI header: 360 rows of CDELT2 = 0.006944 reach |sin(lat)| = 1.25
    bad = write_fits(tmp_path / "mdi_bad.fits", header)
    with pytest.raises(InputError, match=r"CDELT2 .* puts \|sin\(lat\)\| past 1") as info:
        load_synoptic(bad)
    assert "mdi_bad.fits" in str(info.value)

    header["CDELT2"] = 2 / 360
    data = (np.arange(720)[None, :] * np.ones((360, 1))).astype(np.float32)
    data *= 1e-4  # in Mx/cm^2 -> same numbers in G
    ds = load_synoptic(write_fits(tmp_path / "mdi.fits", header, data), GEOMETRY_ONLY)
    assert ds.attrs["instrument"] == "MDI" and ds.attrs["cr"] == 2099
    assert ds["Br"].attrs["units"] == "G"
    assert ds["lon"].values[0] == pytest.approx(0.30) and ds["lon"].values[-1] == pytest.approx(359.80)
    assert ds["lat"].values[0] == pytest.approx(-85.73, abs=0.01)
    assert ds.attrs["t_start"] == "2010-07-13T09:38:04.000"  # 09:38:38 TAI, TAI - UTC = 34 s in 2010
    np.testing.assert_allclose(ds["Br"].values[0], 1e-4 * np.arange(720), rtol=1e-6)  # x increases with lon

    import astropy.units as u
    import sunpy.map

    smap = sunpy.map.Map(tmp_path / "mdi.fits")
    assert type(smap).__name__ == "MDISynopticMap"
    lon = smap.pixel_to_world(np.arange(720) * u.pix, np.zeros(720) * u.pix).lon.to_value(u.deg)
    lat = smap.pixel_to_world(np.zeros(360) * u.pix, np.arange(360) * u.pix).lat.to_value(u.deg)
    np.testing.assert_allclose(ds["lon"].values, lon, atol=1e-9)
    np.testing.assert_allclose(ds["lat"].values, lat, atol=1e-9)


def test_hmi_fixture_with_rounded_cdelt2_is_snapped_to_equal_area_rows(tmp_path):
    header = fixture_header("hmi")
    assert (
        header.cards["CDELT2"].image.split("=")[1].split("/")[0].strip() == "0.005556"
    )  # 180 x 0.005556 = 1.00008
    ds = load_synoptic(write_fits(tmp_path / "hmi2210.fits", header), GEOMETRY_ONLY)
    y = np.arange(360)
    np.testing.assert_allclose(np.sin(np.deg2rad(ds["lat"].values)), (y + 0.5 - 180) / 180, atol=1e-12)
    assert ds.attrs["cr"] == 2210


def test_unit_spellings_are_equivalent(tmp_path):
    header = fixture_header("gong")
    ref = None
    for i, bunit in enumerate(["Gauss", "G", "Mx/cm^2", "Mx cm-2", "mT"]):
        header["BUNIT"] = bunit
        ds = load_synoptic(write_fits(tmp_path / f"u{i}.fits", header), GEOMETRY_ONLY)
        value = float(ds["Br"].values[0, 0])
        ref = value if ref is None else ref
        assert value == pytest.approx(10.0 if bunit == "mT" else 1.0), bunit


# ---------------------------------------------------------------------------------------------
# Documented header defects of the early HMI small synoptic files (README section 5): repaired


def small_header(cr: int) -> fits.Header:
    """The real header of hmi.Synoptic_Mr_small.<cr>.fits (header_fixtures), without stale checksums."""
    path = FIXTURES / f"hmi_synoptic_small_cr{cr}.header"
    if not path.is_file():
        pytest.skip(f"header fixture {path} not found (needs ../shared/data/raw)")
    header = fits.Header.fromtextfile(path)
    for key in ("CHECKSUM", "DATASUM"):
        header.remove(key, ignore_missing=True)
    return header


def small_data(seed: int = 0) -> np.ndarray:
    """Synthetic 360 x 720 map of the product's shape (ARs, network, noise; pinn.toroids.synthetic), NaN in
    the two polar rows (as real files)."""
    data = synthetic_map(NORTH, SOUTH, n_regions=30, seed=seed)["Br"].values.astype(np.float32)
    data[[0, -1]] = np.nan
    return data


def load_one_warning(path: Path, config: ObservationsConfig | None = None) -> tuple[xr.Dataset, str]:
    with pytest.warns(InputWarning) as caught:
        ds = load_synoptic(path, config)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1, messages
    return ds, messages[0]


REPAIRS = {
    2100: {"CDELT2": (0.006944, 2 / 360), "CRPIX1": (360.0, 360.4)},
    2145: {"CDELT2": (0.006944, 2 / 360), "CUNIT1": ("degreedegree", "deg")},
    # the CR 2129-2144 variant: CRPIX2 = 180.0 with the CDELT2 defect (and CRPIX1, CUNIT1 in combination)
    # with CRVAL1 = 360 CR - 180.25 (not 360 CR - 180) written beside CRPIX1 = 360.0
    2130: {
        "CDELT2": (0.006944, 2 / 360),
        "CRPIX2": (180.0, 180.5),
        "CRPIX1": (360.0, 360.4),
        "CRVAL1": (766619.75, 766620.0),
    },
    2144: {
        "CDELT2": (0.006944, 2 / 360),
        "CRPIX2": (180.0, 180.5),
        "CRPIX1": (360.0, 360.4),
        "CRVAL1": (771659.75, 771660.0),
        "CUNIT1": ("degreedegree", "deg"),
    },
}


@pytest.mark.parametrize("cr", sorted(REPAIRS))
def test_documented_hmi_small_defects_are_repaired_with_one_warning(cr, tmp_path):
    header = small_header(cr)
    for key, (original, _) in REPAIRS[cr].items():
        assert header[key] == original
    path = write_fits(tmp_path / f"hmi.Synoptic_Mr_small.{cr}.fits", header, small_data())
    ds, message = load_one_warning(path)
    assert path.name in message and "hmi-small-cdelt2" in message and "0.006944 -> 0.00555" in message
    for key, (original, repaired) in REPAIRS[cr].items():
        assert key in message
        assert ds.attrs[f"original_{key}"] == original and ds.attrs[f"repaired_{key}"] == pytest.approx(repaired)
    assert "CDELT2" in ds.attrs["header_repairs"]
    assert ds.attrs["cr"] == cr

    clean = load_synoptic(hmi_map(2280))  # a clean file of the same product
    np.testing.assert_allclose(ds["lat"].values, clean["lat"].values, atol=1e-12)
    np.testing.assert_allclose(ds["lon"].values, clean["lon"].values, atol=1e-9)
    repaired = header.copy()
    repaired.update({k: v for k, (_, v) in REPAIRS[cr].items()})
    lon, sinlat = header_lon_sinlat(repaired)
    np.testing.assert_allclose(np.sin(np.deg2rad(ds["lat"].values)), sinlat, atol=1e-12)  # README formulas
    np.testing.assert_allclose(ds["lon"].values, np.sort(lon), atol=1e-9)
    np.testing.assert_array_equal(ds["Br"].values, small_data())  # data untouched, rows in file order

    result = inspect_file(path)
    assert result.ok and result.verdict.startswith("ok; repaired documented header defect") and "CDELT2" in result.verdict


@pytest.mark.parametrize("cr", sorted(REPAIRS))
def test_strict_refuses_documented_defects(cr, tmp_path):
    path = write_fits(tmp_path / f"small{cr}.fits", small_header(cr), small_data())
    with pytest.raises(InputError, match="known header defect.*observations.strict") as info:
        load_synoptic(path, ObservationsConfig(strict=True))
    assert path.name in str(info.value) and "\n" not in str(info.value)
    assert not inspect_file(path, ObservationsConfig(strict=True)).ok


@pytest.mark.parametrize("change", ["cr_outside_range", "other_cdelt2", "past_pole_rows_empty", "mdi_header"])
def test_undocumented_or_unconfirmed_cdelt2_is_still_refused(change, tmp_path):
    header, data = small_header(2100), small_data()
    if change == "cr_outside_range":  # the defect is documented for CR 2096-2180 only
        header["CAR_ROT"], header["CRVAL1"] = 2250, 2250 * 360.0 - 180.0
    elif change == "other_cdelt2":
        header["CDELT2"] = 0.00700
    elif change == "past_pole_rows_empty":  # the data do not fill the rows the written CDELT2 puts past the poles
        data[:40] = np.nan
        data[-40:] = np.nan
    else:  # SOHO/MDI, same layout and the same CDELT2 (sunpy's fixture): not documented, not repaired
        header = fixture_header("mdi")
        assert header["CDELT2"] == 0.006944
    path = write_fits(tmp_path / f"{change}.fits", header, data)
    with pytest.raises(InputError, match=r"puts \|sin\(lat\)\| past 1") as info:
        load_synoptic(path)
    assert path.name in str(info.value)


@pytest.mark.parametrize(
    "change", ["crpix2_alone", "cr_outside_variant", "crval1_outside_variant", "past_pole_rows_empty", "crpix2_other"]
)
def test_crpix2_variant_is_repaired_only_where_documented_and_confirmed(change, tmp_path):
    """CRPIX2 = 180.0 is documented for CR 2129-2144 with CDELT2 = 0.006944 only; otherwise refused as before."""
    header, data = small_header(2130), small_data()
    if change == "crpix2_alone":  # a correct CDELT2: the half-pixel shift is not the documented combination
        header["CDELT2"] = 2 / 360
    elif change == "cr_outside_variant":  # CR 2100 carries the CDELT2 defect, not the CRPIX2 variant
        header = small_header(2100)
        header["CRPIX2"] = 180.0
    elif change == "crval1_outside_variant":  # CRVAL1 = 360 CR - 180.25 is documented for CR 2129-2144 only
        header = small_header(2100)
        header["CRVAL1"] = 2100 * 360.0 - 180.25
    elif change == "past_pole_rows_empty":  # the data do not confirm rows past the written poles
        data[:40] = np.nan
        data[-40:] = np.nan
    else:
        header["CRPIX2"] = 179.0
    path = write_fits(tmp_path / f"{change}.fits", header, data)
    with pytest.raises(InputError, match=r"puts \|sin\(lat\)\| past 1") as info:
        load_synoptic(path)
    assert path.name in str(info.value) and "\n" not in str(info.value)


def test_degreedegree_is_refused_outside_the_documented_product(tmp_path):
    header = fixture_header("hmi")  # CR 2210: a clean rotation of the product
    header["CUNIT1"] = "degreedegree"
    with pytest.raises(InputError, match="unknown CUNIT1 'degreedegree'"):
        load_synoptic(write_fits(tmp_path / "h.fits", header))


# ---------------------------------------------------------------------------------------------
# Physically impossible values: a few are masked with a warning, a map made of them is refused


def test_a_few_impossible_pixels_are_masked_with_one_warning(tmp_path):
    header, data = fixture_header("hmi"), small_data()
    data[100, 200:205] = 1e30
    data[250, 10] = -2e4
    path = write_fits(tmp_path / "spikes.fits", header, data)
    ds, message = load_one_warning(path)
    assert path.name in message and "masked 6 pixels" in message and "10000 G" in message
    assert ds.attrs["masked_implausible_pixels"] == 6
    br = ds["Br"].values
    assert np.isnan(br[100, 200:205]).all() and np.isnan(br[250, 10])
    assert np.nanmax(np.abs(br)) < 1e4
    np.testing.assert_array_equal(np.isnan(br), np.isnan(data) | (np.abs(np.nan_to_num(data)) > 1e4))
    with pytest.raises(InputError, match="physically impossible .*strict"):
        load_synoptic(path, ObservationsConfig(strict=True))
    assert inspect_file(path).verdict == "ok; masked 6 pixels with |Br| > 10000 G (physically impossible) to NaN"


@pytest.mark.parametrize("fraction", [1.0, 0.05])
def test_mostly_impossible_map_is_refused(fraction, tmp_path):
    data = small_data()
    data[: int(fraction * 360)] = 1e30
    path = write_fits(tmp_path / "huge.fits", fixture_header("hmi"), data)
    with pytest.raises(InputError, match=r"have \|Br\| > 10000 G, physically impossible") as info:
        load_synoptic(path)
    assert path.name in str(info.value) and "max_implausible_fraction" in str(info.value)
    assert not inspect_file(path).ok


def test_plausibility_bound_is_above_every_real_map():
    ds = load_synoptic(hmi_map(2280))
    assert "masked_implausible_pixels" not in ds.attrs
    assert float(np.nanmax(np.abs(ds["Br"].values))) < ObservationsConfig().max_abs_field_G / 2


# ---------------------------------------------------------------------------------------------
# Bad inputs: one-line InputError naming the file; inspect_file reports instead of raising


def _full_disk_header() -> fits.Header:
    header = fits.Header()
    for key, value in {
        "NAXIS": 2,
        "NAXIS1": 64,
        "NAXIS2": 64,
        "CTYPE1": "HPLN-TAN",
        "CTYPE2": "HPLT-TAN",
        "CUNIT1": "arcsec",
        "CUNIT2": "arcsec",
        "CDELT1": 32.0,
        "CDELT2": 32.0,
        "CRPIX1": 32.5,
        "CRPIX2": 32.5,
        "CRVAL1": 0.0,
        "CRVAL2": 0.0,
        "BUNIT": "G",
        "TELESCOP": "SDO/HMI",
        "DATE-OBS": "2024-02-01T00:00:00",
    }.items():
        header[key] = value
    return header


def _make_bad(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.fits"
    if kind == "missing":
        return path
    if kind == "truncated":
        raw = hmi_map(2280).read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
        return path
    if kind == "empty":
        path.touch()
        return path
    if kind == "text":
        path.write_text("CR,lat,lon\n2280,10,20\n")
        return path
    if kind == "full_disk":
        return write_fits(path, _full_disk_header())
    if kind == "car_rot":
        header = fixture_header("hmi")
        header["CAR_ROT"] = 2209  # CRVAL1 = 795420 is Carrington time of CR 2210
        return write_fits(path, header)
    header = fixture_header("gong")
    data = np.ones((180, 360), np.float32)
    if kind == "all_nan":
        data[:] = np.nan
    elif kind == "all_zero":
        data[:] = 0.0
        data[[0, -1]] = np.nan  # missing polar rows as in real files: the finite rest is all zero
    elif kind == "mostly_nan":
        data[:120] = np.nan  # 33 % finite < min_finite_fraction = 0.5
    elif kind == "cdelt2":
        header["CDELT2"] = 1.02 * 2 / 180
    elif kind == "cunit1":
        header["CUNIT1"] = "degreedegree"
    elif kind == "bunit":
        header["BUNIT"] = "DN/s"
    elif kind == "stonyhurst":
        header["CTYPE1"], header["CTYPE2"] = "HGLN-CEA", "HGLT-CEA"
    return write_fits(path, header, data)


BAD_CASES = {
    "missing": "file not found",
    "truncated": "truncated FITS file",
    "empty": "empty file",
    "text": "not a FITS file",
    "full_disk": "not a synoptic map",
    "all_nan": "all-NaN",
    "all_zero": "every finite pixel is exactly 0: an empty (all-zero) map",
    "mostly_nan": "min_finite_fraction",
    "cdelt2": "puts |sin(lat)| past 1",
    "cunit1": "unknown CUNIT1 'degreedegree'",
    "bunit": "BUNIT 'DN/s'",
    "car_rot": "CAR_ROT = 2209 but CRVAL1",
    "stonyhurst": "Stonyhurst",
}


@pytest.mark.parametrize("kind", sorted(BAD_CASES))
def test_bad_file_raises_one_line_input_error(kind, tmp_path):
    path = _make_bad(kind, tmp_path)
    with pytest.raises(InputError) as info:
        load_synoptic(path)
    message = str(info.value)
    assert path.name in message and BAD_CASES[kind] in message
    assert "\n" not in message and info.value.path == str(path)
    result = inspect_file(path)  # never raises
    assert not result.ok and result.verdict == info.value.problem


def test_gzipped_map_loads_like_the_plain_one(tmp_path):
    import gzip

    path = hmi_map(2280)
    packed = tmp_path / f"{path.name}.gz"
    packed.write_bytes(gzip.compress(path.read_bytes(), compresslevel=1))
    xr.testing.assert_identical(load_synoptic(packed).drop_attrs(), load_synoptic(path).drop_attrs())


def test_validate_header_accepts_real_and_rejects_full_disk():
    validate_header(fits.getheader(hmi_map(2280)), "x.fits")
    with pytest.raises(InputError, match="not a synoptic map"):
        validate_header(_full_disk_header(), "disk.fits")


def test_inspect_keeps_what_it_could_read(tmp_path):
    result = inspect_file(_make_bad("mostly_nan", tmp_path))
    assert (result.cr, result.instrument, result.shape, result.units) == (2276, "GONG", (180, 360), "Gauss")
    assert result.finite_fraction == pytest.approx(60 / 180)


# ---------------------------------------------------------------------------------------------
# Sequences


def test_load_sequence_sorts_by_rotation_with_time_coordinates():
    paths = [hmi_map(2278), hmi_map(2276), hmi_map(2277)]
    seq = load_sequence(paths)
    assert seq["Br"].dims == ("cr", "lat", "lon") and seq["Br"].shape == (3, 360, 720)
    assert seq["cr"].values.tolist() == [2276, 2277, 2278]
    assert seq["source"].values[0] == "hmi.Synoptic_Mr_small.2276.fits"
    assert seq["t_start"].values[1] == np.datetime64("2023-10-28T07:28:45")  # 07:29:22 TAI
    assert np.all(seq["t_stop"].values[:-1] == seq["t_start"].values[1:])  # rotations abut
    np.testing.assert_array_equal(seq["Br"].sel(cr=2277).values, load_synoptic(paths[2])["Br"].values)
    check_consecutive(seq["cr"].values.tolist())


def test_load_sequence_rejects_mismatched_grid_and_duplicates(tmp_path):
    gong = write_fits(tmp_path / "gong.fits", fixture_header("gong"))
    with pytest.raises(InputError, match="grid .* differs") as info:
        load_sequence([hmi_map(2280), gong], GEOMETRY_ONLY)
    assert "gong.fits" in str(info.value)
    with pytest.raises(InputError, match="CR 2280 given twice"):
        load_sequence([hmi_map(2280), hmi_map(2280)])


def test_check_consecutive_names_the_gap():
    check_consecutive([2276, 2277, 2278])
    check_consecutive([2280])
    with pytest.raises(InputError, match=r"gap between CR 2276 and CR 2278 \(missing CR 2277\)"):
        check_consecutive([2276, 2278])
    with pytest.raises(InputError, match="missing CR 2262-2264"):
        check_consecutive([2260, 2261, 2265])
    with pytest.raises(InputError, match="not increasing"):
        check_consecutive([2277, 2276])


# ---------------------------------------------------------------------------------------------
# Geometry and conservative regridding


def _synthetic(nlat: int = 360, nlon: int = 720, fn=None) -> xr.Dataset:
    sin_c = (np.arange(nlat) + 0.5) * 2 / nlat - 1
    lat = np.rad2deg(np.arcsin(sin_c))
    lon = (np.arange(nlon) + 0.5) * 360 / nlon
    values = fn(lat[:, None], lon[None, :]) if fn is not None else np.zeros((nlat, nlon))
    return xr.Dataset(
        {"Br": (("lat", "lon"), np.broadcast_to(values, (nlat, nlon)).astype(np.float64), {"units": "G"})},
        coords={"lat": lat, "lon": lon},
        attrs={"grid": "sine-latitude", "cr": 0},
    )


def test_solid_angles_cover_the_sphere():
    ds = _synthetic()
    np.testing.assert_allclose(latitude_edges(ds)[[0, -1]], [-90, 90])
    assert float(pixel_solid_angle(ds).sum()) == pytest.approx(4 * np.pi, rel=1e-12)
    # native rows are equal-area
    area = pixel_solid_angle(ds).values[:, 0]
    np.testing.assert_allclose(area, area[0], rtol=1e-12)
    uni = regrid_uniform_latitude(ds, 90)
    assert float(pixel_solid_angle(uni).sum()) == pytest.approx(4 * np.pi, rel=1e-12)
    # without a 'grid' attribute the grid is recognised from the centres
    np.testing.assert_allclose(latitude_edges(uni.drop_attrs()), np.linspace(-90, 90, 91), atol=1e-12)
    np.testing.assert_allclose(latitude_edges(ds.drop_attrs()), latitude_edges(ds), atol=1e-12)
    with pytest.raises(ValueError, match="not uniform"):
        latitude_edges(ds.assign_coords(lat=ds["lat"].values ** 3 / 90**2).drop_attrs())


def test_regrid_conserves_signed_flux_of_real_map():
    ds = load_synoptic(hmi_map(2280))
    ds = ds.assign(Br=ds["Br"].astype(np.float64).fillna(0.0))
    out = regrid_uniform_latitude(ds, 180)
    assert out["Br"].shape == (180, 720) and out.attrs["grid"] == "uniform"
    np.testing.assert_allclose(out["lat"].values[[0, -1]], [-89.5, 89.5])
    flux_in = float((ds["Br"] * pixel_solid_angle(ds)).sum())
    flux_out = float((out["Br"] * pixel_solid_angle(out)).sum())
    unsigned = float((abs(ds["Br"]) * pixel_solid_angle(ds)).sum())
    assert abs(flux_in) > 1e-4 * unsigned  # the net flux is a meaningful (not round-off) number
    assert abs(flux_out - flux_in) <= 1e-6 * abs(flux_in)
    # per longitude column too (the remap acts on latitude only)
    col_in = (ds["Br"] * pixel_solid_angle(ds)).sum("lat")
    col_out = (out["Br"] * pixel_solid_angle(out)).sum("lat")
    np.testing.assert_allclose(col_out, col_in, rtol=1e-9, atol=1e-12 * unsigned)


def test_regrid_reproduces_a_smooth_field():
    """Dipole plus l=2 field (range 30 G): small, converging error; the coarse polar rows limit it."""

    def field(lat, lon):
        mu = np.sin(np.deg2rad(lat))
        return 10 * mu + 5 * (3 * mu**2 - 1) * np.cos(np.deg2rad(lon))

    def max_error(nlat_native: int) -> tuple[float, float]:
        out = regrid_uniform_latitude(_synthetic(nlat=nlat_native, nlon=16, fn=field), 180)
        error = np.abs(out["Br"].values - field(out["lat"].values[:, None], out["lon"].values[None, :]))
        return float(error[np.abs(out["lat"].values) < 60].max()), float(error.max())

    low_lat, overall = max_error(360)
    assert low_lat < 0.015  # 5e-4 of the range where native and uniform rows are both ~0.5-1 deg
    assert overall < 0.15  # near the poles one native row spans 6 deg of latitude
    low_lat_fine, overall_fine = max_error(1440)  # full-resolution HMI rows
    assert low_lat_fine < low_lat / 4 and overall_fine < overall / 4


def test_regrid_is_nan_aware_and_keeps_leading_dimensions():
    ds = _synthetic(fn=lambda lat, lon: 1.0 + 0 * lat * lon)
    br = ds["Br"].values.copy()
    br[:8] = np.nan  # southern polar rows missing (sin < -0.955)
    br[200, :] = np.nan
    ds = ds.assign(Br=(("lat", "lon"), br))
    out = regrid_uniform_latitude(ds, 180)
    values = out["Br"].values
    assert np.isnan(values[:60]).sum() > 0  # rows entirely in the gap stay missing
    finite = values[np.isfinite(values)]
    np.testing.assert_allclose(finite, 1.0, rtol=1e-12)  # partial overlaps average the finite part only
    assert np.isfinite(values[90:]).all()  # a single missing native row never blanks a uniform row
    seq = xr.concat([ds, ds.assign(Br=2 * ds["Br"])], dim="cr")
    out2 = regrid_uniform_latitude(seq, 180)
    assert out2["Br"].dims == ("cr", "lat", "lon")
    np.testing.assert_allclose(out2["Br"].isel(cr=1), 2 * out["Br"], equal_nan=True)


def test_load_with_uniform_regrid_config():
    ds = load_synoptic(hmi_map(2280), ObservationsConfig(regrid="uniform", uniform_nlat=90))
    assert ds["Br"].shape == (90, 720) and ds.attrs["grid"] == "uniform"
    np.testing.assert_allclose(np.diff(ds["lat"].values), 2.0)
    assert ds.attrs["cr"] == 2280


# ---------------------------------------------------------------------------------------------
# Online fetch (explicit, excluded by default)


@pytest.mark.remote_data
def test_fetch_synoptic_from_jsoc(tmp_path):
    pytest.importorskip("drms")
    import os

    if not os.environ.get("JSOC_EMAIL"):
        pytest.skip("JSOC_EMAIL not set")
    files = fetch_synoptic([2280], tmp_path)
    assert [load_synoptic(f).attrs["cr"] for f in files] == [2280]


def test_load_sequence_records_header_repairs_per_rotation(tmp_path):
    path = write_fits(tmp_path / "hmi.Synoptic_Mr_small.2145.fits", small_header(2145), small_data())
    with pytest.warns(InputWarning, match="hmi-small-cdelt2"):
        seq = load_sequence([hmi_map(2280), path])
    repairs = dict(zip(seq["cr"].values.tolist(), seq["header_repairs"].values.tolist(), strict=True))
    assert repairs[2280] == "" and "CUNIT1 'degreedegree' -> 'deg'" in repairs[2145]


# ---------------------------------------------------------------------------------------------
# Plausibility of the field's structure (pinn.data.structure): real maps pass, noise is refused


def real_map_paths() -> list[Path]:
    """Every real HMI map: the bundled ones and ../shared/data/raw/hmi_synoptic_mr_small (skips if neither)."""
    paths = sorted(p for folder in HMI_DIRS for p in folder.glob("hmi.Synoptic_Mr_small.*.fits"))
    if not paths:
        pytest.skip("no real HMI maps found")
    return paths


def test_every_real_map_has_solar_structure():
    paths = real_map_paths()
    for path in paths:
        stats = field_structure(load_synoptic(path)["Br"].values)
        assert stats.problem() is None, path
        # the values docs and pinn.data.structure state for CR 2240-2282: far inside the bounds
        assert 3.0 < stats.sigma < 4.2 and 0.05 < stats.strong_fraction < 0.11 and 0.7 < stats.coherence <= 0.9, path
        assert stats.strong_fraction > 50 * MIN_STRONG_FRACTION and stats.coherence > MIN_COHERENCE + 0.2
    if (RAW / "hmi_synoptic_mr_small").is_dir():
        assert len(paths) == 40 + 7  # 40 shared (README section 1) + 7 bundled


def test_synthetic_map_with_active_regions_passes_and_without_fails():
    stats = field_structure(synthetic_map(NORTH, SOUTH, n_regions=60, seed=3)["Br"].values)
    assert stats.problem() is None and stats.strong_fraction > 0.01 and stats.coherence > 0.9
    quiet = field_structure(synthetic_map(NORTH, SOUTH, n_regions=0, seed=3)["Br"].values)  # smooth Gaussian network
    assert quiet.strong_fraction < MIN_STRONG_FRACTION and "no magnetic structure" in quiet.problem()


def test_gaussian_noise_statistics_are_the_stated_ones():
    noise = np.random.default_rng(7).normal(0.0, 50.0, (360, 720))
    stats = field_structure(noise)
    assert stats.sigma == pytest.approx(50.0, rel=0.01)  # 1.4826 MAD is the Gaussian sigma
    assert stats.strong_fraction * noise.size < 5  # 5-sigma tail: 5.7e-7 x 259200 = 0.15 pixels expected
    assert field_structure(np.ones((360, 720))).strong_fraction == 0.0


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("gaussian_50G", "no magnetic structure"),
        ("constant", "no magnetic structure"),
        ("student_t", "no coherent magnetic structure"),
        ("shuffled_real", "no coherent magnetic structure"),
    ],
)
def test_map_without_solar_structure_is_refused(kind, message, tmp_path):
    rng = np.random.default_rng(11)
    if kind == "gaussian_50G":  # pure noise, sigma 50 G: read as "ok" and fitted before
        data = rng.normal(0.0, 50.0, (360, 720))
    elif kind == "constant":
        data = np.full((360, 720), 3.0)
    elif kind == "student_t":  # heavy-tailed but spatially uncorrelated
        data = 20.0 * rng.standard_t(3, (360, 720))
    else:  # a real map's pixels in random places: the real distribution, no spatial structure
        data = fits.getdata(hmi_map(2280)).astype(np.float64)
        data = rng.permutation(data.ravel()).reshape(data.shape)
    path = write_fits(tmp_path / f"{kind}.fits", fixture_header("hmi"), data.astype(np.float32))
    with pytest.raises(InputError, match=message) as info:
        load_synoptic(path)
    assert path.name in str(info.value) and "\n" not in str(info.value)
    result = inspect_file(path)
    assert not result.ok and result.verdict == info.value.problem
    assert load_synoptic(path, GEOMETRY_ONLY)["Br"].shape == (360, 720)  # only the structure check refused it
