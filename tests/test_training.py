"""PINN training: recovery of an exact steady state, exact resume after SIGKILL, sharding, divergence guard,
ensembles and the files of ``train_from_config``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pinn.config.schema import load_config
from pinn.errors import ConfigError, TrainingDiverged
from pinn.training import axisymmetric_errors, band_toroids, train, train_ensemble

ROOT = Path(__file__).resolve().parents[1]
AXISYM = ROOT / "experiments" / "pinn_axisym"

# a tiny network and batch: the plumbing tests (resume, sharding, divergence, ensembles)
TINY = [
    "network.width=16", "network.depth=2", "network.fourier_features=8", "network.fourier_sigma=1.0",
    "loss.collocation_points=128", "loss.quadrature_lats=8", "loss.quadrature_lons=4",
    "train.steps_per_call=5", "train.checkpoint_every=10", "train.log_every=5", "train.progress=false",
    "train.xla_opt_level=0",  # compile fast: these runs are a few steps
]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("XLA_FLAGS", None)
    return env


# ---------------------------------------------------------------------------------------------
# Recovery of the exact axisymmetric steady state


def _recover(config_name: str):
    cfg = load_config(AXISYM / config_name)
    tor = band_toroids(20.0, 10.0)
    res = train(cfg, tor)
    return axisymmetric_errors(res.model, cfg, tor), res


def test_recovers_exact_axisymmetric_steady_state():
    """u, a and h - 1 each to relative L2 < 5e-2 (config experiments/pinn_axisym/ci.yaml, ~30 s)."""
    err, res = _recover("ci.yaml")
    assert err["u"] < 5e-2, err
    assert err["a"] < 5e-2, err
    assert err["h-1"] < 5e-2, err
    assert res.final_terms["div"] < 1e-8


@pytest.mark.slow
def test_recovers_exact_axisymmetric_steady_state_to_one_percent():
    """Adam then L-BFGS (experiments/pinn_axisym/slow.yaml, a few CPU minutes): each error < 1e-2."""
    err, _ = _recover("slow.yaml")
    assert err["u"] < 1e-2, err
    assert err["a"] < 1e-2, err
    assert err["h-1"] < 1e-2, err


# ---------------------------------------------------------------------------------------------
# SIGKILL, then resume == uninterrupted

RUN_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import jax, numpy as np
    from flax import nnx
    from pinn.config.schema import load_config
    from pinn.training import band_toroids, train_from_config
    from pinn.training.timedep import drifting_bump_series

    TOROIDS = {"band": lambda cfg: band_toroids(), "drifting_bump": lambda cfg: drifting_bump_series(cfg, 0.03)}
    out, kill_at, resume, toroids = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
    cfg = load_config(None, sys.argv[5:])

    def callback(step, state):
        ckpts = os.path.join(out, "checkpoints")
        if kill_at and step >= kill_at and any(n.isdigit() for n in os.listdir(ckpts)):
            os.kill(os.getpid(), signal.SIGKILL)

    res = train_from_config(cfg, TOROIDS[toroids](cfg), out, resume=resume, callback=callback)
    leaves = jax.tree.leaves(nnx.state(res.model, nnx.Param))
    np.savez(os.path.join(out, "final_params.npz"), *[np.asarray(x) for x in leaves])
    print("RESUMED_FROM", res.resumed_from)
    """
)


def assert_same_final_params(killed: Path, straight: Path) -> None:
    """The resumed run's final parameters equal the uninterrupted run's, bit for bit (``final_params.npz``)."""
    a, b = np.load(killed / "final_params.npz"), np.load(straight / "final_params.npz")
    assert len(a.files) == len(b.files) > 0
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])


def resume_child(out: Path, kill_at: int, resume: bool, overrides: list[str], toroids: str = "band") -> subprocess.Popen:
    """A training run in a child process (killed at its first checkpoint at or after ``kill_at``, 0: never) on the
    ``toroids`` of RUN_CHILD ('band': the axisymmetric band; 'drifting_bump': the time-dependent test series)."""
    env = _env()  # the session's persistent compilation cache (conftest): the later processes skip compilation
    return subprocess.Popen([sys.executable, "-c", RUN_CHILD, str(out), str(kill_at), "1" if resume else "0", toroids,
                             *overrides], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_sigkill_then_resume_gives_the_uninterrupted_parameters(tmp_path):
    """Killed twice (in the Adam phase, then in the L-BFGS phase), resumed: bit-identical final parameters."""
    overrides = TINY + ["train.adam_steps=20", "train.lbfgs_steps=20", "loss.adaptive=true",
                        "loss.adaptive_every=10", "seed=7"]
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    for kill_at, resume in ((15, False), (35, True)):
        p = resume_child(killed, kill_at, resume, overrides)
        _, err = p.communicate(timeout=600)
        assert p.returncode == -signal.SIGKILL, err[-2000:]
        assert not (killed / "state.nc").exists()
    p_resume = resume_child(killed, 0, True, overrides)
    p_straight = resume_child(straight, 0, False, overrides)
    out_r, err_r = p_resume.communicate(timeout=600)
    assert p_resume.returncode == 0, err_r[-2000:]
    resumed_from = int(out_r.split("RESUMED_FROM")[1].split()[0])
    assert 20 <= resumed_from < 40  # inside the L-BFGS phase, or at its start
    _, err_s = p_straight.communicate(timeout=600)
    assert p_straight.returncode == 0, err_s[-2000:]

    assert_same_final_params(killed, straight)

    # the run's files: resolved config, metrics (every log step once, in order), checkpoints, state
    assert (killed / "resolved_config.yaml").exists() and (killed / "checkpoints").is_dir()
    lines = [json.loads(t) for t in (killed / "metrics.jsonl").read_text().splitlines()]
    steps = [ln["step"] for ln in lines]
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 39
    assert {"mom_u", "mom_v", "mass", "ind_a", "ind_b", "div", "data", "prior", "mean_h", "gauge"} <= set(lines[0])
    straight_lines = [json.loads(t) for t in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [ln["loss"] for ln in lines] == [ln["loss"] for ln in straight_lines]

    import xarray as xr

    with xr.open_dataset(killed / "state.nc", engine="h5netcdf") as ds:
        assert {"u", "v", "h", "a", "b", "A"} <= set(ds.data_vars)
        for name in ["u", "v", "h", "a", "b", "A"]:
            assert ds[name].dims == ("lat", "lon")
        np.testing.assert_allclose(ds.lat.values, -ds.lat.values[::-1])
        assert ds.lat.attrs["units"].startswith("degrees") and ds.lon.attrs["units"].startswith("degrees")
        assert ds.attrs["field_unit_kG"] > 0 and ds.attrs["band_strength_kG"] == pytest.approx(20.0, rel=1e-5)
        assert np.all(np.isfinite(ds.h.values)) and np.all(ds.h.values > 0)

    # a second run into the same folder without --resume is refused; a changed config cannot resume
    with pytest.raises(ConfigError, match="--resume"):
        train(load_config(None, overrides), band_toroids(), killed)
    with pytest.raises(ConfigError, match="different config"):
        train(load_config(None, overrides + ["train.learning_rate=0.002"]), band_toroids(), killed, resume=True)
    # ...but forward-run (solver) and display settings do not orphan the checkpoints
    again = train(load_config(None, overrides + ["solver.balance_start=false", "train.log_every=10"]),
                  band_toroids(), killed, resume=True)
    assert again.resumed_from == again.steps == 40


# ---------------------------------------------------------------------------------------------
# Sharded == unsharded

SHARD_CHILD = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from pinn.config.schema import load_config
    from pinn.training.losses import make_problem
    from pinn.training import TrainingProgram, band_toroids

    assert len(jax.devices()) == 4, jax.devices()
    out = {}
    for shard in (True, False):
        cfg = load_config(None, sys.argv[1:] + [f"train.shard={str(shard).lower()}"])
        problem = make_problem(cfg, band_toroids())
        program = TrainingProgram.create(cfg, problem)
        state = program.init_state(cfg.seed)
        fn = program.chunk_fn("adam", 3)
        _, loss, terms, *_ = fn(state, program.statics, problem)
        lat = jax.jit(lambda k: program.batch(k).lat)(jax.random.key(0))
        out[str(shard)] = {"loss": np.asarray(loss).tolist(), "terms": np.asarray(terms).tolist(),
                           "n_shards": len(lat.sharding.device_set), "mesh": program.mesh.size,
                           "all_reduce": "all-reduce" in fn.lower(state, program.statics, problem).compile().as_text()}
    print("RESULT", json.dumps(out))
    """
)


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_sharded_and_unsharded_steps_give_the_same_loss():
    env = _env()
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    p = subprocess.run([sys.executable, "-c", SHARD_CHILD, *TINY, "train.adam_steps=3"], env=env, check=False,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout.split("RESULT", 1)[1])
    sharded, single = r["True"], r["False"]
    assert sharded["mesh"] == 4 and sharded["n_shards"] == 4 and sharded["all_reduce"]
    assert single["mesh"] == 1 and single["n_shards"] == 1
    np.testing.assert_allclose(sharded["loss"][0], single["loss"][0], rtol=1e-6)
    np.testing.assert_allclose(sharded["terms"][0], single["terms"][0], rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(sharded["loss"], single["loss"], rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Divergence guard


def test_diverging_run_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    # learning rate x10 per step from 1e-4: fine for the first steps, non-finite after ~8
    cfg = load_config(None, TINY + ["train.adam_steps=40", "train.checkpoint_every=5", "train.learning_rate=1.0e-4",
                                    "train.warmup_steps=0", "train.lr_schedule=exponential",
                                    "train.lr_decay_rate=10.0", "train.lr_decay_steps=1", "train.grad_clip=null"])
    with pytest.raises(TrainingDiverged) as info:
        train(cfg, band_toroids(), tmp_path)
    msg = str(info.value)
    assert "diverged" in msg and "non-finite" in msg and "train.learning_rate" in msg
    assert "last good checkpoint: step 5" in msg
    ckpts = sorted(int(n) for n in os.listdir(tmp_path / "checkpoints") if n.isdigit())
    assert ckpts == [5]
    # the kept checkpoint is complete and finite: resuming from it diverges again at the same step
    step = re.search(r"at step (\d+) ", msg).group(1)
    with pytest.raises(TrainingDiverged, match=f"at step {step} "):
        train(cfg, band_toroids(), tmp_path, resume=True)


# ---------------------------------------------------------------------------------------------
# Ensembles


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_ensemble_of_field_strengths_matches_separate_runs():
    cfg = load_config(None, TINY + ["train.adam_steps=6", "train.steps_per_call=3", "train.checkpoint_every=3"])
    ens = train_ensemble(cfg, band_toroids(), strengths_kG=(10.0, 30.0))
    assert ens.losses.shape == (2, 6)
    for i, kG in enumerate((10.0, 30.0)):
        c = dataclasses.replace(cfg, physics=dataclasses.replace(cfg.physics, band_strength_kG=kG))
        single = train(c, band_toroids())
        np.testing.assert_allclose(ens.losses[i, -1], single.final_loss, rtol=1e-4)
        np.testing.assert_allclose(ens.terms[i, -1], list(single.final_terms.values()), rtol=1e-3, atol=1e-10)
    # members differ (different a0), and the seeds variant runs too
    assert not np.allclose(ens.losses[0], ens.losses[1])
    seeds = train_ensemble(cfg, band_toroids(), strengths_kG=(20.0,), seeds=(0, 1), steps=3)
    assert seeds.losses.shape == (2, 3) and not np.allclose(seeds.losses[0], seeds.losses[1])
