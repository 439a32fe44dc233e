"""The training loops: :func:`train` (one run, checkpoints, metrics, resume) and :func:`train_ensemble`
(members vmapped in one program), both driving compiled chunks through :func:`run_chunks`.

Exact resume: chunk boundaries come from :func:`chunk_plan` (multiples of train.steps_per_call and the
Adam -> L-BFGS switch), so a run resumed from a checkpoint (parameters, both optimiser states, adaptive
weights, step, key) executes the same compiled programs on the same inputs and ends with bit-identical
parameters.

Divergence guard: after every chunk the losses and parameters are checked; a non-finite value raises
:class:`pinn.errors.TrainingDiverged` naming the step and the terms, without saving the bad state (the
last good checkpoint stays the latest).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pinn.config.schema import Config
from pinn.errors import ConfigError
from pinn.training.checkpoints import Checkpoints, config_hash
from pinn.training.losses import TERM_NAMES, Problem
from pinn.training.metrics import (
    append_lines,
    bar_postfix,
    chunk_lines,
    progress_bar,
    raise_diverged,
    raise_ensemble_diverged,
    truncate_metrics,
)
from pinn.training.networks import SphereNet
from pinn.training.program import TrainingProgram, TrainState
from pinn.training.schema import state_dataset
from pinn.training.setup import chunk_plan, learning_rate_schedule
from pinn.training.timedep import problem_for

log = logging.getLogger("pinn.training")


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


@dataclass(frozen=True)
class EnsembleResult:
    """Outcome of an ensemble run: per-member strengths, seeds, stacked parameters, losses and networks."""

    strengths_kG: tuple[float, ...]
    seeds: tuple[int, ...]
    params: Any  # nnx.State with a leading member axis
    losses: np.ndarray  # (members, steps) weighted total loss per step
    terms: np.ndarray  # (members, steps, n_terms) unweighted terms per step
    models: tuple[SphereNet, ...]  # trained network of each member


class Chunk(NamedTuple):
    """One executed chunk: where it sits in the plan, the state after it and its per-step values (host
    arrays; a leading member axis for ensembles), and its wall time."""

    phase: str
    start: int  # first step
    n: int  # steps
    state: TrainState  # after the chunk
    loss: np.ndarray  # (n,) weighted total loss before each update
    terms: np.ndarray  # (n, T) unweighted terms
    weights: np.ndarray  # (n, G) group weights
    pattern_speed: np.ndarray  # (n,) c, model units
    finite: np.ndarray  # all parameters finite after the chunk
    seconds: float  # wall time of the call, host transfer included
    first_call: bool  # first call of this compiled chunk in this loop (its time includes compilation)


def run_chunks(program: TrainingProgram, plan: Sequence[tuple[str, int, int]], state: TrainState,
               statics: Any, problem: Problem, ensemble: bool = False) -> Iterator[Chunk]:
    """Run the chunks of ``plan`` from ``state``, yielding each; the caller checks, logs and saves.

    With ``ensemble``, ``state``, ``statics`` and ``problem`` carry a leading member axis.
    """
    fns: dict[tuple[str, int], Callable] = {}
    for phase, s0, n in plan:
        key = (phase, n)
        first_call = key not in fns
        if first_call:
            fns[key] = program.chunk_fn(phase, n, ensemble)
        t0 = time.perf_counter()
        state, loss, terms, weights, cs, ok = fns[key](state, statics, problem)
        loss, terms, weights, cs = (np.asarray(x) for x in (loss, terms, weights, cs))
        yield Chunk(phase, s0, n, state, loss, terms, weights, cs, np.asarray(ok), time.perf_counter() - t0,
                    first_call)


def _open_run(out: Path, config: Config, state: TrainState, resume: bool
              ) -> tuple[Checkpoints, TrainState, int | None]:
    """Checkpoints of ``out``: refuse a used folder without resume, restore (hash-checked) with it."""
    ckpt = Checkpoints(out / "checkpoints", config)
    latest = ckpt.latest()
    resumed_from = None
    if latest is not None and not resume:
        ckpt.close()
        raise ConfigError(f"{out} already holds checkpoints (latest step {latest}): pass --resume to "
                          "continue that run, or choose another --out")
    if resume and latest is not None:
        state, meta = ckpt.restore(state)
        if meta.get("config_hash") != config_hash(config):
            ckpt.close()
            raise ConfigError(f"cannot resume from {out}: its checkpoints were made with a different config "
                              f"(compare {out / 'resolved_config.yaml'})")
        resumed_from = int(state.step)
        log.info("resuming from step %d", resumed_from)
    elif resume:
        log.warning("--resume: no checkpoint in %s, starting from step 0", out)
    return ckpt, state, resumed_from


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
    problem = problem_for(config, toroids) if problem is None else problem
    program = TrainingProgram.create(config, problem)
    tc = config.train
    total = tc.adam_steps + tc.lbfgs_steps
    state = program.init_state(config.seed)
    statics = program.replicate(program.statics)
    problem_d = program.replicate(problem)

    ckpt, metrics_path, resumed_from = None, None, None
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        metrics_path = out / "metrics.jsonl"
        ckpt, state, resumed_from = _open_run(out, config, state, resume)
        truncate_metrics(metrics_path, int(state.step))
    state = program.replicate(state)
    start = int(state.step)

    schedule = learning_rate_schedule(config)
    last_loss, last_terms = math.nan, np.full(len(TERM_NAMES), np.nan)
    wall = timed_s = 0.0
    timed_points = 0
    t_loop = time.perf_counter()
    bar = progress_bar(tc.progress, total, start)
    meta = {"config_hash": config_hash(config), "seed": config.seed}
    try:
        for ch in run_chunks(program, chunk_plan(start, config), state, statics, problem_d):
            wall += ch.seconds
            if not ch.first_call:  # throughput without compilation
                timed_s += ch.seconds
                timed_points += ch.n * config.loss.collocation_points
            bad = ~(np.isfinite(ch.loss) & np.all(np.isfinite(ch.terms), axis=1))
            lines = chunk_lines(config, schedule, ch.phase, ch.start, ch.loss, ch.terms, ch.weights,
                                ch.pattern_speed, bad, time.perf_counter() - t_loop)
            if metrics_path is not None:
                append_lines(metrics_path, lines)
            if bad.any() or not bool(ch.finite):
                i = int(np.argmax(bad)) if bad.any() else ch.n - 1
                raise_diverged(config, ch.start + i, ch.loss[i], ch.terms[i], ckpt, out_dir)
            state = ch.state
            last_loss, last_terms = float(ch.loss[-1]), ch.terms[-1]
            step = ch.start + ch.n
            if ckpt is not None and (step % tc.checkpoint_every == 0 or step == total or step == tc.adam_steps):
                ckpt.save(state, {**meta, "step": step, "phase": ch.phase})
            if bar is not None:
                bar.update(ch.n)
                bar.set_postfix(bar_postfix(config, last_loss, last_terms, ch.pattern_speed[-1]), refresh=False)
            if callback is not None:
                callback(step, state)
    finally:
        if bar is not None:
            bar.close()
        if ckpt is not None:
            ckpt.wait()
            ckpt.close()

    trained = program.network(jax.device_get(state.params))
    # throughput excludes the first call of each compiled chunk (it includes compilation)
    points_per_s = timed_points / timed_s if timed_s > 0 else math.nan
    ds = state_dataset(trained, problem, config, steps=int(state.step))
    return TrainResult(
        state=ds, model=trained, steps=int(state.step), final_loss=last_loss,
        final_terms={k: float(v) for k, v in zip(TERM_NAMES, last_terms)},
        pattern_speed=float(trained.pattern_speed[...]), wall_s=wall, points_per_s=points_per_s,
        resumed_from=resumed_from, out_dir=None if out_dir is None else Path(out_dir),
    )


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
    problems = [problem_for(config, toroids, s) for s in strengths]
    programs = [TrainingProgram.create(dataclasses.replace(config, seed=int(seed)), prob)
                for prob, seed in zip(problems, seeds)]
    statics = [p.statics for p in programs]
    states = [p.init_state(int(seed)) for p, seed in zip(programs, seeds)]
    stack = lambda trees: jax.tree.map(lambda *x: jnp.stack(x), *trees)
    state, static, problem = stack(states), stack(statics), stack(problems)
    program = programs[0]
    # the Adam phase cut to ``steps``, chunked as a single run of that length (the schedule is the config's)
    tc = dataclasses.replace(config.train, adam_steps=steps, lbfgs_steps=0)
    plan = chunk_plan(0, dataclasses.replace(config, train=tc))
    losses, terms = [], []
    for ch in run_chunks(program, plan, state, static, problem, ensemble=True):
        if not np.all(np.isfinite(ch.loss)) or not np.all(ch.finite):
            raise_ensemble_diverged(strengths, ch.loss, ch.start + ch.n)
        losses.append(ch.loss)
        terms.append(ch.terms)
        state = ch.state
    members = tuple(program.network(jax.tree.map(lambda x, i=i: x[i], state.params), statics[i])
                    for i in range(len(strengths)))
    return EnsembleResult(strengths, tuple(int(s) for s in seeds), state.params,
                          np.concatenate(losses, axis=1), np.concatenate(terms, axis=1), members)
