"""PINN training: jitted steps fused with lax.scan, Adam (+ L-BFGS), checkpoints, sharding, ensembles.

Public entry points:

* :func:`train_from_config` ``(config, toroids, out_dir, resume=False) -> TrainResult``: what ``pinn train``
  calls. Writes ``resolved_config.yaml``, ``toroids.json``, ``metrics.jsonl``, ``checkpoints/`` and
  ``state.nc`` into ``out_dir``.
* :func:`train` : the same without files unless ``out_dir`` is given (notebooks, tests).
* :func:`train_ensemble`: several field strengths (or seeds) trained in one jitted, vmapped program.
* :func:`load_toroids`: the toroids named by ``loss.toroids`` (JSON file or ``cr:N``).

Determinism and exact resume: the collocation points of step s are drawn from
``fold_in(key(seed), s // resample_every)``; the loop runs in chunks of ``steps_per_call`` steps whose
boundaries are multiples of ``steps_per_call`` (and the Adam -> L-BFGS switch), so an interrupted run that
resumes from a checkpoint (parameters, both optimiser states, adaptive weights, step, key) executes the
same compiled programs on the same inputs and ends with bit-identical parameters.

Divergence guard: after every chunk the losses and parameters are checked; a non-finite value raises
:class:`pinn.errors.TrainingDiverged` naming the step and the terms, without saving the bad state
(the last good checkpoint stays the latest).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from pinn.config import Config, training_inputs, write_resolved
from pinn.errors import ConfigError, InputError, TrainingDiverged
from pinn.losses import (
    GROUP_NAMES,
    TERM_NAMES,
    Batch,
    Problem,
    balanced_weights,
    group_losses,
    loss_terms,
    make_problem,
    sample_batch,
    loss_options,
    static_weights,
    toroid_target,
)
from pinn.networks import OutputScales, SphereNet, field_values

log = logging.getLogger("pinn.training")

FORMULATION = (
    "steady in a frame drifting at a trainable pattern speed c (d/dt -> -c d/dlon); "
    "field from flux function A (h a = -dA/dlat, h b = dA/dlon / cos lat); flow = tangent projection of a "
    "3-D network vector; residuals x cos(lat)"
)


class TrainState(NamedTuple):
    """Everything that evolves during training (and is checkpointed)."""

    params: Any  # nnx.State of the trainable parameters
    adam: Any  # Adam optimiser state
    lbfgs: Any  # L-BFGS optimiser state (initialised at start, used after the Adam phase)
    weights: jnp.ndarray  # (n_groups,) adaptive loss weights (ones when adaptive balancing is off)
    step: jnp.ndarray  # int32, number of updates done
    key: jnp.ndarray  # uint32 key data of the run's base PRNG key (from the seed)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of a training run."""

    state: Any  # xarray.Dataset of u, v, h, a, b, A on the output grid (what state.nc holds)
    model: SphereNet  # trained network
    steps: int  # total updates done
    final_loss: float  # weighted total loss at the last step
    final_terms: dict[str, float]  # unweighted terms at the last step
    pattern_speed: float  # c, model units
    wall_s: float  # seconds spent in the training loop in this process
    points_per_s: float  # collocation points x steps / s in this process (after compilation)
    resumed_from: int | None  # checkpoint step resumed from, if any
    out_dir: Path | None


# ---------------------------------------------------------------------------------------------
# Set-up


class _Setup(NamedTuple):
    config: Config
    graphdef: Any
    statics: Any  # non-trainable model state (Fourier matrix, output scales)
    problem: Problem
    mesh: Mesh
    adam: optax.GradientTransformation
    lbfgs: optax.GradientTransformationExtraArgs


def build_model(config: Config, problem: Problem, seed: int | None = None) -> SphereNet:
    """The network for ``problem`` (output scales from it), initialised from ``seed`` (config.seed)."""
    scales = OutputScales(h=float(problem.h_scale), A=float(problem.A_scale), flow=float(problem.flow_scale))
    return SphereNet(config.network, scales, rngs=nnx.Rngs(config.seed if seed is None else seed))


def learning_rate_schedule(config: Config) -> optax.Schedule:
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


def _setup(config: Config, problem: Problem) -> tuple[_Setup, SphereNet]:
    mesh = make_mesh(config)
    check_config(config, mesh.size)
    model = build_model(config, problem)
    graphdef, _, statics = nnx.split(model, nnx.Param, ...)
    tc = config.train
    chain = [optax.clip_by_global_norm(tc.grad_clip)] if tc.grad_clip else []
    adam = optax.chain(*chain, optax.adam(learning_rate_schedule(config)))
    lbfgs = optax.lbfgs(memory_size=tc.lbfgs_memory,
                        linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=20))
    return _Setup(config, graphdef, statics, problem, mesh, adam, lbfgs), model


def _strong(tree):
    """Copy with every leaf a strongly typed array (weak types would change after a checkpoint restore)."""
    return jax.tree.map(lambda x: jnp.array(x, dtype=jnp.asarray(x).dtype), tree)


def init_state(setup: _Setup, model: SphereNet, seed: int) -> TrainState:
    params = nnx.state(model, nnx.Param)
    state = TrainState(
        params=params,
        adam=setup.adam.init(params),
        lbfgs=setup.lbfgs.init(params),
        weights=jnp.ones((len(GROUP_NAMES),), jnp.float32),
        step=jnp.zeros((), jnp.int32),
        key=jax.random.key_data(jax.random.key(seed)),
    )
    return _strong(state)


# ---------------------------------------------------------------------------------------------
# One step, and chunks of steps


def _batch(setup: _Setup, key) -> Batch:
    lc = setup.config.loss
    b = sample_batch(key, lc.collocation_points, lc.quadrature_lats, lc.quadrature_lons)
    shard = NamedSharding(setup.mesh, P("batch"))
    return b._replace(lat=jax.lax.with_sharding_constraint(b.lat, shard),
                      lon=jax.lax.with_sharding_constraint(b.lon, shard))


def _step_key(state: TrainState, step, resample_every: int):
    return jax.random.fold_in(jax.random.wrap_key_data(state.key), step // resample_every)


def _terms_and_groups(setup: _Setup, params, statics, problem, batch):
    """Unweighted loss terms and the group losses built from them, as the config asks."""
    model = nnx.merge(setup.graphdef, params, statics)
    lc = setup.config.loss
    terms = loss_terms(model, problem, batch, lc.derivatives, **loss_options(setup.config))
    return terms, group_losses(terms, lc.residual_weights)


def _loss_fn(setup: _Setup, params, statics, problem, batch, weights):
    terms, groups = _terms_and_groups(setup, params, statics, problem, batch)
    total = jnp.sum(static_weights(setup.config) * weights * groups)
    return total, terms


def _group_grad_norms(setup: _Setup, params, statics, problem, batch):
    def groups(p):
        return _terms_and_groups(setup, p, statics, problem, batch)[1]

    jac = jax.jacrev(groups)(params)
    sq = sum(jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1) for x in jax.tree.leaves(jac))
    return jnp.sqrt(sq)


def _adam_step(setup: _Setup, statics, problem, state: TrainState):
    lc = setup.config.loss
    batch = _batch(setup, _step_key(state, state.step, lc.resample_every))
    weights = state.weights
    if lc.adaptive:
        def update_weights():
            norms = _group_grad_norms(setup, state.params, statics, problem, batch)
            norms = norms * static_weights(setup.config)
            return balanced_weights(norms, state.weights, lc.adaptive_alpha, lc.adaptive_bounds)

        weights = jax.lax.cond(state.step % lc.adaptive_every == 0, update_weights, lambda: state.weights)
    (total, terms), grads = jax.value_and_grad(partial(_loss_fn, setup), has_aux=True)(
        state.params, statics, problem, batch, weights)
    updates, adam = setup.adam.update(grads, state.adam, state.params)
    params = optax.apply_updates(state.params, updates)
    new = state._replace(params=params, adam=adam, weights=weights, step=state.step + 1)
    return new, (total, terms, weights, _c(setup, state.params, statics))


def _lbfgs_step(setup: _Setup, statics, problem, state: TrainState):
    lc, tc = setup.config.loss, setup.config.train
    # L-BFGS needs one fixed objective: the batch of the first L-BFGS step, weights frozen.
    batch = _batch(setup, _step_key(state, jnp.int32(tc.adam_steps), lc.resample_every))

    def value_fn(p):
        return _loss_fn(setup, p, statics, problem, batch, state.weights)[0]

    value, grad = optax.value_and_grad_from_state(value_fn)(state.params, state=state.lbfgs)
    terms = _loss_fn(setup, state.params, statics, problem, batch, state.weights)[1]
    updates, lb = setup.lbfgs.update(grad, state.lbfgs, state.params, value=value, grad=grad, value_fn=value_fn)
    params = optax.apply_updates(state.params, updates)
    new = state._replace(params=params, lbfgs=lb, step=state.step + 1)
    return new, (value, terms, state.weights, _c(setup, state.params, statics))


def _c(setup: _Setup, params, statics):
    return nnx.merge(setup.graphdef, params, statics).pattern_speed[...]


def _chunk(setup: _Setup, phase: str, n: int, state: TrainState, statics, problem):
    """n steps of one phase fused with lax.scan; returns the new state, per-step logs and a finite flag."""
    body = _adam_step if phase == "adam" else _lbfgs_step

    def scan_body(s, _):
        return body(setup, statics, problem, s)

    state, (loss, terms, weights, c) = jax.lax.scan(scan_body, state, None, length=n)
    finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(state.params)]))
    return state, loss, terms, weights, c, finite


_CHUNK_FNS: dict = {}


def make_chunk_fn(setup: _Setup, phase: str, n: int, ensemble: bool = False):
    """The jitted chunk function (state, statics, problem) -> (state, loss[n], terms[n, T], weights[n, G],
    pattern speed[n], all-parameters-finite flag); per-step values are those before each update.

    Memoised on what the traced program depends on (network, loss and train sections, devices, phase,
    n), so runs in one process that differ only in seed or physics (problem arrays) compile once.
    """
    cfg = setup.config
    key = (cfg.network, cfg.loss, cfg.train, tuple(setup.mesh.devices.flat), phase, n, ensemble)
    if key not in _CHUNK_FNS:
        _CHUNK_FNS[key] = _make_chunk_fn(setup, phase, n, ensemble)
    return _CHUNK_FNS[key]


def _make_chunk_fn(setup: _Setup, phase: str, n: int, ensemble: bool):
    fn = partial(_chunk, setup, phase, n)
    if ensemble:
        fn = jax.vmap(fn)
    level = setup.config.train.xla_opt_level
    return jax.jit(fn, compiler_options=None if level is None else {"xla_backend_optimization_level": level})


def chunk_plan(start: int, config: Config) -> list[tuple[str, int, int]]:
    """(phase, first step, length) of every chunk from ``start`` to the end; a function of the config only."""
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


# ---------------------------------------------------------------------------------------------
# Checkpoints (orbax)


# train keys that change only what is shown or written, not the parameters: resuming may change them
_RESUME_NEUTRAL_TRAIN_KEYS = ("progress", "log_every", "checkpoint_every", "output_nlat", "output_nlon")


def _config_hash(config: Config) -> str:
    """Hash of what the trained parameters depend on (seed, physics, network, loss, train), checked on resume.

    Solver, forecast, observation and toroid-fit settings are left out (the toroids themselves enter through
    ``loss.toroids``), so adding or changing a forward-run option does not orphan training checkpoints.
    """
    parts = training_inputs(config)
    for key in _RESUME_NEUTRAL_TRAIN_KEYS:
        parts["train"].pop(key, None)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Checkpoints:
    """Orbax CheckpointManager over the flattened TrainState (leaves keyed by index)."""

    def __init__(self, directory: Path, config: Config):
        import orbax.checkpoint as ocp

        self.ocp = ocp
        self.directory = directory
        opts = ocp.CheckpointManagerOptions(max_to_keep=config.train.checkpoints_kept, create=True,
                                            cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(directory.resolve(), options=opts)

    def latest(self) -> int | None:
        return self.manager.latest_step()

    def save(self, state: TrainState, meta: dict) -> None:
        step = int(state.step)
        leaves = {f"{i:05d}": x for i, x in enumerate(jax.tree.leaves(state))}
        self.manager.save(step, args=self.ocp.args.Composite(
            state=self.ocp.args.StandardSave(leaves), meta=self.ocp.args.JsonSave(meta)), force=True)

    def restore(self, like: TrainState, step: int | None = None) -> tuple[TrainState, dict]:
        step = self.latest() if step is None else step
        leaves, treedef = jax.tree.flatten(like)
        target = {f"{i:05d}": x for i, x in enumerate(leaves)}
        out = self.manager.restore(step, args=self.ocp.args.Composite(
            state=self.ocp.args.StandardRestore(target), meta=self.ocp.args.JsonRestore()))
        restored = [out.state[f"{i:05d}"] for i in range(len(leaves))]
        return jax.tree.unflatten(treedef, restored), dict(out.meta)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()


# ---------------------------------------------------------------------------------------------
# Metrics


def _metrics_line(step: int, phase: str, loss: float, terms, weights, lr: float, c: float, wall: float) -> dict:
    line = {"step": step, "phase": phase, "loss": float(loss)}
    line.update({k: float(v) for k, v in zip(TERM_NAMES, terms)})
    line.update({f"w_{k}": float(v) for k, v in zip(GROUP_NAMES, weights)})
    line.update({"lr": float(lr), "pattern_speed": float(c), "time_s": round(wall, 3)})
    return line


def _truncate_metrics(path: Path, before_step: int) -> None:
    """Keep the metrics lines of steps < before_step (a resumed run re-runs the rest)."""
    if not path.exists():
        return
    keep = []
    for text in path.read_text().splitlines():
        try:
            if json.loads(text)["step"] < before_step:
                keep.append(text)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a kill
    from pinn.io import write_text

    write_text(path, "".join(t + "\n" for t in keep))


# ---------------------------------------------------------------------------------------------
# The loop


def _replicate(setup: _Setup, tree):
    return jax.device_put(tree, NamedSharding(setup.mesh, P()))


def train(
    config: Config,
    toroids,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    callback: Callable[[int, TrainState], None] | None = None,
    problem: Problem | None = None,
) -> TrainResult:
    """Train the PINN on ``toroids``; with ``out_dir``, write metrics and checkpoints there (and resume).

    ``callback(step, state)`` is called after every chunk (after its checkpoint, if any).
    ``problem`` overrides the loss inputs built from (config, toroids) (tests, custom targets).
    Raises :class:`TrainingDiverged` on a non-finite loss or parameter.
    """
    problem = make_problem(config, toroids) if problem is None else problem
    setup, model = _setup(config, problem)
    tc = config.train
    total = tc.adam_steps + tc.lbfgs_steps
    state = init_state(setup, model, config.seed)
    statics = _replicate(setup, setup.statics)
    problem_d = _replicate(setup, problem)

    ckpt, metrics_path, resumed_from = None, None, None
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        metrics_path = out / "metrics.jsonl"
        ckpt = _Checkpoints(out / "checkpoints", config)
        latest = ckpt.latest()
        if latest is not None and not resume:
            ckpt.close()
            raise ConfigError(f"{out} already holds checkpoints (latest step {latest}): pass --resume to "
                              "continue that run, or choose another --out")
        if resume and latest is not None:
            state, meta = ckpt.restore(state)
            if meta.get("config_hash") != _config_hash(config):
                ckpt.close()
                raise ConfigError(f"cannot resume from {out}: its checkpoints were made with a different config "
                                  f"(compare {out / 'resolved_config.yaml'})")
            resumed_from = int(state.step)
            log.info("resuming from step %d", resumed_from)
        elif resume:
            log.warning("--resume: no checkpoint in %s, starting from step 0", out)
        start = int(state.step)
        _truncate_metrics(metrics_path, start)
    state = _replicate(setup, state)
    start = int(state.step)

    schedule = learning_rate_schedule(config)
    fns: dict[tuple[str, int], Any] = {}
    plan = chunk_plan(start, config)
    last_loss, last_terms = math.nan, np.full(len(TERM_NAMES), np.nan)
    wall = timed_s = 0.0
    timed_points = 0
    called: set = set()
    t_loop = time.perf_counter()
    bar = _progress(tc.progress, total, start)
    meta = {"config_hash": _config_hash(config), "seed": config.seed}
    try:
        for phase, s0, n in plan:
            key = (phase, n)
            if key not in fns:
                fns[key] = make_chunk_fn(setup, phase, n)
            first_call = key not in called
            called.add(key)
            t0 = time.perf_counter()
            new_state, loss, terms, weights, cs, ok = fns[key](state, statics, problem_d)
            loss, terms, weights, cs = (np.asarray(x) for x in (loss, terms, weights, cs))
            dt = time.perf_counter() - t0
            wall += dt
            if not first_call:  # throughput without compilation
                timed_s += dt
                timed_points += n * config.loss.collocation_points
            bad = ~(np.isfinite(loss) & np.all(np.isfinite(terms), axis=1))
            lines = []
            for i in range(n):
                s = s0 + i
                if s % tc.log_every == 0 or s == total - 1 or bad[i]:
                    lr = float(schedule(min(s, tc.adam_steps))) if phase == "adam" else math.nan
                    lines.append(_metrics_line(s, phase, loss[i], terms[i], weights[i], lr, cs[i],
                                               time.perf_counter() - t_loop))
                if bad[i]:
                    break
            if metrics_path is not None:
                with open(metrics_path, "a") as fh:
                    fh.writelines(json.dumps(ln) + "\n" for ln in lines)
            if bad.any() or not bool(ok):
                i = int(np.argmax(bad)) if bad.any() else n - 1
                _diverged(config, s0 + i, loss[i], terms[i], ckpt, out_dir)
            state = new_state
            last_loss, last_terms = float(loss[-1]), terms[-1]
            step = s0 + n
            if ckpt is not None and (step % tc.checkpoint_every == 0 or step == total or step == tc.adam_steps):
                ckpt.save(state, {**meta, "step": step, "phase": phase})
            if bar is not None:
                bar.update(n)
                bar.set_postfix({"loss": f"{last_loss:.2e}", **{k: f"{v:.1e}" for k, v in zip(
                    GROUP_NAMES, group_losses(jnp.asarray(last_terms), config.loss.residual_weights))}, "c": f"{cs[-1]:.3g}"}, refresh=False)
            if callback is not None:
                callback(step, state)
    finally:
        if bar is not None:
            bar.close()
        if ckpt is not None:
            ckpt.wait()
            ckpt.close()

    trained = nnx.merge(setup.graphdef, jax.device_get(state.params), setup.statics)
    # throughput excludes the first call of each compiled chunk (it includes compilation)
    points_per_s = timed_points / timed_s if timed_s > 0 else math.nan
    ds = state_dataset(trained, problem, config, steps=int(state.step))
    return TrainResult(
        state=ds, model=trained, steps=int(state.step), final_loss=last_loss,
        final_terms={k: float(v) for k, v in zip(TERM_NAMES, last_terms)},
        pattern_speed=float(trained.pattern_speed[...]), wall_s=wall, points_per_s=points_per_s,
        resumed_from=resumed_from, out_dir=None if out_dir is None else Path(out_dir),
    )


def _progress(enabled: bool, total: int, start: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="pinn train", unit="step", dynamic_ncols=True)


def _diverged(config: Config, step: int, loss, terms, ckpt: _Checkpoints | None, out_dir) -> None:
    detail = ", ".join(f"{k}={float(v):.3g}" for k, v in zip(TERM_NAMES, terms))
    where = "no checkpoint kept (no --out)"
    if ckpt is not None:
        ckpt.wait()
        last = ckpt.latest()
        where = (f"last good checkpoint: step {last} in {Path(out_dir) / 'checkpoints'} (left intact)"
                 if last is not None else "no checkpoint was written yet")
    tc = config.train
    raise TrainingDiverged(
        f"training diverged: non-finite loss or parameters at step {step} (loss={float(loss):.3g}; {detail}); "
        f"{where}. Lower train.learning_rate (now {tc.learning_rate:g}) or set train.grad_clip "
        f"(now {tc.grad_clip})"
    )


# ---------------------------------------------------------------------------------------------
# Output state


def output_grid(nlat: int, nlon: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre latitudes (symmetric about the equator) and longitudes, degrees."""
    lat = -90.0 + (np.arange(nlat) + 0.5) * (180.0 / nlat)
    lon = (np.arange(nlon) + 0.5) * (360.0 / nlon)
    return lat, lon


def evaluate_fields(model: SphereNet, lat_deg: np.ndarray, lon_deg: np.ndarray) -> dict[str, np.ndarray]:
    """u, v, h, a, b, A (model units) on the (lat, lon) grid in degrees; arrays of shape (nlat, nlon)."""
    la, lo = np.meshgrid(np.radians(lat_deg), np.radians(lon_deg), indexing="ij")
    fv = jax.jit(lambda m, x, y: field_values(m, x, y))(model, jnp.asarray(la, jnp.float32),
                                                           jnp.asarray(lo, jnp.float32))
    out = {k: np.asarray(v) for k, v in zip(("u", "v", "h", "a", "b"), fv.fields)}
    out["A"] = np.asarray(fv.A)
    return out


def state_dataset(model: SphereNet, problem: Problem, config: Config, steps: int | None = None,
                  toroids_cr: int | None = None):
    """The trained state on the output grid as an xarray Dataset (model units, factors in attrs)."""
    import astropy.units as u
    import xarray as xr

    from pinn.physics.units import ModelUnits

    lat, lon = output_grid(config.train.output_nlat, config.train.output_nlon)
    f = evaluate_fields(model, lat, lon)
    la, lo = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
    target, _ = toroid_target(problem, jnp.asarray(la.ravel(), jnp.float32), jnp.asarray(lo.ravel(), jnp.float32))
    mu = ModelUnits.from_config(config.physics)
    vel = mu.velocity_unit.to_value(u.m / u.s)
    fld = mu.field_unit.to_value(u.G)
    c = float(model.pattern_speed[...])
    meta = {
        "u": ("eastward velocity", "r0*Omega", vel, "m s-1"),
        "v": ("northward velocity", "r0*Omega", vel, "m s-1"),
        "h": ("shell thickness (undisturbed 1)", "1", 1.0, "1"),
        "a": ("eastward (toroidal) magnetic field", "field unit", fld, "G"),
        "b": ("northward (poloidal) magnetic field", "field unit", fld, "G"),
        "A": ("flux function: h a = -dA/dlat, h b = dA/dlon / cos(lat)", "field unit * r0", fld, "G r0"),
        "a_obs": ("toroid data target of a (observed centre lines, widths, signs; peak a0)", "field unit", fld, "G"),
    }
    data = dict(f, a_obs=np.asarray(target).reshape(la.shape))
    ds = xr.Dataset(
        {k: (("lat", "lon"), np.asarray(v, np.float32),
             {"long_name": meta[k][0], "units": f"model ({meta[k][1]})", "to_physical": meta[k][2],
              "physical_units": meta[k][3]}) for k, v in data.items()},
        coords={"lat": ("lat", lat, {"units": "degrees_north"}),
                "lon": ("lon", lon, {"units": "degrees_east", "long_name": "longitude (model frame = "
                                     "Carrington at the map's reference time)"})},
    )
    ds.attrs.update({
        "title": "PINN MHD-SWT state (PINNBARDS)",
        "formulation": FORMULATION,
        "velocity_unit_m_s": vel,
        "field_unit_G": fld,
        "field_unit_kG": fld / 1e3,
        "time_unit_days": mu.time_unit.to_value(u.day),
        "length_unit_cm": mu.r0_cm,
        "band_strength_kG": float(problem.a0) * fld / 1e3,
        "band_strength_model": float(problem.a0),
        "gravity": float(problem.gravity),
        "prior_s0_s2_s4": np.asarray(problem.s, np.float64),
        "pattern_speed_model": c,
        "pattern_speed_deg_per_day": math.degrees(c) / mu.time_unit.to_value(u.day),
        "steps": -1 if steps is None else int(steps),
        "seed": int(config.seed),
    })
    if toroids_cr is not None:
        ds.attrs["toroids_cr"] = int(toroids_cr)
    return ds


# ---------------------------------------------------------------------------------------------
# Toroids and the CLI entry point


def load_toroids(config: Config):
    """Toroids named by ``loss.toroids``: a JSON file (``pinn toroids --json``) or ``cr:N`` (bundled map)."""
    from pinn import toroids as tor

    spec = config.loss.toroids
    if spec.startswith("cr:"):
        try:
            cr = int(spec[3:])
        except ValueError:
            raise ConfigError(f"config key 'loss.toroids': {spec!r} must be cr:N or a JSON path") from None
        from pinn.observations import load_synoptic
        from pinn.paths import bundled_map

        ds = load_synoptic(bundled_map(cr), config.observations)
        return tor.fit_toroids(ds, config.toroids)
    return read_toroids_json(spec)


def read_toroids_json(path: str | os.PathLike):
    """Toroids from a JSON file written by ``pinn toroids --json``; InputError naming the file otherwise."""
    from pinn import toroids as tor

    path = Path(path)
    try:
        return tor.Toroids.from_json_dict(json.loads(path.read_text()))
    except OSError as exc:
        raise InputError(path, f"cannot read toroids JSON ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a toroids JSON from `pinn toroids --json` ({exc})") from None


def train_from_config(
    config: Config,
    toroids=None,
    out_dir: str | os.PathLike = "pinn_run",
    resume: bool = False,
    callback: Callable[[int, TrainState], None] | None = None,
) -> TrainResult:
    """``pinn train``: train and write resolved_config.yaml, toroids.json, metrics.jsonl, checkpoints/, state.nc.

    ``toroids`` (a :class:`pinn.toroids.Toroids`) defaults to :func:`load_toroids` of the config.
    """
    from pinn.io import write_json, write_netcdf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if toroids is None:
        toroids = load_toroids(config)
    write_resolved(config, out)
    if hasattr(toroids, "to_json_dict"):
        write_json(out / "toroids.json", toroids.to_json_dict())
    result = train(config, toroids, out, resume=resume, callback=callback)
    ds = result.state
    cr = getattr(toroids, "cr", None)
    if cr is not None:
        ds.attrs["toroids_cr"] = int(cr)
    ds.attrs.update({f"final_{k}": v for k, v in result.final_terms.items()})
    write_netcdf(ds, out / "state.nc")
    return result


# ---------------------------------------------------------------------------------------------
# Ensembles: several field strengths / seeds in one jitted program


@dataclass(frozen=True)
class EnsembleResult:
    strengths_kG: tuple[float, ...]
    seeds: tuple[int, ...]
    params: Any  # nnx.State with a leading member axis
    losses: np.ndarray  # (members, steps) weighted total loss per step
    terms: np.ndarray  # (members, steps, n_terms) unweighted terms per step
    models: tuple[SphereNet, ...]  # trained network of each member


def train_ensemble(
    config: Config,
    toroids,
    strengths_kG: Sequence[float] | None = None,
    seeds: Sequence[int] | None = None,
    steps: int | None = None,
) -> EnsembleResult:
    """Adam-train one network per (strength, seed) member, all members vmapped in one jitted program.

    ``strengths_kG`` defaults to ``train.ensemble_strengths_kG``, ``seeds`` to ``config.seed`` for every
    member (a single strength with several seeds also works); ``steps`` defaults to ``train.adam_steps``.
    The L-BFGS phase is not run for ensembles.
    """
    strengths = tuple(config.train.ensemble_strengths_kG if strengths_kG is None else strengths_kG)
    if seeds is None:
        seeds = (config.seed,) * len(strengths)
    if len(strengths) == 1 and len(seeds) > 1:
        strengths = strengths * len(seeds)
    if len(seeds) != len(strengths):
        raise ConfigError("train_ensemble: give one seed per strength (or one strength and several seeds)")
    steps = config.train.adam_steps if steps is None else steps
    problems = [make_problem(config, toroids, s) for s in strengths]
    setups, states, statics = [], [], []
    for prob, seed in zip(problems, seeds):
        cfg_i = dataclasses.replace(config, seed=int(seed))
        setup, model = _setup(cfg_i, prob)
        setups.append(setup)
        statics.append(setup.statics)
        states.append(init_state(setup, model, int(seed)))
    stack = lambda trees: jax.tree.map(lambda *x: jnp.stack(x), *trees)
    state, static, problem = stack(states), stack(statics), stack(problems)
    setup = setups[0]
    K = config.train.steps_per_call
    fns: dict[int, Any] = {}
    losses, terms = [], []
    done = 0
    while done < steps:
        n = min(K - done % K, steps - done)
        if n not in fns:
            fns[n] = make_chunk_fn(setup, "adam", n, ensemble=True)
        state, loss, tm, _, _, ok = fns[n](state, static, problem)
        loss = np.asarray(loss)
        if not np.all(np.isfinite(loss)) or not np.all(np.asarray(ok)):
            bad = [s for s, l in zip(strengths, loss) if not np.all(np.isfinite(l))]
            raise TrainingDiverged(f"ensemble training diverged at step <= {done + n} for members with "
                                   f"strengths {bad} kG; lower train.learning_rate")
        losses.append(loss)
        terms.append(np.asarray(tm))
        done += n
    members = tuple(
        nnx.merge(setup.graphdef, jax.tree.map(lambda x, i=i: x[i], state.params), statics[i])
        for i in range(len(strengths)))
    return EnsembleResult(strengths, tuple(int(s) for s in seeds), state.params,
                          np.concatenate(losses, axis=1), np.concatenate(terms, axis=1), members)


# ---------------------------------------------------------------------------------------------
# The exact axisymmetric steady state (acceptance test of the PINN)


def band_toroids(lat0_deg: float = 20.0, width_deg: float = 10.0, north_sign: int = 1):
    """Axisymmetric antisymmetric toroids at +-lat0 (no longitudinal modes), opposite signs N/S."""
    from pinn.toroids import HemisphereToroid, Toroids

    return Toroids(cr=0, threshold_G=0.0,
                   north=HemisphereToroid(lat0_deg, width_deg, (), (), north_sign),
                   south=HemisphereToroid(-lat0_deg, width_deg, (), (), -north_sign))


def axisymmetric_reference(config: Config, toroids, lat_deg: np.ndarray, strength_kG: float | None = None):
    """Exact steady axisymmetric state (u, a, h) for axisymmetric ``toroids`` at latitudes ``lat_deg``.

    a = the data target (bands), u = u0 (prior), v = b = 0, h from the v-momentum balance
    (equations.steady_axisymmetric_dh_dlat) integrated in float64 on a fine grid, area mean 1.
    """
    from pinn.physics.equations import SWTParams, differential_rotation, steady_axisymmetric_dh_dlat

    prob = make_problem(config, toroids, strength_kG)
    ph = config.physics
    fine = np.linspace(-np.pi / 2, np.pi / 2, 20001)

    a_f = np.zeros_like(fine)
    for hemi in (toroids.north, toroids.south):
        if hemi is not None:
            a_f += hemi.sign * np.exp(-(((np.degrees(fine) - hemi.lat0_deg) / hemi.width_deg) ** 2))
    a_f *= float(prob.a0)
    u_f = np.asarray(differential_rotation(fine, ph.s0, ph.s2, ph.s4), np.float64)
    dh = np.asarray(steady_axisymmetric_dh_dlat(fine, u_f, a_f, SWTParams(gravity=ph.gravity)), np.float64)
    h_f = np.concatenate([[0.0], np.cumsum(0.5 * (dh[1:] + dh[:-1]) * np.diff(fine))])
    w = np.cos(fine)
    h_f += 1.0 - np.trapezoid(h_f * w, fine) / np.trapezoid(w, fine)
    lat = np.radians(np.asarray(lat_deg, np.float64))
    return {"u": np.interp(lat, fine, u_f), "a": np.interp(lat, fine, a_f), "h": np.interp(lat, fine, h_f)}


def axisymmetric_errors(model: SphereNet, config: Config, toroids, nlat: int = 90, nlon: int = 36) -> dict:
    """Area-weighted relative L2 errors of u, a and h - 1 (and RMS of v, b) against the exact state."""
    lat, lon = output_grid(nlat, nlon)
    f = evaluate_fields(model, lat, lon)
    ref = axisymmetric_reference(config, toroids, lat)
    w = np.cos(np.radians(lat))[:, None] * np.ones((1, nlon))

    def rel(x, y):
        return float(np.sqrt(np.sum(w * (x - y) ** 2) / np.sum(w * y**2)))

    return {
        "u": rel(f["u"], ref["u"][:, None]),
        "a": rel(f["a"], ref["a"][:, None]),
        "h-1": rel(f["h"] - 1.0, ref["h"][:, None] - 1.0),
        "v_rms_over_u_rms": float(np.sqrt(np.sum(w * f["v"] ** 2) / np.sum(w * ref["u"][:, None] ** 2))),
        "b_rms_over_a_rms": float(np.sqrt(np.sum(w * f["b"] ** 2) / np.sum(w * ref["a"][:, None] ** 2))),
    }
