"""PINN state cache: one key per training input, and safe when two processes ask for the same state at once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from test_forecast import TINY

from pinn.config.schema import load_config
from pinn.training import read_toroids_json
from pinn.training.state_cache import cache_paths, state_cache_key

REPO = Path(__file__).resolve().parents[1]
TOROIDS = REPO / "experiments" / "field_strength" / "toroids_cr2280.json"

# One cache client: imports done, it says "ready" and waits for "go", so both processes call
# pinn_state at the same moment; then it writes the state it got.
CLIENT = """
import sys, time
from pathlib import Path
from pinn.config.schema import load_config
from pinn.training.state_cache import pinn_state
from pinn.training import read_toroids_json
repo, cache, out, barrier, *overrides = sys.argv[1:]
config = load_config(Path(repo) / "pinn" / "config" / "forecast.yaml", overrides)
toroids = read_toroids_json(Path(repo) / "experiments" / "field_strength" / "toroids_cr2280.json")
(Path(barrier) / (Path(out).stem + ".ready")).touch()
while not (Path(barrier) / "go").exists():
    time.sleep(0.05)
pinn_state(toroids, config, 20.0, work_dir=cache).to_netcdf(out, engine="h5netcdf")
"""


def test_cache_key_follows_training_inputs():
    config = load_config(REPO / "pinn" / "config" / "forecast.yaml", TINY)
    toroids = read_toroids_json(TOROIDS)
    key = state_cache_key(toroids, config, 20.0)
    assert key == state_cache_key(toroids, config, 20.0)
    assert key != state_cache_key(toroids, config, 10.0)
    other = dataclasses.replace(config, seed=config.seed + 1)
    assert key != state_cache_key(toroids, other, 20.0)
    # output settings of the forecast do not change the trained state
    wider = dataclasses.replace(config, forecast=dataclasses.replace(config.forecast, output_nlon=360))
    assert key == state_cache_key(toroids, wider, 20.0)


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_two_processes_share_one_training(tmp_path):
    cache, barrier = tmp_path / "cache", tmp_path / "barrier"
    barrier.mkdir()
    outs = [tmp_path / f"state_{i}.nc" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT, str(REPO), str(cache), str(out), str(barrier), *TINY],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for out in outs]
    deadline = time.time() + 300
    while not all((barrier / f"{out.stem}.ready").exists() for out in outs):
        assert time.time() < deadline and all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.05)
    (barrier / "go").touch()
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
    with xr.open_dataset(outs[0], engine="h5netcdf") as a, xr.open_dataset(outs[1], engine="h5netcdf") as b:
        assert set(a.data_vars) == set(b.data_vars) >= {"u", "v", "h", "A"}
        for k in a.data_vars:
            np.testing.assert_array_equal(a[k].values, b[k].values)
    entries = [p for p in cache.glob("pinn-*") if p.is_dir()]
    assert len(entries) == 1 and (entries[0] / "state.nc").exists()
    assert cache_paths(cache, entries[0].name.removeprefix("pinn-"))[1].exists()  # the lock file beside it


def test_rerun_resumes_only_from_a_real_checkpoint(tmp_path):
    """A killed run's empty checkpoints/ folder is not resumed (no '--resume: no checkpoint' warning on a
    plain rerun); a folder with a saved step is."""
    from pinn.training.state_cache import has_checkpoint

    run = tmp_path / "pinn-key"
    assert not has_checkpoint(run)
    (run / "checkpoints").mkdir(parents=True)
    assert not has_checkpoint(run)
    (run / "checkpoints" / "400").mkdir()
    assert has_checkpoint(run)
