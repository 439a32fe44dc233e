"""Lead time: forecasts of N+L from maps and ARs up to N only (ridges, horizon, data-only record, causal fits)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_forecast import band_trajectory

from pinn.chain import case as cs
from pinn.chain import leads as ld
from pinn.config.schema import load_config
from pinn.data import arise
from pinn.data.bundled import arise_table
from pinn.emergence import baselines as bl
from pinn.emergence import data_only as do
from pinn.emergence import density as dn
from pinn.emergence import ridges as rd
from pinn.errors import ConfigError
from pinn.scoring import scores as ev

LAT = -89.0 + 2.0 * np.arange(90)
LON = 1.0 + 2.0 * np.arange(180)
P = rd.SYNODIC_DAYS


@pytest.fixture(scope="module")
def table():
    return arise.load_arise(arise_table())


def test_ridge_read_at_the_observation_times_of_n_plus_lead():
    # a centre line that moves 0.1 deg/day poleward: at lead 2 every longitude is seen one rotation later
    traj = band_trajectory(lat0=15.0, drift_lat_per_day=0.1, days=75.0)
    pred = rd.predicted_toroids(traj)
    lon = np.arange(0.5, 360.0, 1.0)
    np.testing.assert_allclose(rd.lead_days(lon, lead=2), rd.lead_days(lon) + P)
    one, two = (rd.toroids_at_observation(pred, lon, 0.0, lead=k) for k in (1, 2))
    np.testing.assert_allclose(two["lead_days"].values, rd.lead_days(lon) + P)
    north = two["ridge_lat"].sel(hemisphere="north").values
    np.testing.assert_allclose(north, 15.0 + 0.1 * (rd.lead_days(lon) + P), atol=0.1)
    np.testing.assert_allclose(north - one["ridge_lat"].sel(hemisphere="north").values, 0.1 * P, atol=0.05)
    with pytest.raises(Exception, match="shorter than the latest observation lead"):
        rd.toroids_at_observation(pred, lon, 0.0, lead=3)  # 75 d < 3.5 rotations


def test_horizon_follows_the_largest_lead():
    fc = load_config(None, ["forecast.output_nlon=180", "forecast.leads=[1, 2]"]).forecast
    assert rd.minimum_horizon_days(180, lead=2) == pytest.approx(P * (1.5 + 359.0 / 360.0))
    assert cs.minimum_weeks(fc, 2) == pytest.approx(cs.minimum_weeks(fc) + P / 7.0)
    with pytest.raises(ConfigError, match=r"'forecast.weeks' = 6: shorter than the minimum 9.74 weeks \(68.1 d: when "
                                          r"rotation N\+2 sees its last longitude, the largest of forecast.leads = \[1, 2\]"):
        cs.check_leads(fc)
    assert cs.check_leads(load_config(None, ["forecast.leads=[1, 2]", "forecast.weeks=10"]).forecast) == (1, 2)
    with pytest.raises(ConfigError, match=r"'forecast.leads' = \[2\]: must start with 1"):
        cs.check_leads(load_config(None, ["forecast.leads=[2]", "forecast.weeks=14"]).forecast)
    with pytest.raises(ConfigError, match="forecast.leads"):
        load_config(None, ["forecast.leads=[2, 1]"])


def test_prequential_choice_at_lead_uses_targets_known_at_n():
    # column b wins only on target 4: the choice for target 5 sees it at lead 1 (targets <= 4), not at lead 2 (<= 3)
    scores = pd.DataFrame({"cr": [1, 2, 3, 4, 5, 6], "a": [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0],
                           "b": [-1.5, -1.5, -1.5, 2.0, -1.0, -1.0]})
    _, one = do.prequential(scores, ["a", "b"], "a", min_rotations=2, lead=1)
    _, two = do.prequential(scores, ["a", "b"], "a", min_rotations=2, lead=2)
    assert one.tolist() == ["a", "a", "a", "a", "b", "b"]
    assert two.tolist() == ["a", "a", "a", "a", "a", "b"]  # target 3: only 1 known (< min_rotations): default
    _, three = do.prequential(scores, ["a", "b"], "a", min_rotations=0, lead=3)
    assert three.tolist() == ["a", "a", "a", "a", "a", "a"]  # target 6 knows targets <= 3 only


def _target_scores(table, target, lead):
    index_da = dn.density_dataarray(np.arange(LAT.size * LON.size, dtype=float).reshape(LAT.size, LON.size), LAT, LON)
    counts = bl.hemisphere_counts(table, int(table["cr"].min()), int(table["cr"].max()), do.UNOBSERVED)
    return do.target_scores(table, counts, bl.analog_library(table, target), target, LAT, LON, index_da, lead)


def test_data_only_candidates_at_lead_2_ignore_rows_after_n(table):
    target = 2270  # N = 2268 at lead 2
    # another rotation N+1 and later rotations: rows of 2269 moved, rows after the target made up
    moved = table[table["cr"] == 2269].assign(lat=lambda d: -d["lat"], lon=lambda d: np.mod(d["lon"] + 90.0, 360.0))
    later = table[table["cr"] == 2250].assign(cr=2275)
    other = pd.concat([table[table["cr"] != 2269], moved, later], ignore_index=True)
    two = _target_scores(table, target, 2)
    pd.testing.assert_frame_equal(_target_scores(other, target, 2), two)
    one = _target_scores(table, target, 1)
    assert not np.allclose(_target_scores(other, target, 1).iloc[:, 3:].values, one.iloc[:, 3:].values)  # lead 1 reads 2269
    truth = arise.ars_of(table, target)
    band = dn.band_density(arise.ars_of(table, range(2264, 2269)), LAT, LON)  # the ARs of N-4..N
    np.testing.assert_allclose(two["band"], ev.log2_likelihood(band, truth["lat"], truth["lon"]), atol=1e-12)
    # the densities the record rebuilds at lead 2 are the ones it scored
    for text in ("b0 f0.05 s0.8", "bw3.0 K3 d0.5 m0.3 f0.03 s0.8", "cw2.0 K2 d1.0 m0.1 f0.01 sNone"):
        dens = do.candidate_density(other, target, LAT, LON, text, lead=2)
        assert dn.integral(dens) == pytest.approx(1.0, rel=1e-9)
        np.testing.assert_allclose(ev.log2_likelihood(dens, truth["lat"], truth["lon"]), two[text], atol=1e-9)


def test_data_only_kernels_carried_two_rotations(table):
    # one AR of N, carried to the observation times of N+2: the kernel's peak moves by the surface rate x 2 P
    ar = pd.DataFrame({"cr": [2268], "lat": [30.0], "lon": [200.0]})
    kern = bl.carried_kernels(ar, 2270, LAT, LON, 3.0)[0]
    row = kern[np.argmin(abs(LAT - 31.0))]
    days = bl.observed_jd(2270, LON[np.argmax(row)]) - bl.observed_jd(2268, 200.0)
    assert 2 * P < days < 2.25 * P  # the AR's longitude recedes (30 deg lags Carrington): seen a little later
    expected = bl.carry_lon(200.0, 30.0, days)
    assert abs((LON[np.argmax(row)] - expected + 180.0) % 360.0 - 180.0) <= 2.0
    assert abs(float(bl.drift_deg_per_day(30.0)) * 2 * P) > 10.0  # the carry is well resolved by the 2-deg grid


def test_score_methods_at_lead_2_causal_and_no_leakage(table, monkeypatch):
    # fewer rotations before a causal choice, so the choices (not the defaults) are what the test compares
    real = do.prequential
    monkeypatch.setattr(do, "prequential", lambda *a, **k: real(*a, **(k | {"min_rotations": 3})))
    targets = do.default_targets(table, 2240, 2252, lead=2)
    full = do.score_methods(table, LAT, LON, targets, lead=2)
    # drop rotation N+1 = 2251 and everything after the target 2252: nothing of the lead-2 forecast of 2252 changes
    cut_table = table[(table["cr"] <= 2252) & (table["cr"] != 2251)]
    cut = do.score_methods(cut_table, LAT, LON, do.default_targets(cut_table, 2240, 2252, lead=2), lead=2)
    assert 2251 in targets and 2251 not in cut.choices.index
    pd.testing.assert_series_equal(full.choices.loc[2252], cut.choices.loc[2252])
    pd.testing.assert_frame_equal(full.bits[full.bits["cr"] == 2252].reset_index(drop=True),
                                  cut.bits[cut.bits["cr"] == 2252].reset_index(drop=True))
    assert (full.choices["choice_nests_hemi"] != do.DEFAULTS["nests_hemi"]).any()  # choices were made
    # the record's density of the data-only choice at lead 2 reproduces its score
    truth = arise.ars_of(table, 2252)
    dens = do.method_density(table, full, 2252, "data_only", LAT, LON, lead=2)
    np.testing.assert_allclose(ev.log2_likelihood(dens, truth["lat"], truth["lon"]),
                               full.bits.loc[full.bits["cr"] == 2252, "data_only"], atol=1e-9)


def test_lead_cases_and_tables():
    lon = np.arange(1.0, 360.0, 2.0)
    def ridge(value):
        return xr.Dataset({"ridge_lat": (("hemisphere", "lon"), np.full((2, lon.size), value))},
                          coords={"hemisphere": ["north", "south"], "lon": lon})

    cases = [cs.Case(n, (n,), ridge(1.0), ridge(0.0), {}, cs.Path("x"), lead_ridges={2: ridge(2.0)})
             for n in (10, 11, 12)]
    with_ars = {11, 12, 13, 14}.__contains__
    assert ld.eligible_rotations([9, 10, 11, 12], with_ars, (1, 2)) == [9, 10, 11, 12]
    assert ld.eligible_rotations([9, 10, 11, 12], with_ars, (1,), crs=[12]) == [11]
    assert ld.eligible_rotations([9, 10, 11, 12], with_ars, (1, 2), crs=[12]) == [10, 11]
    views = ld.lead_cases(cases, 2, with_ars)
    assert [(v.cr, v.target, v.lead) for v in views] == [(10, 12, 2), (11, 13, 2), (12, 14, 2)]
    assert float(views[0].ridge["ridge_lat"].mean()) == 2.0 and float(views[0].static_ridge["ridge_lat"].mean()) == 0.0
    with pytest.raises(Exception, match="no predicted ridge for lead 3"):
        cases[0].at_lead(3)
    table = ld.join_tables({1: pd.DataFrame({"cr": [11], "x": [1.0]}), 2: pd.DataFrame({"cr": [12], "x": [2.0]})})
    assert table.columns.tolist() == ["cr", "lead", "x"] and table["lead"].tolist() == [1, 2]


def test_case_with_lead_ridges_saves_and_loads(tmp_path):
    traj = band_trajectory(lat0=15.0, drift_lat_per_day=0.1, days=75.0)
    pred = rd.predicted_toroids(traj)
    lon = np.arange(1.0, 360.0, 2.0)
    ridges = {k: rd.toroids_at_observation(pred, lon, -0.5, lead=k) for k in (1, 2)}
    case = cs.Case(2279, (2278, 2279), ridges[1], ridges[1], {"north": 0.5, "south": 0.5}, tmp_path / "m.fits",
                   lead_ridges={2: ridges[2]})
    case.save(tmp_path / "c.nc")
    back = cs.Case.load(tmp_path / "c.nc")
    assert back.lead == 1 and back.target == 2280 and set(back.lead_ridges) == {2}
    view = back.at_lead(2)
    assert view.target == 2281
    for name in ("ridge_lat", "ridge_sigma", "ridge_strength", "mean_strength", "lead_days"):
        np.testing.assert_allclose(view.ridge[name].values, ridges[2][name].values, rtol=1e-6)
        np.testing.assert_allclose(back.ridge[name].values, ridges[1][name].values, rtol=1e-6)
    with pytest.raises(ValueError, match="lead-1 case"):
        view.save(tmp_path / "v.nc")


LEAD_CONFIG = ["forecast.start=classical", "solver.balance_start=false", "forecast.weeks=10", "forecast.leads=[1, 2]", "forecast.cache_dir=null"]


def _hindcast_dir(root, maps: tuple[int, ...], rows: pd.DataFrame):
    """A data folder with the bundled maps of ``maps`` and an ARISE table of ``rows`` (the raw CSV's rows)."""
    import shutil

    from pinn.data.bundled import bundled_map

    (root / "maps").mkdir(parents=True)
    for cr in maps:
        shutil.copy(bundled_map(cr), root / "maps" / f"hmi.Synoptic_Mr_small.{cr}.fits")
    rows.to_csv(root / "ARISE_database_remove_repeat_ARs.csv", index=False)
    return root


def test_hindcast_lead_2_row_of_n_ignores_maps_and_ars_after_n(tmp_path):
    """The lead-2 forecast of N = 2279 (scoring 2281) is the same whether or not the map of 2280 and the ARISE rows
    of 2280 (and after 2281) exist: every model, the data-only choice and every causal fit (min_fit_rotations=1, so
    the fits run) use maps and ARs up to N only. Classical start, tiny grids: no PINN is trained."""
    from test_forecast import TINY

    from pinn.chain import hindcast as hc

    raw = pd.read_csv(arise_table())
    cfg = load_config(cs.Path(__file__).resolve().parents[1] / "pinn" / "config" / "forecast.yaml", TINY + LEAD_CONFIG)
    known = _hindcast_dir(tmp_path / "known", (2277, 2278, 2279), raw[(raw["CR"] <= 2279) | (raw["CR"] == 2281)])
    more = _hindcast_dir(tmp_path / "more", (2277, 2278, 2279, 2280), raw)
    runs = {name: hc.run_hindcast(root, cfg, tmp_path / f"out_{name}", crs=[2279, 2280, 2281], progress=False,
                                  data_only_from=2255, min_fit_rotations=1)
            for name, root in (("known", known), ("more", more))}

    def row(result, table, cr, lead):
        frame = getattr(result, table)
        return frame[(frame["cr"] == cr) & (frame["lead"] == lead)].reset_index(drop=True)

    a, b = runs["known"], runs["more"]
    assert sorted(zip(b.per_rotation["cr"], b.per_rotation["lead"])) == [(2279, 1), (2279, 2), (2280, 1), (2280, 2),
                                                                         (2281, 1), (2281, 2)]
    assert sorted(zip(a.per_rotation["cr"], a.per_rotation["lead"])) == [(2279, 1), (2279, 2), (2281, 2)]
    for table in ("per_ar", "per_rotation"):
        pd.testing.assert_frame_equal(row(a, table, 2281, 2), row(b, table, 2281, 2))
    assert len(row(b, "per_ar", 2281, 2)) == int((raw["CR"] == 2281).sum()) > 0
    # the data-only stack is fitted (not the band it starts from) and, by the equality above, from targets <= N only
    assert not np.allclose(row(b, "per_ar", 2281, 2)["bits_data_only_stack"], row(b, "per_ar", 2281, 2)["bits_band"])
    # the fits ran: the lead-2 fit for 2281 saw the target 2279 (N = 2277), never 2280
    assert row(b, "per_rotation", 2281, 2)["hybrid_beta_d2"].item() != 0.0
    # and the lead-1 forecast of 2281 (from N = 2280) is another forecast
    assert not np.allclose(row(b, "per_ar", 2281, 1)["bits_ridge"], row(b, "per_ar", 2281, 2)["bits_ridge"])
    # summary.json: lead 1 at the top (as before leads), every lead under 'leads', paired against data-only
    s = b.summary
    assert s["n_rotations"] == 3 and set(s["leads"]) == {"1", "2"} and s["leads"]["2"]["n_rotations"] == 3
    assert s["leads"]["1"]["mean_bits"] == s["mean_bits"]
    assert "band_minus_data_only" in s["leads"]["2"]["differences_bits"]
    written = pd.read_csv(tmp_path / "out_more" / "per_ar.csv")
    assert written.columns[:2].tolist() == ["cr", "lead"] and sorted(set(written["lead"])) == [1, 2]


@pytest.mark.parametrize(("leads", "message"), [
    ("1,x", r"--leads '1,x' must look like 1,2,3"),
    ("1,0", r"--leads"),
    ("2,3", r"'forecast.leads' = \[2, 3\]: must start with 1"),
    ("1,2", r"'forecast.weeks' = 6: shorter than the minimum 9.74 weeks .* N\+2 .*forecast.leads = \[1, 2\]"),
])
def test_cli_leads_flag_refuses_bad_values_in_one_line(tmp_path, capsys, leads, message):
    from pinn.cli import main

    raw = tmp_path / "raw"
    raw.mkdir()
    code = main(["hindcast", "--data-dir", str(raw), "--out", str(tmp_path / "o"), "--leads", leads,
                 "--set", "forecast.output_nlon=180"])
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if x.startswith("pinn: error:")]
    assert code == 2 and "Traceback" not in err
    assert re.search(message, line), line
    assert not (tmp_path / "o" / "cases").exists()  # refused before any work


def test_climatology_without_analogs_scores_finite_bits(table):
    # lead 3 of CR 1913: the ARs up to N = 1910 are one southern AR (CR 1909) and no analog rotation exists yet, so the
    # climatology falls back to the band (410 climatology candidates scored NaN bits before)
    assert arise.ars_of(table, range(1906, 1911))["lat"].lt(0).all()
    scores = _target_scores(table, 1913, 3)
    assert np.isfinite(scores.iloc[:, 3:].values).all()
    truth = arise.ars_of(table, 1913)
    for text in ("b0 f0.05 s0.8", "bw3.0 K3 d0.5 m0.3 f0.03 s0.5"):
        dens = do.candidate_density(table, 1913, LAT, LON, text, lead=3)
        np.testing.assert_allclose(ev.log2_likelihood(dens, truth["lat"], truth["lon"]), scores[text], atol=1e-9)
    # no analog yet: the climatology is the band of N-4..N with the climatology's floor (it was the band without a
    # floor, which its callers then unfloored again: negative densities, NaN bits for floors under 0.05)
    clim = bl.climatology_density(table, 1911, LAT, LON)
    np.testing.assert_allclose(clim.values, dn.band_density(arise.ars_of(table, range(1906, 1911)), LAT, LON).values)
