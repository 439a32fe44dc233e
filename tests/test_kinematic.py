"""Kinematic strength (the dynamics ablation, issue 21): the observed s(lon) of the current toroids carried at the
surface magnetic-feature rate, its hybrid model, no leakage, and saved cases of the older format not reused."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pinn.chain import hindcast as hc
from pinn.chain.case import CASE_FORMAT, STATIC_PREFIX, Case, static_case
from pinn.chain.case_keys import CaseKeys, key_path
from pinn.config.schema import load_config
from pinn.data import grid
from pinn.data.arise import ars_of, load_arise
from pinn.data.bundled import arise_table, bundled_map
from pinn.data.observations import load_synoptic
from pinn.emergence.hybrid import static_ridge
from pinn.emergence.kinematic import kinematic_strength
from pinn.emergence.models import MODELS
from pinn.emergence.ridge_model import density_grid
from pinn.errors import InputError, InputWarning
from pinn.toroids.fit import HemisphereToroid, Toroids, fit_toroids
from pinn.toroids.strength import sample_lon_deg

P_SYNODIC = 27.2753  # days, the Carrington synodic period
CARRINGTON_URAD_S = 2.865  # sidereal rate of the Carrington frame (25.38 d)
BUMP_LON = 100.0  # a sample of s(lon) (every 5 deg)
TARGETS = (2277, 2278, 2279, 2280, 2281, 2282)
MODELS_SCORED = ["data_only", "hybrid_static", "hybrid_kinematic", "hybrid_physics_strength"]


def snodgrass_deg_day(lat_deg: float) -> float:
    """Snodgrass (1983) magnetic-feature rate 2.902 - 0.464 sin^2 - 0.328 sin^4 urad/s, deg/day vs Carrington."""
    s2 = math.sin(math.radians(lat_deg)) ** 2
    return (2.902 - 0.464 * s2 - 0.328 * s2 * s2 - CARRINGTON_URAD_S) * 1e-6 * 86400.0 * 180.0 / math.pi


def bump_profile() -> tuple[float, ...]:
    """s(lon) at the 5-deg samples: one nest at BUMP_LON (s = 1 + 2 there), a Gaussian of 15 deg, mean 1."""
    lon = sample_lon_deg(72)
    d = (lon - BUMP_LON + 180.0) % 360.0 - 180.0
    s = 1.0 + 2.0 * np.exp(-((d / 15.0) ** 2))
    return tuple(s / s.mean())


@pytest.fixture(scope="module")
def config():
    return load_config(None, ["forecast.output_nlat=90", "forecast.output_nlon=180"])


def test_a_nest_moves_by_the_surface_rate_times_its_lead(config):
    """A bump of s(lon) at 100 deg on a toroid at 30 deg is seen where lon - Omega(30) tau(lon) = 100: analytic."""
    north = HemisphereToroid(30.0, 5.0, (), (), -1, strength_profile=bump_profile())
    _, lon = density_grid(config.forecast)
    # a fixed lead: the bump moves by Omega x lead exactly (carried from the fit, dated at the middle of N)
    rate = snodgrass_deg_day(30.0)  # -0.49 deg/day
    assert rate == pytest.approx(-0.4926, abs=1e-3)
    fine = np.arange(0.0, 360.0, 0.25)
    k = kinematic_strength(north, fine, np.full(fine.shape, 40.0))
    assert fine[np.argmax(k)] == pytest.approx(BUMP_LON + 40.0 * rate, abs=0.25)  # 80.3 deg
    assert k.max() == pytest.approx(max(north.strength_profile), rel=1e-3)
    # in the static ridge each longitude at its own lead tau = P (1/2 + (360 - lon)/360): the peak solves
    # lon - Omega P (3/2 - lon/360) = 100
    ridge = static_ridge(Toroids(2280, 100.0, north, None), lon)
    expected = (BUMP_LON + 1.5 * rate * P_SYNODIC) / (1.0 + rate * P_SYNODIC / 360.0)  # 83.0 deg
    got = ridge["kinematic_strength"].sel(hemisphere="north")
    assert float(lon[int(np.argmax(got.values))]) == pytest.approx(expected, abs=2.0)  # the 2-deg grid
    assert abs(expected - BUMP_LON) > 15.0  # not the uncarried profile
    np.testing.assert_allclose(float(got.mean()), 1.0, atol=0.01)  # carrying keeps the mean
    # no toroid, or a toroid without s(lon): 1; the ridge strength itself stays uniform (existing models unchanged)
    np.testing.assert_array_equal(ridge["kinematic_strength"].sel(hemisphere="south"), 1.0)
    plain = static_ridge(Toroids(2280, 100.0, HemisphereToroid(30.0, 5.0, (), (), -1), None), lon)
    np.testing.assert_array_equal(plain["kinematic_strength"], 1.0)
    np.testing.assert_array_equal(ridge["ridge_strength"], 1.0)
    np.testing.assert_array_equal(ridge["mean_strength"], 1.0)
    # near the Carrington rate (16 deg) the pattern barely moves
    slow = HemisphereToroid(16.0, 5.0, (), (), -1, strength_profile=bump_profile())
    got = static_ridge(Toroids(2280, 100.0, slow, None), lon)["kinematic_strength"].sel(hemisphere="north")
    assert abs(float(lon[int(np.argmax(got.values))]) - BUMP_LON) <= 2.0


@pytest.fixture(scope="module")
def toroids(config):
    """The toroids of each bundled map CR 2276-2281 (one map each), fitted once."""
    return {cr: fit_toroids(load_synoptic(bundled_map(cr)), config.toroids) for cr in range(2276, 2282)}


def cases_of(toroids, config) -> list[Case]:
    """Cases N = target - 1 whose ridges (predicted and static) are the toroids of map N: real, distinct s(lon)."""
    _, lon = density_grid(config.forecast)
    out = []
    for t in TARGETS:
        ridge = static_ridge(toroids[t - 1], lon)
        out.append(Case(t - 1, (t - 1,), ridge, ridge, {"north": 0.5, "south": 0.5}, bundled_map(t - 1)))
    return out


def test_kinematic_model_is_scored_normalised_and_causal(toroids, config, tmp_path):
    """hybrid_kinematic gets a column in a rescore, its density integrates to 1, and its fit for a rotation uses
    nothing from that rotation on (the ARs of the last rotation changed: no earlier score or beta changes)."""
    cases = cases_of(toroids, config)
    table = load_arise(arise_table())
    record = hc.data_only_record(table, *density_grid(config.forecast), max(TARGETS), 2270)
    result = hc.rescore(cases, table, config, min_fit_rotations=2, models=MODELS_SCORED, data_only=record)
    hc.write_results(result, tmp_path)
    per_ar = pd.read_csv(tmp_path / "per_ar.csv")
    assert len(per_ar) == len(ars_of(table, list(TARGETS)))
    assert {"bits_hybrid_kinematic", "bits_hybrid_physics_strength"} <= set(per_ar) and per_ar.notna().all().all()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "hybrid_kinematic_minus_data_only" in summary["differences_bits"]
    assert "no dynamics" in summary["models"]["hybrid_kinematic"]
    rot = result.per_rotation.set_index("cr")
    assert rot.loc[2278, "bits_hybrid_kinematic"] == pytest.approx(rot.loc[2278, "bits_data_only"], rel=1e-12)  # before 2 rotations: the prior
    assert rot.loc[2279, "hybrid_kinematic_beta_log_kinematic_strength"] != 0.0  # the feature has spread: fitted
    # the density of the last case with the fit for it integrates to 1 and differs from the prior
    model = MODELS.get("hybrid_kinematic")
    inputs = hc.case_model_inputs(cases[-1], table, record, config)
    params = model.from_json(result.fit.models["hybrid_kinematic"])
    dens = model.density(inputs, model.prepare(inputs), params)
    areas = grid.cell_areas(inputs.lat, inputs.lon)
    assert float(np.sum(dens.values * areas)) == pytest.approx(1.0, abs=1e-9)
    assert np.max(np.abs(dens.values / inputs.prior.values - 1.0)) > 0.05
    # causal: other ARs in the last rotation change no earlier rotation's fit or score
    cut = table[~((table["cr"] == TARGETS[-1]) & (table["lat"] > 0))]
    again = hc.rescore(cases, cut, config, min_fit_rotations=2, models=MODELS_SCORED,
                       data_only=hc.data_only_record(cut, *density_grid(config.forecast), max(TARGETS), 2270))
    earlier = again.per_rotation.set_index("cr").loc[:TARGETS[-2]]
    for col in ("hybrid_kinematic_beta_log_kinematic_strength", "hybrid_kinematic_beta_d2", "bits_hybrid_kinematic"):
        np.testing.assert_allclose(earlier[col], rot.loc[:TARGETS[-2], col], rtol=1e-12, err_msg=col)


def test_kinematic_feature_reads_no_map_after_n(tmp_path, config, monkeypatch):
    """The case of N = 2280 (its kinematic strength included) reads the maps up to 2280 only: the files of
    2281-2282 are unreadable here and would crash a leak."""
    root = tmp_path / "raw"
    root.mkdir()
    for cr in (2277, 2278, 2279, 2280):
        shutil.copy(bundled_map(cr), root / f"hmi.Synoptic_Mr_small.{cr}.fits")
    for cr in (2281, 2282):
        (root / f"hmi.Synoptic_Mr_small.{cr}.fits").write_bytes(b"not a FITS file: reading me is a leak")
    import pinn.data.observations as obs

    opened: list[int] = []
    real_load = obs.load_synoptic

    def spy(path, cfg=None):
        opened.append(int(str(path).split(".")[-2]))
        return real_load(path, cfg)

    monkeypatch.setattr(obs, "load_synoptic", spy)
    maps = hc.find_maps(root)
    case = static_case([maps[c] for c in hc.trailing_run(maps, 2280, config.toroids.window)], config)
    assert max(opened) == 2280
    k = case.static_ridge["kinematic_strength"].values
    assert np.isfinite(k).all() and k.std() > 0.1  # the observed s(lon) of real maps, not the uniform 1


def test_cases_saved_before_the_kinematic_strength_are_not_reused(toroids, config, tmp_path, monkeypatch):
    """A case file without the format version is refused by Case.load; the hindcast recomputes it (key mismatch)."""
    static = cases_of(toroids, config)[-1]
    # as build_case makes it: the predicted ridge (here the same toroids) has no kinematic strength
    case = Case(static.cr, static.maps, static.ridge.drop_vars("kinematic_strength"), static.static_ridge,
                static.hemisphere_weights, static.latest_path)
    path = tmp_path / "cases" / f"cr{case.cr}.nc"
    path.parent.mkdir()
    case.save(path)
    back = Case.load(path)
    xr.testing.assert_equal(back.static_ridge, case.static_ridge)
    xr.testing.assert_equal(back.ridge, case.ridge)
    # the file as the previous version wrote it: no kinematic strength, no case_format
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        old = ds.load().drop_vars(STATIC_PREFIX + "kinematic_strength")
    del old.attrs["case_format"]
    old.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(InputError, match=f"format 1, this version reads format {CASE_FORMAT}"):
        Case.load(path)
    # its key, as the previous version wrote it, lacks the format: the hindcast warns and recomputes
    maps = {case.cr: bundled_map(case.cr)}
    keys = CaseKeys(path.parent, maps, config, 20.0)
    keys.write(case.cr)
    saved = json.loads(key_path(path.parent, case.cr).read_text())
    del saved["parts"]["config"]["case_format"]
    key_path(path.parent, case.cr).write_text(json.dumps(saved))
    assert keys.mismatch(case.cr) == "case_format: new"
    made: list[int] = []
    monkeypatch.setattr(hc, "forecast_case", lambda m, n, c, s: made.append(n) or case)
    with pytest.warns(InputWarning, match="case_format: new"):
        done = hc.produce_cases(maps, [case.cr], config, 20.0, path.parent, batch_size=1, progress=False)
    assert made == [case.cr] and "kinematic_strength" in done[case.cr].static_ridge
    assert keys.mismatch(case.cr) is None and "kinematic_strength" in Case.load(path).static_ridge
