"""Set-up of a training run from the config: checks, device mesh, network, learning-rate schedule.

Pure functions of the config (and the loss inputs for the network's output scales); nothing here is traced.
"""

from __future__ import annotations

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from pinn.config.schema import Config
from pinn.errors import ConfigError
from pinn.training.losses import Problem
from pinn.training.networks import OutputScales, SphereNet
from pinn.training.timedep import SeriesProblem, check_formulation, maps_drift_rate


def build_model(config: Config, problem: Problem, seed: int | None = None) -> SphereNet:
    """The network for ``problem`` (output scales from it), initialised from ``seed`` (config.seed); for a
    :class:`SeriesProblem` (time-dependent formulation) it also takes time, over the problem's map window."""
    window, solid = None, None
    if config.network.solid_body_flow != "none" and not isinstance(problem, SeriesProblem):
        raise ConfigError("config key 'network.solid_body_flow' needs train.formulation = time_dependent "
                          "(its rotation is initialised from the drift between map times)")
    if isinstance(problem, SeriesProblem):
        window = (float(problem.window[0]), float(problem.window[1]))
        if config.network.solid_body_flow != "none":
            solid = (maps_drift_rate(problem), float(problem.latest.gravity),
                     config.network.solid_body_flow == "maps_drift")
        problem = problem.latest
    scales = OutputScales(h=float(problem.h_scale), A=float(problem.A_scale), flow=float(problem.flow_scale))
    return SphereNet(config.network, scales, rngs=nnx.Rngs(config.seed if seed is None else seed), time_window=window,
                     solid_body=solid)


def learning_rate_schedule(config: Config) -> optax.Schedule:
    """Adam learning rate per step: linear warm-up, then constant, exponential or cosine decay (train.*)."""
    tc = config.train
    if tc.lr_schedule == "constant":
        sched = optax.constant_schedule(tc.learning_rate)
    elif tc.lr_schedule == "exponential":
        sched = optax.exponential_decay(tc.learning_rate, tc.lr_decay_steps, tc.lr_decay_rate)
    else:
        sched = optax.cosine_decay_schedule(tc.learning_rate, max(tc.adam_steps - tc.warmup_steps, 1),
                                            alpha=tc.lr_final_ratio)
    if tc.warmup_steps > 0:
        sched = optax.join_schedules([optax.linear_schedule(0.0, tc.learning_rate, tc.warmup_steps), sched],
                                     [tc.warmup_steps])
    return sched


def make_mesh(config: Config) -> Mesh:
    """1-D device mesh 'batch' over all devices (or the first only when train.shard is false)."""
    devices = jax.devices() if config.train.shard else jax.devices()[:1]
    return Mesh(np.array(devices), ("batch",))


def check_config(config: Config, n_devices: int = 1) -> None:
    """ConfigError naming the key when the train/loss settings cannot run (or cannot resume exactly)."""
    tc, lc = config.train, config.loss
    if tc.steps_per_call < 1:
        raise ConfigError("config key 'train.steps_per_call' must be >= 1")
    if tc.checkpoint_every % tc.steps_per_call:
        raise ConfigError(f"config key 'train.checkpoint_every' ({tc.checkpoint_every}) must be a multiple of "
                          f"train.steps_per_call ({tc.steps_per_call}) for exact resume")
    if tc.adam_steps < 0 or tc.lbfgs_steps < 0 or tc.adam_steps + tc.lbfgs_steps < 1:
        raise ConfigError("config keys 'train.adam_steps' + 'train.lbfgs_steps' must be >= 1")
    if lc.collocation_points % n_devices:
        raise ConfigError(f"config key 'loss.collocation_points' ({lc.collocation_points}) must be a multiple of "
                          f"the number of devices ({n_devices}) to shard the batch")
    if any(w < 0 for w in lc.residual_weights):
        raise ConfigError(f"config key 'loss.residual_weights' must be >= 0, got {list(lc.residual_weights)}")
    if lc.resample_every < 1 or lc.adaptive_every < 1 or tc.log_every < 1:
        raise ConfigError("config keys 'loss.resample_every', 'loss.adaptive_every', 'train.log_every' must be >= 1")
    check_formulation(config)


def chunk_plan(start: int, config: Config) -> list[tuple[str, int, int]]:
    """(phase, first step, length) of every chunk from ``start`` to the end; a function of the config only.

    Chunk boundaries are multiples of ``train.steps_per_call`` and the Adam -> L-BFGS switch, so a resumed
    run executes the same compiled chunks on the same inputs as an uninterrupted one.
    """
    tc = config.train
    total = tc.adam_steps + tc.lbfgs_steps
    K = tc.steps_per_call
    plan, s = [], start
    while s < total:
        end = min((s // K + 1) * K, total)
        if s < tc.adam_steps:
            end = min(end, tc.adam_steps)
        plan.append(("adam" if s < tc.adam_steps else "lbfgs", s, end - s))
        s = end
    return plan
