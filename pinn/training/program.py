"""The training program: what one run traces (batch, loss, Adam and L-BFGS steps, fused chunks of steps).

:class:`TrainingProgram` is built from (config, problem) and holds the network's graph and non-trainable
state, the device mesh and the two optimisers. Its methods are pure functions of their arguments (the
statics and problem arrays are passed in, not closed over), so one compiled chunk serves every run that
differs only in seed or physics, and ``jax.vmap`` over a leading member axis gives ensembles.

Determinism: the collocation points of step s are drawn from ``fold_in(key(seed), s // resample_every)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from pinn.config.schema import Config
from pinn.training.losses import (
    GROUP_NAMES,
    Batch,
    Problem,
    balanced_weights,
    group_losses,
    loss_options,
    loss_terms,
    sample_batch,
    static_weights,
)
from pinn.training.networks import SphereNet
from pinn.training.setup import build_model, check_config, learning_rate_schedule, make_mesh
from pinn.training.timedep import SeriesBatch, sample_series_batch, series_loss_terms


class TrainState(NamedTuple):
    """Everything that evolves during training (and is checkpointed)."""

    params: Any  # nnx.State of the trainable parameters
    adam: Any  # Adam optimiser state
    lbfgs: Any  # L-BFGS optimiser state (initialised at start, used after the Adam phase)
    weights: jnp.ndarray  # (n_groups,) adaptive loss weights (ones when adaptive balancing is off)
    step: jnp.ndarray  # int32, number of updates done
    key: jnp.ndarray  # uint32 key data of the run's base PRNG key (from the seed)


class StepLog(NamedTuple):
    """Values before one update: weighted total loss, unweighted terms (T,), group weights (G,), c."""

    loss: jnp.ndarray
    terms: jnp.ndarray
    weights: jnp.ndarray
    pattern_speed: jnp.ndarray


# the jitted chunk functions, memoised on what their traced program depends on (see chunk_fn)
_CHUNK_FNS: dict = {}


def _strong(tree):
    """Copy with every leaf a strongly typed array (weak types would change after a checkpoint restore)."""
    return jax.tree.map(lambda x: jnp.array(x, dtype=jnp.asarray(x).dtype), tree)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingProgram:
    """Set-up of one run: network graph and initial state, device mesh, optimisers; and its step functions."""

    config: Config
    problem: Problem
    graphdef: Any  # nnx graph of the network
    params: Any  # nnx.State of the initial trainable parameters (network initialised from config.seed)
    statics: Any  # non-trainable network state (Fourier matrix, output scales)
    mesh: Mesh
    adam: optax.GradientTransformation
    lbfgs: optax.GradientTransformationExtraArgs
    shard_points: bool = True  # constrain the collocation points to the mesh's 'batch' axis

    @classmethod
    def create(cls, config: Config, problem: Problem, mesh: Mesh | None = None,
               shard_points: bool = True) -> TrainingProgram:
        """Check the config against the devices, build the network (from config.seed) and the optimisers.

        ``mesh`` defaults to :func:`make_mesh` of the config. ``shard_points=False`` leaves the points of a
        batch unconstrained: for programs vmapped over runs whose run axis is sharded instead
        (:mod:`pinn.training.batch`).
        """
        mesh = make_mesh(config) if mesh is None else mesh
        check_config(config, mesh.size if shard_points else 1)
        model = build_model(config, problem)
        graphdef, params, statics = nnx.split(model, nnx.Param, ...)
        tc = config.train
        chain = [optax.clip_by_global_norm(tc.grad_clip)] if tc.grad_clip else []
        adam = optax.chain(*chain, optax.adam(learning_rate_schedule(config)))
        lbfgs = optax.lbfgs(memory_size=tc.lbfgs_memory,
                            linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=20))
        return cls(config, problem, graphdef, params, statics, mesh, adam, lbfgs, shard_points)

    # -- state and network -------------------------------------------------------------------

    def init_state(self, seed: int | None = None) -> TrainState:
        """Step-0 state: the initial parameters, fresh optimiser states, unit weights, key of ``seed``.

        ``seed`` (default config.seed) keys the collocation points; the network itself was initialised
        from config.seed when the program was created.
        """
        params = self.params
        state = TrainState(
            params=params,
            adam=self.adam.init(params),
            lbfgs=self.lbfgs.init(params),
            weights=jnp.ones((len(GROUP_NAMES),), jnp.float32),
            step=jnp.zeros((), jnp.int32),
            key=jax.random.key_data(jax.random.key(self.config.seed if seed is None else seed)),
        )
        return _strong(state)

    def network(self, params: Any, statics: Any | None = None) -> SphereNet:
        """The network with ``params`` (and ``statics``, default the program's)."""
        return nnx.merge(self.graphdef, params, self.statics if statics is None else statics)

    def replicate(self, tree: Any) -> Any:
        """``tree`` placed, replicated, on every device of the mesh."""
        return jax.device_put(tree, NamedSharding(self.mesh, P()))

    def pattern_speed(self, params: Any, statics: Any) -> jnp.ndarray:
        """Trainable pattern speed c of the network (model units, rad per time unit)."""
        return self.network(params, statics).pattern_speed[...]

    # -- loss ----------------------------------------------------------------------------------

    @property
    def time_dependent(self) -> bool:
        """True for ``train.formulation: time_dependent`` (:mod:`pinn.training.timedep`)."""
        return self.config.train.formulation == "time_dependent"

    def batch(self, key: jax.Array, problem: Problem | None = None) -> Batch | SeriesBatch:
        """Collocation batch drawn from ``key``, its points sharded over the mesh's 'batch' axis (time-dependent:
        with the times of ``problem``'s window, default the program's)."""
        lc = self.config.loss
        if self.time_dependent:
            sb = sample_series_batch(key, self.problem if problem is None else problem, lc.collocation_points,
                                     lc.quadrature_lats, lc.quadrature_lons, lc.time_slices)
            if not self.shard_points:
                return sb
            shard = NamedSharding(self.mesh, P("batch"))
            c = lambda x: jax.lax.with_sharding_constraint(x, shard)
            return sb._replace(space=sb.space._replace(lat=c(sb.space.lat), lon=c(sb.space.lon)), t=c(sb.t),
                               t_data=c(sb.t_data))
        b = sample_batch(key, lc.collocation_points, lc.quadrature_lats, lc.quadrature_lons)
        if not self.shard_points:
            return b
        shard = NamedSharding(self.mesh, P("batch"))
        return b._replace(lat=jax.lax.with_sharding_constraint(b.lat, shard),
                          lon=jax.lax.with_sharding_constraint(b.lon, shard))

    def step_key(self, state: TrainState, step: jnp.ndarray) -> jax.Array:
        """Key of the batch of ``step``: the run's key folded with step // loss.resample_every."""
        return jax.random.fold_in(jax.random.wrap_key_data(state.key), step // self.config.loss.resample_every)

    def terms_and_groups(self, params: Any, statics: Any, problem: Problem,
                         batch: Batch) -> tuple[jnp.ndarray, jnp.ndarray]:
        """Unweighted loss terms (T,) and the group losses (G,) built from them, as the config asks."""
        lc = self.config.loss
        if self.time_dependent:
            terms, pde = series_loss_terms(self.network(params, statics), problem, batch,
                                           cos_power=float(lc.residual_cos_power), residual_weights=lc.residual_weights,
                                           slices=lc.time_slices, epsilon=lc.causal_epsilon)
            return terms, group_losses(terms, lc.residual_weights).at[0].set(pde)
        terms = loss_terms(self.network(params, statics), problem, batch, lc.derivatives,
                           **loss_options(self.config))
        return terms, group_losses(terms, lc.residual_weights)

    def loss(self, params: Any, statics: Any, problem: Problem, batch: Batch,
             weights: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """(weighted total loss, unweighted terms): the function the training step differentiates."""
        terms, groups = self.terms_and_groups(params, statics, problem, batch)
        total = jnp.sum(static_weights(self.config) * weights * groups)
        return total, terms

    def group_grad_norms(self, params: Any, statics: Any, problem: Problem, batch: Batch) -> jnp.ndarray:
        """L2 norm of the parameter gradient of each group loss (G,), for adaptive weights."""
        def groups(p):
            return self.terms_and_groups(p, statics, problem, batch)[1]

        jac = jax.jacrev(groups)(params)
        sq = sum(jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1) for x in jax.tree.leaves(jac))
        return jnp.sqrt(sq)

    # -- steps ---------------------------------------------------------------------------------

    def adam_step(self, statics: Any, problem: Problem, state: TrainState) -> tuple[TrainState, StepLog]:
        """One Adam update on the step's batch (adaptive weights refreshed every loss.adaptive_every)."""
        lc = self.config.loss
        batch = self.batch(self.step_key(state, state.step), problem)
        weights = state.weights
        if lc.adaptive:
            def update_weights():
                norms = self.group_grad_norms(state.params, statics, problem, batch)
                norms = norms * static_weights(self.config)
                return balanced_weights(norms, state.weights, lc.adaptive_alpha, lc.adaptive_bounds)

            weights = jax.lax.cond(state.step % lc.adaptive_every == 0, update_weights, lambda: state.weights)
        (total, terms), grads = jax.value_and_grad(self.loss, has_aux=True)(
            state.params, statics, problem, batch, weights)
        updates, adam = self.adam.update(grads, state.adam, state.params)
        params = optax.apply_updates(state.params, updates)
        new = state._replace(params=params, adam=adam, weights=weights, step=state.step + 1)
        return new, StepLog(total, terms, weights, self.pattern_speed(state.params, statics))

    def lbfgs_step(self, statics: Any, problem: Problem, state: TrainState) -> tuple[TrainState, StepLog]:
        """One L-BFGS update on one fixed objective: the first L-BFGS step's batch, weights frozen."""
        batch = self.batch(self.step_key(state, jnp.int32(self.config.train.adam_steps)), problem)

        def value_fn(p):
            return self.loss(p, statics, problem, batch, state.weights)[0]

        value, grad = optax.value_and_grad_from_state(value_fn)(state.params, state=state.lbfgs)
        terms = self.loss(state.params, statics, problem, batch, state.weights)[1]
        updates, lb = self.lbfgs.update(grad, state.lbfgs, state.params, value=value, grad=grad,
                                        value_fn=value_fn)
        params = optax.apply_updates(state.params, updates)
        new = state._replace(params=params, lbfgs=lb, step=state.step + 1)
        return new, StepLog(value, terms, state.weights, self.pattern_speed(state.params, statics))

    def chunk(self, phase: str, n: int, state: TrainState, statics: Any, problem: Problem):
        """n steps of one phase fused with lax.scan: (state, loss[n], terms[n, T], weights[n, G], c[n],
        all-parameters-finite flag); per-step values are those before each update."""
        body = self.adam_step if phase == "adam" else self.lbfgs_step

        def scan_body(s, _):
            return body(statics, problem, s)

        state, (loss, terms, weights, c) = jax.lax.scan(scan_body, state, None, length=n)
        finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(state.params)]))
        return state, loss, terms, weights, c, finite

    def chunk_fn(self, phase: str, n: int, ensemble: bool = False) -> Callable:
        """The jitted :meth:`chunk` (state, statics, problem) -> (state, loss, terms, weights, c, finite);
        with ``ensemble``, vmapped over a leading member axis of all three arguments.

        Memoised on what the traced program depends on (network, loss and train sections, devices, phase,
        n, ensemble, point sharding), so runs in one process that differ only in seed or physics compile once.
        """
        cfg = self.config
        key = (cfg.network, cfg.loss, cfg.train, tuple(self.mesh.devices.flat), phase, n, ensemble,
               self.shard_points)
        if key not in _CHUNK_FNS:
            fn = partial(self.chunk, phase, n)
            if ensemble:
                fn = jax.vmap(fn)
            level = cfg.train.xla_opt_level
            _CHUNK_FNS[key] = jax.jit(
                fn, compiler_options=None if level is None else {"xla_backend_optimization_level": level})
        return _CHUNK_FNS[key]
