"""Batched training: the PINN runs of many cases (different toroids, same config) as one jitted program.

Every case has its own :class:`~pinn.training.losses.Problem` (centre-line table, widths, signs, scales); all
Problems have the same shapes (the centre-line table has a fixed size), so they stack into one pytree
with a leading case axis, and the training chunk of :class:`~pinn.training.program.TrainingProgram` is
vmapped over it: one compilation per (config, chunk length, device set) serves any number of cases.

The case axis is sharded over a 1-D :class:`jax.sharding.Mesh` ``'case'`` of the process's local
devices (the batch is padded to a multiple of the device count by repeating its last case; the padding
is dropped from the results). Cases never communicate, so each case's result equals its single run up
to float32 round-off (vmapped and sharded programs are not bit-identical to the unbatched one). The
collocation points of one case are not sharded (``shard_points=False``).

Each case is initialised and keyed exactly as :func:`pinn.training.train` does from the same config
(network from ``config.seed``, collocation key from ``config.seed``). Not written: metrics.jsonl and
per-run checkpoints (a batch is the unit of work; callers save each finished case).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from pinn.config.schema import Config
from pinn.errors import TrainingDiverged
from pinn.training.losses import TERM_NAMES, Problem
from pinn.training.program import TrainingProgram, TrainState
from pinn.training.schema import state_dataset
from pinn.training.setup import chunk_plan
from pinn.training.warm import StopRule, loss_levels, warm_state

CASE_AXIS = "case"


@dataclass(frozen=True)
class BatchResult:
    """Outcome of a batched training: per case its state (as state.nc holds it) and final terms."""

    states: tuple[Any, ...]  # xarray.Dataset per case (u, v, h, a, b, A, a_obs on the output grid)
    final_terms: tuple[dict[str, float], ...]  # unweighted loss terms at the last step, per case
    first_call_s: float  # wall time of the first call of each compiled chunk (compilation included)
    steady_s: float  # wall time of the other chunk calls
    n_padded: int  # cases run, padding included
    steps: tuple[int, ...] = ()  # updates done per case (a warm case stops at its tolerance)
    levels: tuple[tuple[float, float], ...] = ()  # per case: PDE and data losses averaged over its last chunk
    train_state: Any = None  # host TrainState of the cases, stacked on a leading case axis (a warm source)
    level_history: Any = None  # (cases, chunks, 2) levels after each chunk run (a frozen case repeats its last)
    chunk_ends: tuple[int, ...] = ()  # step count at the end of each chunk run


def case_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """1-D mesh ``'case'`` over ``devices`` (default: this process's local devices)."""
    return Mesh(np.array(list(jax.local_devices() if devices is None else devices)), (CASE_AXIS,))


def padded(items: Sequence[Any], multiple: int) -> list[Any]:
    """``items`` extended by repeats of its last item to a length that is a multiple of ``multiple``."""
    items = list(items)
    return items + [items[-1]] * (-len(items) % multiple)


def stack(trees: Sequence[Any]) -> Any:
    """Stack pytrees of equal structure and shapes along a new leading axis.

    Plain arrays are stacked on the host (numpy; jnp.stack compiled a program for every leaf shape, about 1 s per
    batch of cases), typed PRNG keys with jnp.stack."""
    def one(*leaves):
        if isinstance(leaves[0], jax.Array) and jax.dtypes.issubdtype(leaves[0].dtype, jax.dtypes.prng_key):
            return jnp.stack(leaves)
        return np.stack([np.asarray(x) for x in leaves])

    return jax.tree.map(one, *trees)


def member(tree: Any, i: int) -> Any:
    """Member ``i`` of a pytree with a leading member axis."""
    return jax.tree.map(lambda x: x[i], tree)


def train_batch(config: Config, problems: Sequence[Problem], mesh: Mesh | None = None,
                toroids_crs: Sequence[int | None] | None = None, start: TrainState | None = None,
                stop: StopRule | None = None) -> BatchResult:
    """Train one PINN per Problem (same config), all cases vmapped in one program sharded over ``mesh``.

    Cold (``start`` None): the whole chunk plan of the config (Adam, then L-BFGS if configured), each
    case from config.seed. Warm: every case starts from ``start`` (one unstacked TrainState,
    :func:`pinn.training.warm.warm_state`) and runs Adam in chunks of ``train.warm_check_every`` steps,
    at most ``train.adam_steps``; with ``stop``, a case that meets the rule after a chunk is frozen there
    and the batch ends once every case has. ``toroids_crs`` sets the ``toroids_cr`` attribute of each
    state. Raises :class:`TrainingDiverged` naming the cases whose loss or parameters went non-finite.
    """
    if not problems:
        raise ValueError("train_batch: no problems")
    mesh = case_mesh() if mesh is None else mesh
    n = len(problems)
    runs = padded(problems, mesh.size)
    programs = [TrainingProgram.create(config, p, mesh=mesh, shard_points=False) for p in runs]
    sharding = NamedSharding(mesh, P(CASE_AXIS))
    put = lambda tree: jax.device_put(stack(tree), sharding)
    fresh = [p.init_state(config.seed) for p in programs]
    state = put(fresh if start is None else [warm_state(start, f) for f in fresh])
    statics = put([p.statics for p in programs])
    problem = put(runs)
    plan = chunk_plan(0, config) if start is None else warm_plan(config)
    done = np.zeros(len(runs), bool)
    last_terms = np.full((len(runs), len(TERM_NAMES)), np.nan)
    levels = np.full((len(runs), 2), np.nan)
    history: list[np.ndarray] = []
    ends: list[int] = []
    first = steady = 0.0
    fns: dict[tuple[str, int], Any] = {}
    rw = config.loss.residual_weights
    for phase, s0, k in plan:
        first_call = (phase, k) not in fns
        fn = fns.setdefault((phase, k), programs[0].chunk_fn(phase, k, ensemble=True))
        t0 = time.perf_counter()
        new, loss, terms, _, _, ok = fn(state, statics, problem)
        loss, terms, ok = np.asarray(loss), np.asarray(terms), np.asarray(ok)
        live = ~done
        _check_finite(np.where(live[:, None], loss, 0.0)[:n], (ok | done)[:n], s0 + k)
        state = new if not done.any() else hold(jnp.asarray(done), state, new)
        if first_call:
            first += time.perf_counter() - t0
        else:
            steady += time.perf_counter() - t0
        last_terms[live] = terms[live, -1]
        levels[live] = loss_levels(terms[live], rw)
        history.append(levels[:n].copy())
        ends.append(s0 + k)
        if stop is not None:
            done |= stop.met(terms)
            if done[:n].all():
                break
    host = jax.device_get(state)
    steps = np.asarray(host.step)
    states, finals = [], []
    for i in range(n):
        model = programs[i].network(member(host.params, i))
        ds = state_dataset(model, problems[i], config, steps=int(steps[i]))
        terms = {k: float(v) for k, v in zip(TERM_NAMES, last_terms[i])}
        if toroids_crs is not None and toroids_crs[i] is not None:
            ds.attrs["toroids_cr"] = int(toroids_crs[i])
        ds.attrs.update({f"final_{k}": v for k, v in terms.items()})
        states.append(ds)
        finals.append(terms)
    return BatchResult(tuple(states), tuple(finals), first, steady, len(runs),
                       tuple(int(x) for x in steps[:n]), tuple((float(a), float(b)) for a, b in levels[:n]),
                       jax.tree.map(lambda x: x[:n], host), np.stack(history, axis=1), tuple(ends))


def warm_plan(config: Config) -> list[tuple[str, int, int]]:
    """Chunks of a warm fine-tune: Adam in ``train.warm_check_every`` steps, ``train.adam_steps`` at most."""
    tc = config.train
    k = tc.warm_check_every
    return [("adam", s, min(k, tc.adam_steps - s)) for s in range(0, tc.adam_steps, k)]


def hold(done: jax.Array, old: Any, new: Any) -> Any:
    """``new`` with the cases marked in ``done`` (leading case axis) kept at ``old``: stopped cases freeze."""
    return jax.tree.map(lambda o, x: jnp.where(done.reshape(done.shape + (1,) * (x.ndim - 1)), o, x), old, new)


def _check_finite(loss: np.ndarray, finite: np.ndarray, step: int) -> None:
    """Raise TrainingDiverged naming the cases (batch indices) with a non-finite loss or parameter."""
    bad = [i for i in range(len(loss)) if not (np.all(np.isfinite(loss[i])) and bool(finite[i]))]
    if bad:
        raise TrainingDiverged(f"batched training diverged at step <= {step} for cases {bad} of the batch; "
                               "lower train.learning_rate")
