"""Causal linear pools (pinn.emergence.stacking) and the data-only stack built on them (pinn.emergence.data_only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pinn.data import arise
from pinn.data.bundled import arise_table
from pinn.emergence import data_only as do
from pinn.emergence import density as dn
from pinn.emergence import stacking as st
from pinn.scoring import scores as ev

LAT = -89.0 + 2.0 * np.arange(90)
LON = 1.0 + 2.0 * np.arange(180)


def synthetic_components(n: int, weights, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cells drawn from the mixture ``weights`` of three known discrete densities on 50 cells; the components' bits
    at each draw (n, 3) and the cells."""
    rng = np.random.default_rng(seed)
    dens = rng.dirichlet(np.full(50, 0.5), size=3)  # (3 components, 50 cells), each sums to 1
    mixture = np.asarray(weights) @ dens
    cells = rng.choice(50, size=n, p=mixture)
    return np.log2(dens[:, cells].T), cells


def test_pool_weights_recover_a_known_mixture():
    bits, _ = synthetic_components(20000, [0.3, 0.7, 0.0])
    w = st.pool_weights(bits)
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)
    np.testing.assert_allclose(w, [0.3, 0.7, 0.0], atol=0.03)


def test_pool_scores_at_least_as_well_as_its_best_component_in_sample():
    bits, _ = synthetic_components(3000, [0.5, 0.3, 0.2], seed=1)
    w = st.pool_weights(bits)
    pooled = st.pool_bits(bits, w)
    assert pooled.mean() >= bits.mean(axis=0).max() + 0.01  # a real mixture: the pool beats every component
    np.testing.assert_allclose(pooled, np.log2(np.exp2(bits) @ w), rtol=1e-12)  # the mixture density's log2
    # a pool of one component is that component
    np.testing.assert_allclose(st.pool_bits(bits[:, :1], st.pool_weights(bits[:, :1])), bits[:, 0])


def test_pool_weights_refuse_infinite_scores():
    with pytest.raises(ValueError, match="finite"):
        st.pool_weights(np.array([[0.0, -np.inf], [1.0, 0.0]]))


def test_causal_pool_weights_use_earlier_targets_only():
    bits, _ = synthetic_components(3000, [0.6, 0.4, 0.0], seed=2)
    scores = pd.DataFrame(bits, columns=["a", "b", "c"]).assign(cr=np.repeat(np.arange(100, 130), 100))
    w = st.causal_pool_weights(scores, ["a", "b", "c"], [104, 105, 120, 125], "c", min_rotations=5, lead=1)
    assert list(w.loc[104]) == [0.0, 0.0, 1.0]  # 4 targets known: the default
    assert w.loc[105, "c"] < 0.05  # 5 known: fitted
    later = scores.copy()
    later.loc[later["cr"] >= 120, ["a", "b", "c"]] = -50.0  # targets 120 on changed: the weights of <= 120 are not
    w2 = st.causal_pool_weights(later, ["a", "b", "c"], [105, 120, 125], "c", min_rotations=5, lead=1)
    pd.testing.assert_series_equal(w.loc[120], w2.loc[120])
    pd.testing.assert_series_equal(w.loc[105], w2.loc[105])
    assert not np.allclose(w.loc[125], w2.loc[125])
    w3 = st.causal_pool_weights(later, ["a", "b", "c"], [121], "c", min_rotations=5, lead=2)  # lead 2: <= 119 only
    pd.testing.assert_series_equal(w3.loc[121], w.loc[120], check_names=False)


@pytest.fixture(scope="module")
def table():
    return arise.load_arise(arise_table())


def test_data_only_stack_density_scores_what_the_record_says(table, monkeypatch):
    """The stack's density on the grid (each method's causal choice, pooled) gives at every AR of a target the bits
    that the record's pooled scores give; the weights are fitted on the targets before it only."""
    monkeypatch.setattr(do, "MIN_ROTATIONS", 5)
    targets = do.default_targets(table, 2236, 2250)
    record = do.score_methods(table, LAT, LON, targets)
    bits, weights = do.stack_bits(record)
    assert np.all(weights.loc[targets[:5], do.BAND] == 1.0) and weights.loc[targets[-1], do.BAND] < 1.0
    for t in targets[-2:]:
        dens = do.method_density(table, record, t, do.STACK, LAT, LON)
        assert dn.integral(dens) == pytest.approx(1.0, rel=1e-9)
        truth = arise.ars_of(table, t)
        np.testing.assert_allclose(ev.log2_likelihood(dens, truth["lat"], truth["lon"]),
                                   bits[record.bits["cr"].to_numpy() == t], atol=1e-9)
    # causal: the weights of the last target from the record of the targets up to it equal those of a longer record
    cut = do.score_methods(table[table["cr"] <= targets[-2]], LAT, LON, targets[:-1])
    pd.testing.assert_series_equal(do.stack_weights(cut, [targets[-2]]).iloc[0], weights.loc[targets[-2]])


def test_causal_model_choice_follows_the_past_and_names_the_next():
    from pinn.emergence.models import causal_model_choice

    cr = np.repeat(np.arange(10, 30), 3)
    better_a = cr < 20  # a scores better on targets 10-19, b on 20-29 (by more, so b leads in total from 28 on)
    per_ar = pd.DataFrame({"cr": cr, "bits_a": np.where(better_a, -2.0, -3.0), "bits_b": np.where(better_a, -3.0, -1.5)})
    following, chosen, after = causal_model_choice(per_ar, ["a", "b"], lead=1, min_rotations=5, default="b")
    assert list(chosen.loc[10:14]) == ["b"] * 5  # fewer than 5 targets known: the default
    assert list(chosen.loc[15:20]) == ["a"] * 6  # a leads on 10..19
    # totals over 10..M-1: a - b = 10 (the first ten) - 1.5 (M - 20) per later target: b leads from M = 27 on
    assert chosen.loc[26] == "a" and list(chosen.loc[27:29]) == ["b"] * 3
    assert after == "b"
    # following the choice scores, per AR, the chosen model's bits of that target
    pick = per_ar["cr"].map(chosen)
    np.testing.assert_array_equal(following, np.where(pick == "a", per_ar["bits_a"], per_ar["bits_b"]))
    _, chosen2, _ = causal_model_choice(per_ar, ["a", "b"], lead=3, min_rotations=5, default="b")
    assert chosen2.loc[28] == "a" and chosen2.loc[29] == "b"  # lead 3: targets <= M - 3 only


def test_label_density_is_the_band_or_the_candidate(table):
    """The density of a data-only choice as the record and the fit artifact name it: 'band' is the band baseline
    (the forecast used to pass it to candidate_density, which cannot parse it), any other label its candidate."""
    t = 2270
    band = do.label_density(table, t, LAT, LON, do.BAND)
    np.testing.assert_array_equal(band.values, dn.band_density(do.bl.band_history(table, t), LAT, LON).values)
    text = "bw3.0 K3 d0.5 m0.1 f0.03 s0.8"
    np.testing.assert_array_equal(do.label_density(table, t, LAT, LON, text).values,
                                  do.candidate_density(table, t, LAT, LON, text).values)

