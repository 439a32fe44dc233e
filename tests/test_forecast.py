"""Forecast chain: emergence model, frames and times, and the end-to-end CLI on bundled data."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pinn.data import arise
from pinn.data.bundled import bundled_map
from pinn.emergence import density as dn
from pinn.emergence import ridge_model as em
from pinn.emergence import ridges as rd
from pinn.emergence.fit_artifact import read_fit
from pinn.scoring import scores as ev

REPO = Path(__file__).resolve().parents[1]

# A tiny but complete chain: small PINN, few steps, T21 solver (a CI-sized forecast).
TINY = [
    "network.width=16", "network.depth=2", "network.fourier_features=8",
    "loss.collocation_points=256", "loss.quadrature_lats=16", "loss.quadrature_lons=8",
    "train.adam_steps=40", "train.steps_per_call=20", "train.checkpoint_every=40", "train.log_every=20",
    "train.warmup_steps=5", "train.progress=false", "train.output_nlat=32", "train.output_nlon=64",
    "solver.truncation=21", "solver.dt=0.1", "forecast.output_nlat=90", "forecast.output_nlon=180",
    "forecast.snapshot_days=2.0",
]


def band_trajectory(lat0=20.0, width=8.0, drift_lat_per_day=0.0, m1_deg=0.0, days=45.0):
    """A trajectory whose |a| is a Gaussian band exp(-((lat - c)/w)^2) with a known centre line."""
    time = np.arange(0.0, days + 1e-9, 1.0)
    lat = np.linspace(-89.0, 89.0, 179)
    lon = np.arange(0.0, 360.0, 2.0)
    t, la, lo = np.meshgrid(time, lat, lon, indexing="ij")
    centre = lat0 + drift_lat_per_day * t + m1_deg * np.cos(np.radians(lo))
    a = np.exp(-(((la - centre) / width) ** 2)) - np.exp(-(((la + centre) / width) ** 2))
    return xr.Dataset({"a": (("time", "lat", "lon"), 0.1 * a)}, coords={"time": time, "lat": lat, "lon": lon})


def test_predicted_toroids_recover_known_band():
    traj = band_trajectory(lat0=20.0, width=8.0, drift_lat_per_day=-0.1, m1_deg=3.0)
    pred = rd.predicted_toroids(traj)
    north = pred["ridge_lat"].sel(hemisphere="north")
    expected = 20.0 - 0.1 * traj["time"].values[:, None] + 3.0 * np.cos(np.radians(traj["lon"].values))[None, :]
    np.testing.assert_allclose(north.values, expected, atol=0.1)
    np.testing.assert_allclose(pred["ridge_lat"].sel(hemisphere="south").values, -expected, atol=0.1)
    # the upper-half weight max(|a| - max/2, 0)^2 of a Gaussian of width w has a known sigma
    x = np.linspace(-20, 20, 4001)
    g = np.exp(-((x / 8.0) ** 2))
    wgt = np.clip(g - 0.5, 0, None) ** 2
    sigma = math.sqrt(np.sum(wgt * x**2) / np.sum(wgt))
    assert float(pred["ridge_sigma"].sel(hemisphere="north").mean()) == pytest.approx(sigma, rel=0.05)
    np.testing.assert_allclose(pred["ridge_strength"].values, 0.1, rtol=5e-3)  # 1-deg grid sampling


def test_lead_days_and_observation_frame():
    period = rd.SYNODIC_DAYS
    np.testing.assert_allclose(rd.lead_days(np.array([360.0, 180.0, 0.0])), [0.5 * period, period, 1.5 * period])
    # a centre line fixed in the model frame, phi_car = phi_model + drift * t: the ridge seen at
    # Carrington lon phi is the model-frame ridge at phi - drift * tau(phi)
    traj = band_trajectory(lat0=20.0, m1_deg=5.0, days=45.0)
    pred = rd.predicted_toroids(traj)
    lon = np.arange(0.5, 360.0, 1.0)
    drift = -0.8
    ridge = rd.toroids_at_observation(pred, lon, drift)
    tau = rd.lead_days(lon)
    expected = 20.0 + 5.0 * np.cos(np.radians(lon - drift * tau))
    np.testing.assert_allclose(ridge["ridge_lat"].sel(hemisphere="north").values, expected, atol=0.15)
    with pytest.raises(Exception, match="increase forecast.weeks"):
        rd.toroids_at_observation(rd.predicted_toroids(band_trajectory(days=30.0)), lon, drift)


def test_emergence_density_normalised_peaked_and_strength_weighted():
    traj = band_trajectory(lat0=18.0, width=8.0)
    lon = np.arange(1.0, 360.0, 2.0)
    ridge = rd.toroids_at_observation(rd.predicted_toroids(traj), lon, 0.0)
    # make the northern toroid twice as strong over 0-180 deg
    strength = ridge["ridge_strength"].values.copy()
    strength[0, lon < 180] *= 2.0
    ridge["ridge_strength"] = (("hemisphere", "lon"), strength)
    ridge["mean_strength"] = (("hemisphere", "lon"), np.repeat(strength.mean(axis=1, keepdims=True), lon.size, 1))
    lat = -90 + (np.arange(180) + 0.5)
    weights = {"north": 0.5, "south": 0.5}
    d1 = em.emergence_density(ridge, lat, weights, em.EmergenceParams(floor=0.1, strength_power=1.0))
    assert dn.integral(d1) == pytest.approx(1.0, abs=1e-9)
    profile = d1.sel(lon=91.0).values
    assert abs(lat[np.argmax(profile)] - 18.0) <= 1.0
    # power 1: twice the strength, twice the (non-floor) density along the ridge
    hi = ev.sample(d1, [18.5], [91.0])[0] - 0.1 / (4 * math.pi)
    lo = ev.sample(d1, [18.5], [271.0])[0] - 0.1 / (4 * math.pi)
    assert hi / lo == pytest.approx(2.0, rel=0.02)
    d0 = em.emergence_density(ridge, lat, weights, em.EmergenceParams(floor=0.1, strength_power=0.0))
    hi0, lo0 = ev.sample(d0, [18.5, 18.5], [91.0, 271.0])
    assert hi0 == pytest.approx(lo0, rel=1e-6)
    # the floor is the density far from the toroids
    assert ev.sample(d1, [-80.0], [10.0])[0] == pytest.approx(0.1 / (4 * math.pi), rel=1e-6)


def test_fit_emergence_params_recovers_floor_direction():
    """ARs drawn far from the ridge need a big floor; ARs on it a small one."""
    traj = band_trajectory(lat0=18.0, width=8.0)
    lon = np.arange(1.0, 360.0, 2.0)
    ridge = rd.toroids_at_observation(rd.predicted_toroids(traj), lon, 0.0)
    lat = -90 + (np.arange(180) + 0.5)
    w = {"north": 0.5, "south": 0.5}
    on = [(ridge, w, np.array([18.0, -18.0, 17.0, -19.0]), np.array([10.0, 100.0, 200.0, 300.0]))]
    off = [(ridge, w, np.array([60.0, -55.0, 18.0, 0.5]), np.array([10.0, 100.0, 200.0, 300.0]))]
    p_on = em.fit_emergence_params(on, lat)
    p_off = em.fit_emergence_params(off, lat)
    assert p_on.floor < 0.05 < p_off.floor


def test_stacked_likelihood_is_the_density_at_the_ars():
    """The fit's vectorised likelihood (all cases at once, hemisphere rows only) equals log2 of
    emergence_density sampled at each case's ARs, for warped, unequally strong ridges, unequal hemisphere
    weights and a NaN stretch of ridge (counted as zero density, as normalise does)."""
    traj = band_trajectory(lat0=18.0, width=8.0)
    lon = np.arange(1.0, 360.0, 2.0)
    base = rd.toroids_at_observation(rd.predicted_toroids(traj), lon, 0.0)
    lat = -90 + (np.arange(180) + 0.5)
    rng = np.random.default_rng(3)
    cases = []
    for k in range(3):
        ridge = base.copy(deep=True)
        ridge["ridge_lat"] = ridge["ridge_lat"] + 4.0 * np.sin(np.radians(lon) * (k + 1))[None, :]
        strength = ridge["ridge_strength"].values * (1.0 + 0.5 * rng.random((2, lon.size)))
        if k == 2:
            strength[1, 20:30] = np.nan
        ridge["ridge_strength"] = (("hemisphere", "lon"), strength)
        n = 5 + k
        cases.append((ridge, {"north": 0.3 + 0.2 * k, "south": 0.7 - 0.2 * k},
                      rng.uniform(-40.0, 40.0, n), rng.uniform(0.0, 360.0, n)))
    stacked = em.StackedCases.of(cases, lat)
    # the likelihood's parts are memoised on (width, power) and its Gaussians on the width: the same floor or width
    # with other values, a revisit after more than MEMO_SIZE others, all must give the unmemoised answer
    widths = [0.5 + 0.25 * k for k in range(em.MEMO_SIZE + 1)]
    for params in (em.EmergenceParams(), em.EmergenceParams(0.3, 0.5, 2.0), em.EmergenceParams(0.02, 3.0, 0.0),
                   em.EmergenceParams(0.05, 0.5, 2.0), em.EmergenceParams(0.3, 0.5, 1.0),
                   *[em.EmergenceParams(0.1, w, 1.5) for w in widths], em.EmergenceParams()):
        expected = np.concatenate([ev.log2_likelihood(em.emergence_density(r, lat, w, params), a, b)
                                   for r, w, a, b in cases])
        np.testing.assert_allclose(stacked.log2_likelihood(params), expected, rtol=1e-12, atol=1e-12)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pinn.cli", *args], check=False, capture_output=True, text=True,
                          cwd=REPO, timeout=900)


def tiny_args(*extra: str) -> list[str]:
    out = []
    for item in TINY + list(extra):
        out += ["--set", item]
    return out


def test_forecast_cli_end_to_end_and_deterministic(tmp_path):
    maps = [str(bundled_map(cr)) for cr in (2278, 2279, 2280)]
    for name in ("a", "b"):
        proc = run_cli("forecast", *maps, "--out", str(tmp_path / name), "--config", "pinn/config/forecast.yaml",
                       *tiny_args("forecast.cache_dir=null"))
        assert proc.returncode == 0, proc.stderr[-2000:]
    for f in ("forecast.nc", "forecast.png", "summary.json", "resolved_config.yaml"):
        assert (tmp_path / "a" / f).stat().st_size > 0
    with xr.open_dataset(tmp_path / "a" / "forecast.nc", engine="h5netcdf") as a, \
            xr.open_dataset(tmp_path / "b" / "forecast.nc", engine="h5netcdf") as b:
        density = a["emergence_density"]
        assert density.dims == ("lat", "lon")
        assert abs(dn.integral(density) - 1.0) < 1e-6
        assert a["toroid_lat"].dims == ("hemisphere", "lon", "time")
        assert list(a.attrs["input_rotations"]) == [2278, 2279, 2280]
        assert a.attrs["forecast_rotation"] == 2281
        np.testing.assert_array_equal(a["emergence_density"].values, b["emergence_density"].values)
        # predicted toroids sit near the observed bands (CR 2280: about +18 / -17 deg)
        north = a["toroid_lat"].sel(hemisphere="north").isel(time=0).values
        assert 10 < np.median(north) < 26
        # the state is written in physical units; the model values stay recoverable
        import astropy.units as u

        from pinn.config.physics import model_units

        assert u.Unit(a["state_u"].attrs["units"]) == u.m / u.s and u.Unit(a["state_a"].attrs["units"]) == u.G
        assert a["state_u"].attrs["model_unit_in_physical"] == pytest.approx(
            model_units().velocity_unit.to_value(u.m / u.s))
        assert u.Unit(a["toroid_strength"].attrs["units"]) == u.G
        # the model the packaged fit chose (emergence.model: chosen) and its fit are recorded; counts per hemisphere
        chosen = read_fit(REPO / "pinn" / "config" / "fits" / "cr2281.json").chosen_model
        assert chosen and a.attrs["emergence_model"] == chosen
        assert json.loads(a.attrs["emergence_fitted_on"])[1] < 2281
        assert a["expected_count"].dims == ("hemisphere",) and (a["expected_count"].values > 0).all()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["forecast_rotation"] == 2281 and summary["input_rotations"] == [2278, 2279, 2280]
    model = summary["emergence_model"]
    assert model["model"] == chosen and model["fitted_on"][1] < 2281 and "causal choice" in model["chosen_by"]
    assert len(model["params"]["betas"]) == len(model["params"]["features"]) == len(model["params"]["scales"])
    assert model["data_only_candidate"] and model["fit"].endswith("cr2281.json")
    assert model["prior"] == "data_only_stack" and sum(w for _, w in model["data_only_stack"]) == pytest.approx(1.0)
    assert summary["expected_count"]["total"] == pytest.approx(
        summary["expected_count"]["north"] + summary["expected_count"]["south"])
    for spot in summary["hotspots"]:
        assert 0 < spot["prob_new_ar_within_10deg"] < 1
    assert [m["cr"] for m in summary["input_maps"]] == [2278, 2279, 2280]
    assert all(m["header_repairs"] == "" and m["masked_implausible_pixels"] == 0 for m in summary["input_maps"])
    # the start was balanced on the solver grid (solver.balance_start): no start-up divergence tendency left
    balance = summary["start_balance"]
    assert balance["div_tendency_after"] < 1e-6 * balance["div_tendency_before"]
    assert balance["change"] > 0  # (large for this barely trained PINN; 1e-3 for configs/quick.yaml)


def test_forecast_bad_inputs_leave_no_outputs(tmp_path):
    proc = run_cli("forecast", str(bundled_map(2278)), str(bundled_map(2280)), "--out", str(tmp_path / "gap"))
    assert proc.returncode == 2 and "consecutive" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "gap").exists()

    from astropy.io import fits

    other = tmp_path / "gong_like.2280.fits"
    shutil.copy(bundled_map(2280), other)
    with fits.open(other, mode="update") as hdul:
        hdul[0].header["TELESCOP"] = "NSO-GONG"
        hdul[0].header["INSTRUME"] = "GONG"
    proc = run_cli("forecast", str(bundled_map(2279)), str(other), "--out", str(tmp_path / "mixed"))
    assert proc.returncode == 2 and "different instruments" in proc.stderr, proc.stderr
    assert not (tmp_path / "mixed").exists()


def test_minimum_horizon_is_the_last_observation_lead_and_in_help():
    from pinn.chain.case import minimum_weeks
    from pinn.config.schema import ForecastConfig

    for nlon in (180, 360):
        fc = ForecastConfig(output_nlon=nlon)
        _, lon = em.density_grid(fc)
        assert rd.minimum_horizon_days(nlon) == pytest.approx(rd.lead_days(lon).max(), rel=1e-12)
        assert 7 * minimum_weeks(fc) == pytest.approx(rd.lead_days(lon).max(), rel=1e-12)
    proc = run_cli("forecast", "--help")
    shown = math.ceil(minimum_weeks(ForecastConfig()) * 100) / 100
    assert proc.returncode == 0 and f"{shown:.2f} weeks" in " ".join(proc.stdout.split())


@pytest.mark.parametrize("how", [("--weeks", "2"), ("--set", "forecast.weeks=2")])
def test_short_horizon_refused_before_any_work(tmp_path, how):
    out = tmp_path / "out"
    proc = run_cli("forecast", str(bundled_map(2280)), "--out", str(out), *how)
    message = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2, proc.stderr
    assert message == ("pinn: error: config key 'forecast.weeks' = 2: shorter than the minimum 5.84 weeks "
                       "(40.9 d: when rotation N+1 sees its last longitude, forecast.output_nlon = 360)")
    assert "Traceback" not in proc.stderr and "train" not in proc.stderr.lower()
    assert not out.exists()


def test_state_written_in_physical_units():
    import astropy.units as u

    from pinn.chain.integration import physical_state
    from pinn.config.physics import model_units

    units = model_units()
    rng = np.random.default_rng(0)
    traj = xr.Dataset({k: (("time", "lat", "lon"), rng.normal(size=(2, 3, 4))) for k in ("u", "v", "h", "a", "b", "A")},
                      coords={"time": [0.0, 1.0], "lat": [-10.0, 0.0, 10.0], "lon": [0.0, 90.0, 180.0, 270.0]})
    phys = physical_state(traj, units)
    for name, unit in (("u", u.m / u.s), ("v", u.m / u.s), ("a", u.G), ("b", u.G), ("h", u.dimensionless_unscaled),
                       ("A", u.G * u.m)):
        attrs = phys[name].attrs
        assert u.Unit(attrs["units"]) == unit
        np.testing.assert_allclose(phys[name].values / attrs["model_unit_in_physical"], traj[name].values, rtol=1e-12)
    assert phys["u"].attrs["model_unit_in_physical"] == pytest.approx(units.velocity_unit.to_value(u.m / u.s))
    assert phys["a"].attrs["model_unit_in_physical"] == pytest.approx(units.field_unit.to_value(u.G))


def test_fewer_maps_than_window_warn_and_masked_pixels_are_noted(tmp_path):
    from astropy.io import fits

    from pinn.chain.inputs import prepare_inputs
    from pinn.config.schema import load_config
    from pinn.errors import InputWarning

    path = tmp_path / "hmi.Synoptic_Mr_small.2280.fits"
    shutil.copy(bundled_map(2280), path)
    with fits.open(path, mode="update") as hdul:
        hdu = next(h for h in hdul if h.data is not None)
        hdu.data[180, 100:105] = 5.0e4  # physically impossible |Br|: masked by the reader
    cfg = load_config(REPO / "pinn" / "config" / "forecast.yaml", TINY)
    with pytest.warns(InputWarning) as caught:
        inputs = prepare_inputs([path], cfg)
    messages = [str(w.message) for w in caught]
    assert "toroids of CR 2280 from 1 map (CR 2280-2280), fewer than toroids.window = 5" in messages
    assert inputs.map_notes == ({"cr": 2280, "source": path.name, "header_repairs": "",
                                 "masked_implausible_pixels": 5},)


def test_map_notes_record_header_repairs(tmp_path):
    from test_observations import small_data, small_header, write_fits

    from pinn.chain.inputs import map_notes
    from pinn.data.observations import load_sequence
    from pinn.errors import InputWarning

    path = write_fits(tmp_path / "hmi.Synoptic_Mr_small.2145.fits", small_header(2145), small_data())
    with pytest.warns(InputWarning, match="hmi-small-cdelt2"):
        notes = map_notes(load_sequence([bundled_map(2280), path]))
    by_cr = {n["cr"]: n for n in notes}
    assert "CUNIT1 'degreedegree' -> 'deg'" in by_cr[2145]["header_repairs"] and by_cr[2280]["header_repairs"] == ""
    assert by_cr[2145]["masked_implausible_pixels"] == 0


def test_hotspots_are_distinct_places():
    lat, lon = np.linspace(-89.5, 89.5, 180), np.arange(0.5, 360, 1.0)
    flat_band = np.exp(-(((lat[:, None] - 15.0) / 5.0) ** 2)) * np.ones((1, lon.size))  # one flat band
    spots = em.hotspots(dn.density_dataarray(dn.normalise(flat_band + 1e-3, lat, lon), lat, lon), n=5)
    assert len(spots) == 5
    for i, p in enumerate(spots):
        for q in spots[:i]:
            assert em.great_circle_deg(p["lat_deg"], p["lon_deg"], q["lat_deg"], q["lon_deg"]) >= em.MIN_SEPARATION_DEG
    assert em.great_circle_deg(10.0, 0.0, -10.0, 0.0) == pytest.approx(20.0)
    assert em.great_circle_deg(0.0, 355.0, 0.0, 5.0) == pytest.approx(10.0)


def test_fit_that_saw_the_forecast_rotation_is_refused_before_any_work(tmp_path, monkeypatch):
    from pinn.chain import forecast as fcast
    from pinn.config.schema import load_config
    from pinn.emergence.fit_artifact import write_fit
    from pinn.errors import ConfigError

    config = load_config(REPO / "pinn" / "config" / "forecast.yaml")
    assert config.emergence.model == "chosen"
    fit = fcast.model_fit(fcast.resolve_model(config), 2281)  # the packaged fit: causal for CR 2281
    assert max(fit.fitted_on) < 2281 and fit.for_rotation == 2281 and fit.chosen_model in fit.models
    assert len(fit.models["hybrid"]["betas"]) == len(fit.models["hybrid"]["scales"]) == 4
    leaky = tmp_path / "leaky.json"
    write_fit(leaky, dataclasses.replace(read_fit(config.emergence.fit), fitted_on=(2270, 2281)))
    cfg = load_config(REPO / "pinn" / "config" / "forecast.yaml", TINY + [f"emergence.fit={leaky}"])
    monkeypatch.setattr(fcast, "build_case", lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(ConfigError, match=r"'emergence.fit' = .*leaky.json: the fit saw CR 2281"):
        fcast.run_forecast([bundled_map(cr) for cr in (2279, 2280)], cfg)
    for bad, match in ((["emergence.model=nope"], "not a registered emergence model"),
                       ([f"emergence.fit={tmp_path / 'none.json'}"], "cannot read"),
                       (["forecast.hybrid_betas=[0.1]"], "now in the fit artifact")):
        with pytest.raises(ConfigError, match=match):
            fcast.model_fit(load_config(None, bad), 2281)


def test_forecast_and_hindcast_build_the_same_case(tmp_path):
    """One chain: the hindcast's case for N is the forecast's case of the same maps."""
    from pinn.chain import hindcast as hc
    from pinn.chain.forecast import run_forecast
    from pinn.config.schema import load_config
    from pinn.errors import InputWarning, TrainingWarning

    cfg = load_config(REPO / "pinn" / "config" / "forecast.yaml", TINY + ["forecast.cache_dir=null"])
    maps = {cr: bundled_map(cr) for cr in (2277, 2278, 2279, 2280)}
    with pytest.warns(InputWarning, match="fewer than toroids.window"), \
            pytest.warns(TrainingWarning, match="CR 2280 ended far from convergence"):  # 40 Adam steps
        forecast = run_forecast([maps[cr] for cr in sorted(maps)], cfg)
    with pytest.warns(InputWarning, match="fewer than toroids.window"):
        case = hc.forecast_case(maps, 2280, cfg, None)
    assert forecast.case.cr == case.cr == 2280 and forecast.case.maps == case.maps == (2277, 2278, 2279, 2280)
    xr.testing.assert_equal(forecast.case.ridge, case.ridge)
    xr.testing.assert_equal(forecast.case.static_ridge, case.static_ridge)
    assert forecast.case.hemisphere_weights == case.hemisphere_weights


def test_forecast_ignores_arise_rows_after_the_latest_map(tmp_path):
    from pinn.chain.forecast import run_forecast
    from pinn.config.schema import load_config
    from pinn.data.bundled import arise_table
    from pinn.errors import InputWarning

    full = arise.load_arise(arise_table())
    assert (full["cr"] >= 2281).any()  # the bundled table does know the forecast rotation and later
    raw = __import__("pandas").read_csv(arise_table())
    cut = tmp_path / "arise_to_2280.csv"
    raw[raw["CR"] < 2281].to_csv(cut, index=False)
    cfg = load_config(REPO / "pinn" / "config" / "forecast.yaml", TINY + [f"forecast.cache_dir={tmp_path / 'cache'}"])
    maps = [bundled_map(cr) for cr in (2279, 2280)]
    with pytest.warns(InputWarning, match="fewer than toroids.window"):
        a, b = [run_forecast(maps, cfg, arise=table) for table in (None, cut)]
    np.testing.assert_array_equal(a.dataset["emergence_density"].values, b.dataset["emergence_density"].values)
    np.testing.assert_array_equal(a.dataset["expected_count"].values, b.dataset["expected_count"].values)
    assert a.summary["hotspots"] == b.summary["hotspots"]
