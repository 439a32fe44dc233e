"""`pinn forecast` at further leads (forecast.leads): one density per lead, the default [1] output unchanged."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from test_forecast import REPO, TINY, run_cli

from pinn.chain.forecast import arise_history, run_forecast, write_outputs
from pinn.config.schema import load_config
from pinn.data.bundled import bundled_map
from pinn.emergence import density as dn
from pinn.emergence import ridges as rd
from pinn.emergence.data_only import candidate_density
from pinn.emergence.ridge_model import density_grid

CLASSICAL = [*TINY, "forecast.cache_dir=null", "forecast.start=classical", "forecast.weeks=10"]
LEAD1_VARS = {"emergence_density", "toroid_lat", "toroid_strength", "observation_lead_days", "expected_count",
              *(f"state_{k}" for k in ("u", "v", "h", "a", "b", "A"))}


def _forecast(extra: list[str]):
    cfg = load_config(REPO / "pinn" / "config" / "forecast.yaml", [*CLASSICAL, *extra])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer maps than toroids.window (2 bundled maps)
        return cfg, run_forecast([bundled_map(cr) for cr in (2279, 2280)], cfg)


@pytest.mark.slow  # two 10-week forecasts: 266 s on the shared 2-core CPU under load
def test_forecast_one_density_per_lead_and_lead_1_unchanged(tmp_path):
    """forecast.leads = [1, 2]: forecast.nc gains emergence_density_by_lead (lead, lat, lon) whose lead-1 slice is
    the one-rotation forecast, unchanged; the lead-2 slice is the forecast of N+2 (a normalised density read at the
    observation times of N+2, one rotation later; the data_only model's is the lead-2 data-only prior from ARs <= N);
    summary.json and the figures follow. With the default [1] nothing is added."""
    cfg1, one = _forecast(["emergence.model=data_only"])
    cfg2, two = _forecast(["emergence.model=data_only", "forecast.leads=[1, 2]"])
    assert set(one.dataset.data_vars) == LEAD1_VARS and "lead" not in one.dataset.dims and "leads" not in one.summary
    assert one.further == () and "leads" not in one.dataset.attrs
    for name in LEAD1_VARS:
        xr.testing.assert_identical(one.dataset[name], two.dataset[name])
    assert {k: v for k, v in two.summary.items() if k not in ("leads", "config")} == \
        {k: v for k, v in one.summary.items() if k != "config"}
    ds = two.dataset
    by_lead = ds["emergence_density_by_lead"]
    assert by_lead.dims == ("lead", "lat", "lon") and ds["lead"].values.tolist() == [1, 2]
    assert ds["forecast_rotation_by_lead"].values.tolist() == [2281, 2282] and ds.attrs["forecast_rotation"] == 2281
    np.testing.assert_array_equal(by_lead.sel(lead=1).values, ds["emergence_density"].values)
    lead2 = by_lead.sel(lead=2)
    assert dn.integral(lead2) == pytest.approx(1.0, abs=1e-6)
    days = ds["observation_lead_days_by_lead"]
    np.testing.assert_allclose(days.sel(lead=2) - days.sel(lead=1), rd.SYNODIC_DAYS, rtol=1e-9)
    lat, lon = density_grid(cfg2.forecast)
    history = arise_history(None, 2281)
    candidate = two.summary["emergence_model"]["data_only_candidate"]
    expect = candidate_density(history, 2282, lat, lon, candidate, lead=2)
    np.testing.assert_allclose(lead2.values, expect.values, rtol=1e-12)
    assert not np.allclose(lead2.values, candidate_density(history, 2282, lat, lon, candidate, lead=1).values)
    lead_entry = two.summary["leads"]["2"]
    assert lead_entry["forecast_rotation"] == 2282 and lead_entry["lead_time_days"][0] > rd.SYNODIC_DAYS
    assert two.summary["leads"]["1"]["hotspots"] == two.summary["hotspots"]
    write_outputs(one, tmp_path / "one", cfg1)
    write_outputs(two, tmp_path / "two", cfg2)
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["forecast.nc", "forecast.png",
                                                                     "resolved_config.yaml", "summary.json"]
    assert (tmp_path / "two" / "forecast_lead2.png").stat().st_size > 0
    with xr.open_dataset(tmp_path / "two" / "forecast.nc", engine="h5netcdf") as back:
        np.testing.assert_array_equal(back["emergence_density_by_lead"].sel(lead=2).values, lead2.values)
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["leads"]["2"]["forecast_rotation"] == 2282


def test_forecast_horizon_must_reach_the_largest_lead(tmp_path):
    """The hindcast's horizon rule holds for `pinn forecast`: 6 weeks cannot reach N+2, refused in one line before
    any work."""
    out = tmp_path / "out"
    proc = run_cli("forecast", str(bundled_map(2280)), "--out", str(out), "--set", "forecast.leads=[1, 2]")
    message = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message == ("pinn: error: config key 'forecast.weeks' = 6: shorter than the minimum 9.74 weeks (68.2 d: "
                       "when rotation N+2 sees its last longitude, the largest of forecast.leads = [1, 2], "
                       "forecast.output_nlon = 360)")
    assert "Traceback" not in proc.stderr and not out.exists()
