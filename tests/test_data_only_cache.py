"""The content-hash cache of the data-only record: loads what it saved, keys on its inputs, one writer at a time."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from pinn.data import arise
from pinn.data.bundled import arise_table
from pinn.emergence import data_only as do
from pinn.emergence import data_only_cache as dc

LAT = -89.0 + 2.0 * np.arange(90)
LON = 1.0 + 2.0 * np.arange(180)


@pytest.fixture(scope="module")
def table():
    return arise.load_arise(arise_table())


def fake_result(targets) -> do.DataOnlyResult:
    bits = pd.DataFrame({"cr": np.repeat(targets, 2), "lat": 1.5, "lon": 2.5, do.BAND: -3.25, "data_only": -3.0})
    choices = pd.DataFrame({"choice_data_only": ["band"] * len(targets)}, index=pd.Index(targets, name="cr"))
    return do.DataOnlyResult(bits, choices)


def test_second_call_loads_the_identical_record(table, tmp_path, monkeypatch):
    rows = table[table["cr"] <= 2246]
    targets = do.default_targets(rows, 2240, 2246)
    first = dc.cached_score_methods(rows, LAT, LON, targets, tmp_path)
    assert len(list(tmp_path.glob("data_only-*.npz"))) == 1

    def fail(*args):
        raise AssertionError("recomputed instead of loading")

    monkeypatch.setattr(do, "score_methods", fail)
    again = dc.cached_score_methods(rows, LAT, LON, targets, tmp_path)
    pd.testing.assert_frame_equal(again.bits, first.bits, check_exact=True)
    pd.testing.assert_frame_equal(again.choices, first.choices, check_exact=True)
    assert again.choices["choice_nests_hemi"].map(type).eq(str).all()


def test_key_follows_every_input(table):
    rows = table[table["cr"] <= 2250]
    base = dc.record_key(dc.record_inputs(rows, LAT, LON, [2248, 2250]))
    assert dc.record_key(dc.record_inputs(rows.copy(), LAT.copy(), LON.copy(), [2248, 2250])) == base
    moved = rows.copy()
    moved.iloc[-1, moved.columns.get_loc("lat")] += 1e-9
    assert dc.record_key(dc.record_inputs(moved, LAT, LON, [2248, 2250])) != base
    assert dc.record_key(dc.record_inputs(rows.iloc[::-1], LAT, LON, [2248, 2250])) != base  # row order
    assert dc.record_key(dc.record_inputs(rows, LAT, LON + 1e-9, [2248, 2250])) != base
    assert dc.record_key(dc.record_inputs(rows, LAT, LON, [2250])) != base
    inputs = dc.record_inputs(rows, LAT, LON, [2248, 2250])
    inputs["method_grid"]["code_sha256"] = "0" * 64  # stands for an edit of pinn/data_only.py or pinn/baselines.py
    assert dc.record_key(inputs) != base


def test_concurrent_callers_compute_once(tmp_path, monkeypatch):
    table = pd.DataFrame({"cr": [2240, 2241], "lat": [10.0, -12.0], "lon": [20.0, 30.0]})
    calls = []

    def slow(table, lat, lon, targets, lead=1):
        calls.append(1)
        time.sleep(0.3)
        return fake_result(targets)

    monkeypatch.setattr(do, "score_methods", slow)
    results = []
    threads = [threading.Thread(target=lambda: results.append(dc.cached_score_methods(table, LAT, LON, [2241], tmp_path)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 4
    for r in results:
        pd.testing.assert_frame_equal(r.bits, fake_result([2241]).bits)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []  # no temporary file left behind


def test_unreadable_entry_is_recomputed(tmp_path, monkeypatch):
    table = pd.DataFrame({"cr": [2240, 2241], "lat": [10.0, -12.0], "lon": [20.0, 30.0]})
    monkeypatch.setattr(do, "score_methods", lambda table, lat, lon, targets, lead=1: fake_result(targets))
    dc.cached_score_methods(table, LAT, LON, [2241], tmp_path)
    (entry,) = tmp_path.glob("data_only-*.npz")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    again = dc.cached_score_methods(table, LAT, LON, [2241], tmp_path)
    pd.testing.assert_frame_equal(again.choices, fake_result([2241]).choices)
    pd.testing.assert_frame_equal(dc.load_record(entry).bits, fake_result([2241]).bits)
