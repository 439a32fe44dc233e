"""The time-dependent PINN formulation (pinn.training.timedep): config choice, time input, map times and
frames, the full d/dt residual, causal weighting, training wiring, the t_N state, resume after SIGKILL,
and recovery of a known drift (slow)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import signal
from pathlib import Path

import astropy.units as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_training import assert_same_final_params, resume_child

from pinn.config.physics import model_units
from pinn.config.schema import load_config
from pinn.errors import ConfigError
from pinn.physics.constants import CARRINGTON_SYNODIC_DAYS
from pinn.physics.equations import SWTParams, primitive_residuals
from pinn.training import TrainingProgram, build_model, train_from_config
from pinn.training.networks import field_values
from pinn.training.timedep import (
    SeriesProblem,
    ToroidSeries,
    causal_pde,
    drifting_bump_series,
    field_derivatives_t,
    map_targets,
    pattern_drift_deg,
    problem_for,
    series_residuals,
    window_series,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = [  # tests/test_training.py's tiny network, time-dependent (the wiring and resume tests share programs)
    "network.width=16", "network.depth=2", "network.fourier_features=8", "network.fourier_sigma=1.0",
    "loss.collocation_points=128", "loss.quadrature_lats=8", "loss.quadrature_lons=4",
    "train.steps_per_call=5", "train.checkpoint_every=10", "train.log_every=5", "train.progress=false",
    "train.xla_opt_level=0", "train.formulation=time_dependent", "physics.strength_profile=observed",
    "physics.band_strength_kG=2.0", "network.flow_scale=0.05", "train.warmup_steps=0", "train.learning_rate=3e-3",
]
RATE = 0.03  # known drift of the synthetic bump, rad per model time unit (model frame)


def _series(cfg):
    return drifting_bump_series(cfg, RATE)


def test_config_selects_the_formulation_and_the_network_takes_time():
    """Default steady (network on (lat, lon), 3 + 2F inputs); time_dependent adds the time input and a
    window = the map times (model units, latest 0); settings it cannot honour are refused by key."""
    assert load_config(None, []).train.formulation == "steady"
    cfg = load_config(None, TINY)
    series = _series(cfg)
    prob = problem_for(cfg, series)
    assert isinstance(prob, SeriesProblem)
    model = build_model(cfg, prob)
    assert model.layers[0].kernel[...].shape == (3 + 2 * 8 + 1, 16)
    steady = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, formulation="steady"))
    sm = build_model(steady, problem_for(steady, series.latest))
    assert sm.layers[0].kernel[...].shape == (3 + 2 * 8, 16) and sm.time_norm is None
    period = model_units(cfg.physics).time_to_model(CARRINGTON_SYNODIC_DAYS * u.day)
    np.testing.assert_allclose(np.asarray(prob.map_time), [-2 * period, -period, 0.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(prob.window), [-2 * period, 0.0], rtol=1e-6)
    assert TrainingProgram.create(cfg, prob).time_dependent
    for bad, key in (("loss.derivatives=reverse", "loss.derivatives"), ("loss.w_div_tendency=1", "loss.w_div_tendency"),
                     ("train.warm_start=previous", "train.warm_start")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            problem_for(load_config(None, [*TINY, bad]), series)
    with pytest.raises(ConfigError, match=r"train\.formulation"):
        problem_for(steady, series)
    with pytest.raises(ConfigError, match=r"toroids\.window"):
        problem_for(load_config(None, [*TINY, "toroids.window=1", "toroids.causal_weights=[1]",
                                       "toroids.combine_weights=[1]"]), series.latest)


def test_map_targets_sit_in_the_model_frame_at_each_map_time():
    """Map k's bump, observed at Carrington lon_k, is at model longitude bump_lon + rate t_k (the known
    drift): the Carrington -> model frame shift (Omega_C - Omega_f) t_k is applied per map."""
    cfg = load_config(None, TINY)
    prob = problem_for(cfg, _series(cfg))
    lon = np.radians(np.arange(720) * 0.5)
    lat = np.full(lon.shape, np.radians(20.0))
    for k, t in enumerate(np.asarray(prob.map_time)):
        tgt, mask = map_targets(prob, jnp.asarray(lat, jnp.float32), jnp.asarray(lon, jnp.float32),
                                jnp.full(lon.shape, k, jnp.int32))
        peak = np.degrees(lon[np.argmax(np.abs(np.asarray(tgt)))])
        expect = (180.0 + np.degrees(RATE * t)) % 360.0
        assert abs((peak - expect + 180.0) % 360.0 - 180.0) < 0.6, (k, peak, expect)
        assert np.all(np.asarray(mask) == 1.0)
    # the window fit's fallback: the same band at each of toroids.window map times, 27.2753 d apart
    ws = window_series(_series(cfg).latest, cfg)
    assert len(ws.toroids) == cfg.toroids.window and ws.days[-1] == 0.0
    np.testing.assert_allclose(np.diff(ws.days), CARRINGTON_SYNODIC_DAYS)


def test_residual_is_the_full_time_dependent_system_with_the_network_time_derivative():
    """d/dt of the fields is the network's exact time derivative (vs central differences), and the residual
    is primitive_residuals with it (no pattern speed): removing it changes mom_u by exactly du/dt."""
    cfg = load_config(None, TINY)
    prob = problem_for(cfg, _series(cfg))
    model = build_model(cfg, prob)
    key = jax.random.key(3)
    lat = jax.random.uniform(key, (64,), jnp.float32, -1.2, 1.2)
    lon = jax.random.uniform(jax.random.fold_in(key, 1), (64,), jnp.float32, 0.0, 6.28)
    t = jax.random.uniform(jax.random.fold_in(key, 2), (64,), jnp.float32, float(prob.window[0]), 0.0)
    d, dt = jax.jit(field_derivatives_t)(model, lat, lon, t)
    eps = 0.1  # model time units (the window is ~12.7): float32 round-off of h ~ 1 stays below 1e-6 / eps
    values = jax.jit(lambda m, tt: field_values(m, lat, lon, "forward", tt).fields)
    plus, minus = values(model, t + eps), values(model, t - eps)
    for name in ("u", "v", "h", "a", "b"):
        fd = (np.asarray(getattr(plus, name)) - np.asarray(getattr(minus, name))) / (2 * eps)
        np.testing.assert_allclose(np.asarray(getattr(dt.fields, name)), fd, rtol=2e-2,
                                   atol=1e-2 * float(np.abs(fd).max()) + 1e-9)
    res, _ = jax.jit(series_residuals)(model, prob, lat, lon, t)
    zero = type(dt.fields)(*(jnp.zeros_like(x) for x in dt.fields))
    still = primitive_residuals(lat, lon, d.q.fields, zero, d.dlat.fields, d.dlon.fields,
                                SWTParams(gravity=float(prob.latest.gravity)))
    np.testing.assert_allclose(np.asarray(res.momentum_u - still.momentum_u), np.asarray(dt.fields.u), rtol=1e-4,
                               atol=1e-7)
    np.testing.assert_allclose(np.asarray(res.induction_a - still.induction_a), np.asarray(dt.fields.a), rtol=1e-4,
                               atol=1e-7)
    assert float(np.abs(np.asarray(dt.fields.a)).max()) > 0  # a random network does depend on time


def test_causal_weights_follow_the_cumulative_residual_of_earlier_slices():
    losses = jnp.asarray([1.0, 3.0, 2.0, 4.0, 0.5, 0.5, 6.0, 2.0])
    slices = jnp.asarray([0, 1, 2, 3, 0, 1, 2, 3])
    plain, w0 = causal_pde(losses, slices, 4, 0.0)
    assert float(plain) == pytest.approx(float(jnp.mean(losses)))
    np.testing.assert_array_equal(np.asarray(w0), 1.0)
    value, w = causal_pde(losses, slices, 4, 0.5)
    means = np.array([0.75, 1.75, 4.0, 3.0])
    expect_w = np.exp(-0.5 * np.array([0.0, 0.75, 2.5, 6.5]))
    np.testing.assert_allclose(np.asarray(w), expect_w, rtol=1e-6)
    assert float(value) == pytest.approx(float(np.mean(expect_w * means)), rel=1e-6)


def test_pattern_drift_reads_a_known_shift():
    lon = np.arange(360.0)
    f = np.exp(np.cos(np.radians(lon - 100.0)))
    g = np.exp(np.cos(np.radians(lon - 117.4)))
    assert pattern_drift_deg(f, g, lon) == pytest.approx(17.4, abs=0.1)
    assert pattern_drift_deg(g, f, lon) == pytest.approx(-17.4, abs=0.1)


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_time_dependent_training_lowers_the_loss_and_hands_over_the_t_N_state(tmp_path):
    """A few Adam steps lower the loss; state.nc is the network at t_N (finite, formulation attr, no pattern
    speed), and its a_obs is the latest map's band (bump at model lon 180, not where earlier maps had it)."""
    cfg = load_config(None, [*TINY, "train.adam_steps=40", "train.checkpoint_every=40"])
    series = _series(cfg)
    res = train_from_config(cfg, series, tmp_path)
    state = res.state
    assert res.steps == 40
    assert state.attrs["formulation"].startswith("time-dependent") and state.attrs["pattern_speed_model"] == 0.0
    for name in ("u", "v", "h", "a", "b", "A"):
        assert state[name].dims == ("lat", "lon") and np.all(np.isfinite(state[name].values))
    row = state.a_obs.sel(lat=19.0, method="nearest").values
    assert abs(float(state.lon.values[np.argmax(np.abs(row))]) - 180.0) < 2.5
    # the state is the network at t = 0 (not at another time of the window)
    prob = problem_for(cfg, series)
    la, lo = np.meshgrid(np.radians(state.lat.values), np.radians(state.lon.values), indexing="ij")
    values = jax.jit(lambda m, tt: field_values(m, jnp.asarray(la, jnp.float32), jnp.asarray(lo, jnp.float32),
                                                "forward", jnp.full(la.shape, tt, jnp.float32)).fields.a)
    np.testing.assert_allclose(state.a.values, np.asarray(values(res.model, 0.0)), rtol=1e-5, atol=1e-7)
    assert not np.allclose(np.asarray(values(res.model, float(prob.window[0]))), state.a.values)
    # the data term pulled a toward the bands: the north band has the north sign (a < 0) at the state
    north = state.a.sel(lat=slice(12, 28)).mean().item()
    south = state.a.sel(lat=slice(-28, -12)).mean().item()
    assert north < 0 < south
    # the loss went down (metrics.jsonl: steps 0, 5, ..., 35 and the last, 39)
    lines = [json.loads(t) for t in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == [*range(0, 40, 5), 39]
    assert lines[-1]["loss"] < 0.1 * lines[0]["loss"], [ln["loss"] for ln in lines]


# ---------------------------------------------------------------------------------------------
# SIGKILL, then resume == uninterrupted

@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_time_dependent_sigkill_then_resume_gives_the_uninterrupted_parameters(tmp_path):
    """Killed after its first checkpoint (step 10 of 20), resumed: bit-identical to a run never killed."""
    overrides = [*TINY, "train.adam_steps=20", "seed=5"]
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    p = resume_child(killed, 10, False, overrides, "drifting_bump")
    _, err = p.communicate(timeout=600)
    assert p.returncode == -signal.SIGKILL, err[-2000:]
    assert not (killed / "state.nc").exists()
    p_resume = resume_child(killed, 0, True, overrides, "drifting_bump")
    p_straight = resume_child(straight, 0, False, overrides, "drifting_bump")
    out_r, err_r = p_resume.communicate(timeout=600)
    assert p_resume.returncode == 0, err_r[-2000:]
    assert int(out_r.split("RESUMED_FROM")[1].split()[0]) == 10
    _, err_s = p_straight.communicate(timeout=600)
    assert p_straight.returncode == 0, err_s[-2000:]
    assert_same_final_params(killed, straight)
    import xarray as xr

    with xr.open_dataset(killed / "state.nc", engine="h5netcdf") as ds:
        assert ds.attrs["formulation"].startswith("time-dependent")
        assert np.all(np.isfinite(ds.a.values))
    # the toroid series the run trained on is written with the run and reads back
    from pinn.training import read_toroids_json

    back = read_toroids_json(killed / "toroids.json")
    assert isinstance(back, ToroidSeries) and back.days == _series(load_config(None, overrides)).days


# ---------------------------------------------------------------------------------------------
# Known drift (slow; experiments/timedep/README.md records the numbers)


def _drift_experiment():
    spec = importlib.util.spec_from_file_location("timedep_drift", ROOT / "experiments" / "timedep" / "drift.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_time_dependent_pinn_recovers_a_known_drift():
    """Bands whose strength bump drifts at 0.03 rad per time unit (model frame) over 3 maps
    (experiments/timedep/drift.yaml, ~6 min on a loaded 2-core machine): the trained time-dependent
    network's pattern drifts at that rate within 30 % (measured 0.0238 and 0.0227, 21-24 % low); the steady formulation,
    given the latest map alone, does not see the drift (|c| < 10 % of it; measured -4e-6). The flow that
    carries the pattern is not asserted: it is not recovered yet (experiments/timedep/README.md)."""
    out = _drift_experiment().run(RATE)
    td, st = out["time_dependent"], out["steady"]
    assert td["pattern_drift"] == pytest.approx(RATE, rel=0.30), out
    assert abs(st["pattern_speed"]) < 0.1 * RATE, out
    assert math.isfinite(td["flow_rate_mid"]) and math.isfinite(st["flow_rate"])


def assert_flow_carries_the_drift(out: dict, rate: float = RATE, rel: float = 0.30) -> None:
    """The time-dependent run's pattern drift and its flow at the band (zonal-mean u / cos(lat) at 20 deg,
    mid window: MLP + solid body) both within ``rel`` of the known ``rate`` (rad per model time unit)."""
    td = out["time_dependent"]
    assert td["pattern_drift"] == pytest.approx(rate, rel=rel), out
    assert td["flow_rate_mid"] == pytest.approx(rate, rel=rel), out


@pytest.mark.slow
def test_time_dependent_pinn_recovers_the_flow_that_carries_a_known_drift():
    """The same known drift (0.03 rad per time unit) under experiments/timedep/flow.yaml (natural residual
    scales, a trainable solid-body carrier started at the maps' drift, w_data 100, 6000 Adam steps; 4-11 min on
    a loaded 2-core machine): the flow the network recovers at the band (MLP + solid body, mid window) carries
    the pattern at the known rate within 30 %, and the pattern drifts at that rate within 30 % (measured: flow
    82, 89 and 90 % of it for seeds 0, 1, 2, pattern 98-99 %). With w_data 1 (drift.yaml's weight) the flow
    stays near 0 and this fails (experiments/timedep/README.md, second table)."""
    out = _drift_experiment().run(RATE, config_path=ROOT / "experiments" / "timedep" / "flow.yaml", steady=False)
    assert_flow_carries_the_drift(out)
