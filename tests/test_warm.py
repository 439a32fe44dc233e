"""Warm start of batched PINN trainings: the stopping rule, fewer steps from a nearby network, same state.

Small settings: the tiny network of the forecast tests, 200 Adam steps checked every 20. The source is
trained cold on the axisymmetric band at 15 deg; the target band sits at 17 deg (about the drift of the
toroids over a year of rotations).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from test_forecast import TINY
from test_state_cache import REPO, TOROIDS

from pinn.config.schema import load_config
from pinn.training import axisymmetric_reference, band_toroids, train_batch
from pinn.training.losses import TERM_NAMES, make_problem
from pinn.training.state_cache import pinn_states, state_cache_key
from pinn.training.warm import StopRule, loss_levels, mean_problem

SMALL = [o for o in TINY if not o.startswith(("train.adam_steps", "train.steps_per_call", "train.checkpoint_every",
                                              "train.output_nlat"))]
SMALL += ["train.adam_steps=200", "train.steps_per_call=20", "train.checkpoint_every=20",
          "train.warm_check_every=20", "train.output_nlat=90"]
TOL = 1.5  # train.warm_tolerance of the tests (the default)
RIDGE_TOL_DEG = 1.0  # warm vs cold ridge latitude
STRENGTH_TOL = 0.15  # warm vs cold ridge strength, relative (the cold state itself moves ~20% from 200 to 300 steps)


@pytest.fixture(scope="module")
def cfg():
    return load_config(REPO / "pinn" / "config" / "forecast.yaml", SMALL)


@pytest.fixture(scope="module")
def runs(cfg):
    """Source (cold, band at 15 deg), and for the band at 17 deg: cold to the end, warm from the source."""
    source = train_batch(cfg, [make_problem(cfg, band_toroids(15.0), 20.0)])
    rule = StopRule(np.asarray(source.levels[0]), TOL)
    target = make_problem(cfg, band_toroids(17.0), 20.0)
    cold = train_batch(cfg, [target])
    warm = train_batch(cfg, [target], start=jax.tree.map(lambda x: x[0], source.train_state), stop=rule)
    return source, rule, target, cold, warm


def ridge(ds) -> tuple[float, float]:
    """Northern ridge of the toroidal field: half-maximum centroid latitude (deg) of the zonal mean |a|
    and its peak (model units)."""
    a = np.abs(ds["a"].values).mean(axis=1)
    lat = ds["lat"].values
    a, lat = a[lat > 0], lat[lat > 0]
    w = np.clip(a - 0.5 * a.max(), 0.0, None)
    return float(np.sum(w * lat) / np.sum(w)), float(a.max())


def test_stop_rule_compares_pde_and_data_levels_with_the_reference():
    terms = np.zeros((3, 4, len(TERM_NAMES)))
    terms[:, :, 0] = [[0.1], [0.3], [0.1]]  # one residual term: mom_u
    terms[:, :, TERM_NAMES.index("data")] = [[0.2], [0.2], [0.5]]
    terms[0, 0, TERM_NAMES.index("prior")] = 99.0  # other groups are not part of the rule
    np.testing.assert_allclose(loss_levels(terms), [[0.1, 0.2], [0.3, 0.2], [0.1, 0.5]])
    rule = StopRule(np.array([0.1, 0.2]), 1.5)
    assert rule.met(terms).tolist() == [True, False, False]
    assert StopRule(np.array([0.1, 0.2]), 1.5, (3.0, 1, 1, 1, 1, 1)).met(terms).tolist() == [False] * 3


def test_warm_start_from_nearby_toroids_stops_sooner_at_the_cold_state(cfg, runs):
    source, rule, _, cold, warm = runs
    met = np.all(cold.level_history[0] <= TOL * rule.reference, axis=-1)  # per chunk of the cold run
    assert met.any(), "the cold run never reaches the tolerance: the test's settings are too small"
    cold_steps = cold.chunk_ends[int(np.argmax(met))]
    assert warm.steps[0] < cold_steps / 3, (warm.steps, cold_steps)
    assert np.all(np.asarray(warm.levels[0]) <= TOL * rule.reference)
    (lat_c, s_c), (lat_w, s_w) = ridge(cold.states[0]), ridge(warm.states[0])
    assert abs(lat_w - lat_c) < RIDGE_TOL_DEG, (lat_w, lat_c)
    assert abs(s_w / s_c - 1.0) < STRENGTH_TOL, (s_w, s_c)
    # and the warm strength is no further from the exact axisymmetric band's than the cold one's
    lat = cold.states[0]["lat"].values
    exact = np.abs(axisymmetric_reference(cfg, band_toroids(17.0), lat, 20.0)["a"])[lat > 0].max()
    assert abs(s_w - exact) <= abs(s_c - exact) + 0.02 * exact, (s_w, s_c, exact)
    lat_s, _ = ridge(source.states[0])
    assert lat_w - lat_s > 0.5, "the warm state did not move from the source's ridge towards its own toroids"


def test_stopping_rule_stops_at_the_first_check_within_tolerance(cfg, runs):
    """A cold run under the rule stops at the first chunk whose levels the uninterrupted run shows within
    tolerance, and a rule never met runs to train.adam_steps."""
    _, rule, target, cold, _ = runs
    met = np.all(cold.level_history[0] <= TOL * rule.reference, axis=-1)
    stopped = train_batch(cfg, [target], stop=rule)
    assert stopped.steps[0] == cold.chunk_ends[int(np.argmax(met))] < cfg.train.adam_steps
    np.testing.assert_allclose(stopped.levels[0], cold.level_history[0, int(np.argmax(met))], rtol=1e-4)
    never = train_batch(cfg, [target], stop=StopRule(np.zeros(2), TOL))
    assert never.steps[0] == cfg.train.adam_steps


def test_cache_key_names_the_warm_source(cfg):
    from pinn.training import read_toroids_json

    toroids = read_toroids_json(TOROIDS)
    warm = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, warm_start="batch_mean"))
    cold_key = state_cache_key(toroids, cfg, 20.0)
    assert state_cache_key(toroids, warm, 20.0) == cold_key  # a cold state keeps its key
    a, b = state_cache_key(toroids, warm, 20.0, "batch_mean:1"), state_cache_key(toroids, warm, 20.0, "batch_mean:2")
    assert len({cold_key, a, b}) == 3
    looser = dataclasses.replace(warm, train=dataclasses.replace(warm.train, warm_tolerance=3.0))
    assert state_cache_key(toroids, looser, 20.0, "batch_mean:1") != a


def test_batch_mean_states_are_cached_under_their_source(cfg, tmp_path, monkeypatch):
    """pinn_states with batch_mean: the mean problem is the mean of the batch, each state is keyed on it,
    and a second call reads the cache without training."""
    warm = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, warm_start="batch_mean", adam_steps=40),
                               forecast=dataclasses.replace(cfg.forecast, cache_dir=str(tmp_path)))
    toroids = [band_toroids(15.0), band_toroids(17.0)]
    probs = [make_problem(warm, t, 20.0) for t in toroids]
    mean = mean_problem(probs)
    np.testing.assert_allclose(np.asarray(mean.centre_lat), np.radians([[16.0] * mean.centre_lat.shape[1],
                                                                        [-16.0] * mean.centre_lat.shape[1]]), rtol=1e-6)
    first = pinn_states(toroids, warm, 20.0)
    assert len(list(tmp_path.glob("pinn-*/state.nc"))) == 2
    assert all(s.attrs["steps"] <= 40 for s in first)
    assert state_cache_key(toroids[0], warm, 20.0) not in {p.parent.name[5:] for p in tmp_path.glob("pinn-*/state.nc")}
    monkeypatch.setattr("pinn.training.train_batch", lambda *a, **k: pytest.fail("retrained a cached state"))
    again = pinn_states(toroids, warm, 20.0)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["a"].values, b["a"].values)


def test_previous_chain_keys_follow_the_whole_chain(cfg):
    """With previous, the first state is cold (the cold key) and each next one is keyed on the one before,
    so changing the first toroids changes every later key."""
    from pinn.training.state_cache import warm_keys

    prev = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, warm_start="previous"))
    chain = [band_toroids(15.0), band_toroids(16.0), band_toroids(17.0)]
    keys = warm_keys(chain, [make_problem(prev, t, 20.0) for t in chain], prev, 20.0)
    assert keys[0] == state_cache_key(chain[0], cfg, 20.0)
    assert keys[1] == state_cache_key(chain[1], prev, 20.0, "previous:" + keys[0]) != state_cache_key(chain[1], cfg, 20.0)
    moved = [band_toroids(14.0), *chain[1:]]
    other = warm_keys(moved, [make_problem(prev, t, 20.0) for t in moved], prev, 20.0)
    assert all(a != b for a, b in zip(keys, other))


def test_a_batch_of_one_is_trained_cold_under_its_cold_key(cfg, monkeypatch):
    """batch_mean with one case: the case is its own mean, so no source is trained and no fine-tune runs; the
    state is the cold one, under the cold key (a single forecast costs what it cost before warm starts)."""
    from types import SimpleNamespace

    from pinn.training import state_cache
    from pinn.training.state_cache import train_states, warm_keys

    warm = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, warm_start="batch_mean"))
    one = [band_toroids(15.0)]
    problems = [make_problem(warm, t, 20.0) for t in one]
    assert warm_keys(one, problems, warm, 20.0) == [state_cache_key(one[0], cfg, 20.0)]
    calls = []

    def fake_train_batch(config, probs, mesh=None, crs=None, **kwargs):
        calls.append((len(probs), kwargs))
        return SimpleNamespace(states=["state"] * len(probs))

    monkeypatch.setattr(state_cache.training, "train_batch", fake_train_batch)
    assert train_states(warm, problems, None, [2280]) == ["state"]
    assert calls == [(1, {})]  # one cold training, no start, no stopping rule
    two = [band_toroids(15.0), band_toroids(16.0)]
    assert warm_keys(two, [make_problem(warm, t, 20.0) for t in two], warm, 20.0)[0] != state_cache_key(two[0], cfg, 20.0)
