"""Batched hindcast: same cases as the per-case path, sharding-invariant, resumable, shared between processes."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from test_forecast import TINY

from pinn.chain import hindcast as hc
from pinn.chain.case import Case
from pinn.config.schema import load_config
from pinn.data import arise
from pinn.data.bundled import arise_table, bundled_map
from pinn.emergence.ridge_model import EmergenceParams, density_grid, emergence_density
from pinn.scoring import scores as ev
from pinn.training import case_mesh

REPO = Path(__file__).resolve().parents[1]
CASES = (2278, 2279, 2280)  # three cases: padded to four on four devices


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    (root / "maps").mkdir()
    for cr in (2277, 2278, 2279, 2280):
        shutil.copy(bundled_map(cr), root / "maps" / f"hmi.Synoptic_Mr_small.{cr}.fits")
    shutil.copy(arise_table(), root / "ARISE_database_remove_repeat_ARs.csv")
    return root


@pytest.fixture(scope="module")
def cfg():
    c = load_config(REPO / "pinn" / "config" / "forecast.yaml", TINY)
    return dataclasses.replace(c, forecast=dataclasses.replace(c.forecast, cache_dir=None))


def test_process_share_and_batches():
    items = list(range(10))
    shares = [hc.process_share(items, i, 3) for i in range(3)]
    assert sorted(i for s in shares for i in s) == items and all(len(s) >= 3 for s in shares)
    assert hc.batches(items, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert hc.batches(items, None) == [items]
    assert hc.batches([], 2) == []
    with pytest.raises(ValueError):
        hc.process_share(items, 3, 3)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_batched_equals_per_case_and_sharding(data_dir, cfg, virtual_devices):
    maps = hc.find_maps(data_dir)
    table = arise.load_arise(hc.find_arise(data_dir))
    per_case = [hc.forecast_case(maps, n, cfg, None) for n in CASES]
    sharded = hc.forecast_batch(maps, CASES, cfg, None, mesh=case_mesh(virtual_devices[:4]))
    single = hc.forecast_batch(maps, CASES, cfg, None, mesh=case_mesh(virtual_devices[:1]))
    params = EmergenceParams.from_config(cfg.emergence)
    lat, _ = density_grid(cfg.forecast)
    for ref, a, b in zip(per_case, sharded, single):
        assert a.cr == ref.cr and a.maps == ref.maps and a.hemisphere_weights == ref.hemisphere_weights
        for var in ("ridge_lat", "ridge_sigma"):
            assert _rel(a.ridge[var].values, ref.ridge[var].values) < 1e-5, var
            assert _rel(a.ridge[var].values, b.ridge[var].values) < 1e-5, var
        np.testing.assert_array_equal(a.static_ridge["ridge_lat"].values, ref.static_ridge["ridge_lat"].values)
        truth = arise.ars_of(table, ref.target)
        densities = [emergence_density(c.ridge, lat, c.hemisphere_weights, params) for c in (ref, a)]
        # the per-rotation scores (mean bits per AR, AUC) agree to 1e-4, as the scored hindcast rows did before
        bits = [float(ev.log2_likelihood(d, truth["lat"], truth["lon"]).mean()) for d in densities]
        aucs = [ev.roc_auc(d, truth["lat"], truth["lon"]) for d in densities]
        assert bits[1] == pytest.approx(bits[0], abs=1e-4) and aucs[1] == pytest.approx(aucs[0], abs=1e-4)


def test_batched_hindcast_resumes_without_recomputing(data_dir, cfg, tmp_path, monkeypatch):
    maps = hc.find_maps(data_dir)
    cases_dir = tmp_path / "cases"
    cases_dir.mkdir()
    real = hc.forecast_batch
    calls: list[list[int]] = []

    def interrupted(maps, ns, *args, **kwargs):
        if calls:
            raise KeyboardInterrupt("stopped after the first batch")
        calls.append(list(ns))
        return real(maps, ns, *args, **kwargs)

    monkeypatch.setattr(hc, "forecast_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        hc.produce_cases(maps, CASES, cfg, None, cases_dir, batch_size=2, progress=False)
    first = {p.name: p.stat().st_mtime_ns for p in cases_dir.glob("cr*.nc")}
    assert sorted(first) == ["cr2278.nc", "cr2279.nc"]

    def counting(maps, ns, *args, **kwargs):
        calls.append(list(ns))
        return real(maps, ns, *args, **kwargs)

    monkeypatch.setattr(hc, "forecast_batch", counting)
    done = hc.produce_cases(maps, CASES, cfg, None, cases_dir, batch_size=2, progress=False)
    assert calls == [[2278, 2279], [2280]]  # only the unfinished case was forecast on the rerun
    assert sorted(done) == list(CASES)
    assert {p: cases_dir.joinpath(p).stat().st_mtime_ns for p in first} == first


WORKER = """
import json, sys
import jax
jax.config.update("jax_platforms", "cpu")
port, pid, data, out, overrides = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid)
from pinn.chain import hindcast as hc
from pinn.config.schema import load_config
cfg = load_config(sys.argv[6], overrides)
result = hc.run_hindcast(data, cfg, out, crs=[2279, 2280, 2281], progress=False, wait_s=600)
print(json.dumps({"pid": pid, "index": jax.process_index(), "count": jax.process_count(),
                  "local": len(jax.local_devices()), "scored": result is not None}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # about 5 minutes on 2 cores (three full hindcasts); run with -m slow
def test_two_process_distributed_hindcast_equals_single_process(data_dir, tmp_path):
    """Two jax.distributed processes over loopback, each its share of the cases; union = one process."""
    port = _free_port()
    out = tmp_path / "multi"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONPATH": str(REPO)}
    args = [json.dumps(TINY), str(REPO / "pinn" / "config" / "forecast.yaml")]
    procs = [subprocess.Popen([sys.executable, str(script), str(port), str(i), str(data_dir), str(out), *args],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (so, se) in zip(procs, outputs):
        assert p.returncode == 0, se[-3000:]
    reports = [json.loads(so.strip().splitlines()[-1]) for so, _ in outputs]
    assert [(r["index"], r["count"], r["local"], r["scored"]) for r in reports] == [(0, 2, 2, True), (1, 2, 2, False)]

    single = tmp_path / "single"
    cfg = load_config(REPO / "pinn" / "config" / "forecast.yaml", TINY)
    hc.run_hindcast(data_dir, cfg, single, crs=[2279, 2280, 2281], progress=False)
    names = sorted(p.name for p in (single / "cases").glob("cr*.nc"))
    assert names == sorted(p.name for p in (out / "cases").glob("cr*.nc")) == ["cr2278.nc", "cr2279.nc", "cr2280.nc"]
    for name in names:
        a, b = Case.load(out / "cases" / name), Case.load(single / "cases" / name)
        assert _rel(a.ridge["ridge_lat"].values, b.ridge["ridge_lat"].values) < 1e-5
    s_multi = json.loads((out / "summary.json").read_text())
    s_single = json.loads((single / "summary.json").read_text())
    for name, bits in s_single["mean_bits"].items():
        assert s_multi["mean_bits"][name] == pytest.approx(bits, abs=1e-4)
    assert jax.process_count() == 1  # this process was not part of the distributed run
