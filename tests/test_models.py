"""Emergence-model registry: one registration puts a model in the hindcast's tables; fits are causal and written."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from pinn.chain import hindcast as hc
from pinn.chain.case import Case
from pinn.config.schema import load_config
from pinn.data.arise import ars_of, load_arise
from pinn.data.bundled import arise_table, bundled_map
from pinn.data.observations import load_synoptic
from pinn.emergence import density as dn
from pinn.emergence.fit_artifact import read_fit
from pinn.emergence.hybrid import static_ridge
from pinn.emergence.models import MODELS, Example, FixedModel, ModelInputs, register
from pinn.emergence.ridge_model import density_grid
from pinn.toroids.fit import fit_toroids

FLOOR = 0.2
TARGETS = (2276, 2277, 2278, 2279, 2280, 2281)


@pytest.fixture(scope="module")
def config():
    return load_config(None, ["forecast.output_nlat=90", "forecast.output_nlon=180"])


@pytest.fixture(scope="module")
def cases(config):
    """Cases of CR 2275-2280 whose 'predicted' ridge is the current toroids of CR 2280 (no training)."""
    _, lon = density_grid(config.forecast)
    ridge = static_ridge(fit_toroids(load_synoptic(bundled_map(2280)), config.toroids), lon)
    return [Case(t - 1, (t - 1,), ridge, ridge, {"north": 0.6, "south": 0.4}, bundled_map(2280)) for t in TARGETS]


def north_only(inputs: ModelInputs) -> xr.DataArray:
    """A toy model: uniform on the northern hemisphere, with a uniform floor."""
    north = np.repeat((inputs.lat > 0)[:, None], inputs.lon.size, axis=1).astype(float)
    return dn.density_dataarray(dn.with_floor(dn.normalise(north, inputs.lat, inputs.lon), FLOOR), inputs.lat, inputs.lon)


def test_a_registered_model_appears_in_the_hindcast_tables(cases, config, tmp_path):
    table = load_arise(arise_table())
    register(FixedModel("toy_north", "uniform on the north, floored", north_only))
    try:
        result = hc.rescore(cases, table, config, data_only_from=2270)
        hc.write_results(result, tmp_path)
    finally:
        MODELS.unregister("toy_north")
    assert "toy_north" not in MODELS.names()
    per_ar = __import__("pandas").read_csv(tmp_path / "per_ar.csv")
    truth = ars_of(table, list(TARGETS))
    assert len(per_ar) == len(truth) and "bits_toy_north" in per_ar
    # the analytic score: (1 - f) / (2 pi) + f / (4 pi) per sr in the north, f / (4 pi) in the south
    expect = np.where(per_ar["lat"] > 0, math.log2((1 - FLOOR) / (2 * math.pi) + FLOOR / (4 * math.pi)),
                      math.log2(FLOOR / (4 * math.pi)))
    np.testing.assert_allclose(result.per_ar["bits_toy_north"], expect, rtol=1e-12)
    np.testing.assert_allclose(per_ar["bits_toy_north"], expect, rtol=1e-5)  # the CSV keeps 6 digits
    assert {"toy_north_minus_band", "toy_north_minus_data_only"} <= set(result.summary["differences_bits"])
    assert result.summary["models"]["toy_north"] == "uniform on the north, floored"


def test_fits_are_causal_and_the_artifact_is_the_last_fit(cases, config, tmp_path):
    table = load_arise(arise_table())
    result = hc.rescore(cases, table, config, min_fit_rotations=2, data_only_from=2270, models=["data_only", "ridge",
                                                                                                    "hybrid"])
    rot = result.per_rotation.set_index("cr")
    # before 2 rotations are scored the ridge model keeps the config's start values and the hybrid is the prior
    start = config.emergence
    assert rot.loc[2276, "ridge_floor"] == start.floor and rot.loc[2277, "ridge_width_scale"] == start.width_scale
    assert rot.loc[2277, "hybrid_beta_d2"] == 0.0
    assert rot.loc[2278, "bits_hybrid"] != rot.loc[2278, "bits_data_only"]  # fitted from 2278 on
    # changing the ARs of the last rotation changes no earlier rotation's parameters (causal fits)
    cut = table[~((table["cr"] == 2281) & (table["lat"] > 0))]
    again = hc.rescore(cases, cut, config, min_fit_rotations=2, data_only_from=2270, models=["data_only", "ridge",
                                                                                               "hybrid"])
    earlier = again.per_rotation.set_index("cr").loc[:2280]
    for col in ("ridge_floor", "ridge_width_scale", "hybrid_beta_d2", "bits_ridge", "bits_hybrid"):
        np.testing.assert_allclose(earlier[col], rot.loc[:2280, col], rtol=1e-12, err_msg=col)
    # the artifact: fitted on every scored rotation, for the one after them, read back as written
    hc.write_results(result, tmp_path)
    fit = read_fit(tmp_path / "fit.json")
    assert fit.for_rotation == 2282 and fit.fitted_on == TARGETS and set(fit.models) == {"ridge", "hybrid"}
    assert fit.data_only_candidate == result.fit.data_only_candidate
    assert fit.models["hybrid"]["betas"] == pytest.approx(list(result.fit.models["hybrid"]["betas"]))


def test_causal_fits_sharing_per_case_work_equal_one_fit_at_a_time(cases, config):
    """causal_params uses a model's fit_subsets (each case prepared once for all its causal fits) when it has
    one: the fits must be exactly those of fit() called on each earlier subset."""
    table = load_arise(arise_table())
    record = hc.data_only_record(table, *density_grid(config.forecast), max(TARGETS), 2270)
    inputs = [hc.case_model_inputs(c, table, record, config) for c in cases]
    model = MODELS.get("hybrid")
    examples = [Example(i, model.prepare(i), ars_of(table, i.target)["lat"].values,
                           ars_of(table, i.target)["lon"].values) for i in inputs]
    shared = hc.causal_params(model, examples, config, min_fit_rotations=2, cache=False)
    for k, e in enumerate(examples):
        earlier = [x for x in examples if x.inputs.target < e.inputs.target]
        alone = model.fit(earlier, config) if len(earlier) >= 2 else model.unfitted(config)
        np.testing.assert_array_equal(shared[k].beta, alone.beta)
        np.testing.assert_array_equal(shared[k].beta_sd, alone.beta_sd)
        np.testing.assert_array_equal(shared[k].scale, alone.scale)
    assert np.any(shared[-1].beta != 0.0)  # fitted, not the prior


def test_cached_causal_fits_equal_computed_ones_and_any_input_change_recomputes(cases, config, tmp_path):
    """The fit cache (pinn.emergence.fit_cache) hands back the very fits it saved, and a change in what a fit reads
    (one AR moved by 1 deg) makes a new entry with a different fit instead of reusing the old one."""
    table = load_arise(arise_table())
    record = hc.data_only_record(table, *density_grid(config.forecast), max(TARGETS), 2270)
    inputs = [hc.case_model_inputs(c, table, record, config) for c in cases]
    for name in ("ridge", "hybrid"):
        model = MODELS.get(name)
        examples = [Example(i, model.prepare(i), ars_of(table, i.target)["lat"].values,
                            ars_of(table, i.target)["lon"].values) for i in inputs]
        computed = hc.causal_params(model, examples, config, 2, cache=False)
        first = hc.causal_params(model, examples, config, 2, cache_dir=tmp_path)
        saved = sorted(tmp_path.glob(f"fits-{name}-*.json"))
        again = hc.causal_params(model, examples, config, 2, cache_dir=tmp_path)
        assert len(saved) == 1 and sorted(tmp_path.glob(f"fits-{name}-*.json")) == saved  # the second call loaded it
        for a, b, c in zip(computed, first, again):
            assert model.to_json(a) == model.to_json(b) == model.to_json(c)
        moved = [*examples[:2], Example(examples[2].inputs, examples[2].prepared, examples[2].ar_lat + 1.0,
                                        examples[2].ar_lon), *examples[3:]]
        changed = hc.causal_params(model, moved, config, 2, cache_dir=tmp_path)
        assert len(list(tmp_path.glob(f"fits-{name}-*.json"))) == 2
        assert model.to_json(changed[-1]) != model.to_json(first[-1])
        assert model.to_json(changed[-1]) == model.to_json(hc.causal_params(model, moved, config, 2, cache=False)[-1])


def test_the_hybrids_tilt_the_data_only_stack_when_asked_and_the_forecast_reads_it_from_the_artifact(
        cases, tmp_path, monkeypatch):
    from pinn.chain.forecast import forecast_density, model_fit
    from pinn.emergence import data_only as do
    from pinn.errors import ConfigError

    monkeypatch.setattr(do, "MIN_ROTATIONS", 5)  # the stack is fitted from the 6th target of the record on
    stack_config = load_config(None, ["forecast.output_nlat=90", "forecast.output_nlon=180",
                                      "emergence.prior=data_only_stack"])
    table = load_arise(arise_table())
    result = hc.rescore(cases, table, stack_config, min_fit_rotations=3, data_only_from=2260,
                        models=["data_only", "data_only_stack", "hybrid"])
    rot = result.per_rotation.set_index("cr")
    # unfitted (fewer than 3 rotations scored) the hybrid is its prior: the stack, which is not the data-only choice
    np.testing.assert_allclose(result.per_ar.loc[result.per_ar["cr"] <= 2277, "bits_hybrid"],
                               result.per_ar.loc[result.per_ar["cr"] <= 2277, "bits_data_only_stack"], rtol=1e-12)
    assert not np.allclose(rot["bits_data_only_stack"], rot["bits_data_only"])
    assert "hybrid_minus_data_only_stack" in result.summary["differences_bits"]
    stack = result.fit.data_only_stack
    assert len(stack) >= 2 and sum(w for _, w in stack) == pytest.approx(1.0)
    hc.write_results(result, tmp_path)
    assert len({c for c, _ in stack}) == len(stack)  # one entry per distinct candidate
    assert read_fit(tmp_path / "fit.json").data_only_stack == stack  # JSON keeps every float digit
    # the causal model choice: per target the candidate with the most bits before it; the artifact holds the next one
    choice = result.summary["model_choice"]
    assert choice["candidates"] == ["data_only", "data_only_stack", "hybrid"]
    totals = result.per_ar[[f"bits_{m}" for m in choice["candidates"]]].sum()
    assert result.fit.chosen_model == choice["next"] == totals.idxmax().removeprefix("bits_")
    assert read_fit(tmp_path / "fit.json").chosen_model == choice["next"]
    assert set(rot["chosen_model"]) <= set(choice["candidates"])
    from pinn.chain.forecast import resolve_model
    chosen = resolve_model(load_config(None, [f"emergence.fit={tmp_path / 'fit.json'}", "emergence.model=chosen"]))
    assert chosen.emergence.model == choice["next"]
    with pytest.raises(ConfigError, match="emergence.model.*chosen.*emergence.fit"):
        resolve_model(load_config(None, ["emergence.model=chosen"]))
    # the forecast of the rotation after the fit pools the artifact's components with its weights
    fit_path = tmp_path / "fit.json"
    config = load_config(None, ["forecast.output_nlat=90", "forecast.output_nlon=180", f"emergence.fit={fit_path}",
                                "emergence.prior=data_only_stack", "emergence.model=data_only_stack"])
    fit = model_fit(config, 2282)
    history = table[table["cr"] < 2282]
    case = cases[-1].__class__(2281, (2281,), cases[-1].ridge, cases[-1].static_ridge, {"north": 0.6, "south": 0.4},
                               bundled_map(2280))
    got = forecast_density(case, config, history, fit)
    lat, lon = density_grid(config.forecast)
    np.testing.assert_allclose(got.density.values, do.pooled_density(history, stack, 2282, lat, lon).values, rtol=1e-12)
    assert got.record["data_only_stack"] == [list(c) for c in stack]
    # an artifact written before the stack existed is refused before any work, naming the key
    old = fit_path.read_text().replace('"data_only_stack"', '"unused"')
    (tmp_path / "old.json").write_text(old)
    with pytest.raises(ConfigError, match="emergence.fit.*no data-only stack"):
        model_fit(load_config(None, [f"emergence.fit={tmp_path / 'old.json'}", "emergence.prior=data_only_stack"]), 2282)
