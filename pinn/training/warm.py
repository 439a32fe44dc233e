"""Warm start of batched PINN trainings: fine-tune each case from a trained network, stop at a tolerance.

Consecutive rotations have nearly the same toroids, so a network trained on one is a close start for the
next. ``train.warm_start`` chooses the source (``none`` keeps the cold start from ``config.seed``):

* ``batch_mean``: one network trained cold (the full chunk plan) on the batch's mean loss inputs
  (:func:`mean_problem`), shared by every case of the batch;
* ``previous``: the cases in order, the first cold, each next one fine-tuned from the one before.

A warm case starts from the source's parameters, Adam moments (so the learning-rate schedule continues
from where the source stopped, not from its warm-up) and adaptive weights, with its own step counter
(0) and collocation key. Stopping rule (:class:`StopRule`): every ``train.warm_check_every`` steps the
case's PDE and data losses, averaged over that interval, are compared with the cold-trained source's
converged level (the same averages over its last chunk); the case stops when both are within
``train.warm_tolerance`` times that level, and after ``train.adam_steps`` steps at most. A stopped
case is frozen (its state no longer changes) while the others of its vmapped batch go on, so its result
depends only on its own inputs and the source.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from pinn.training.losses import TERM_NAMES, Problem
from pinn.training.program import TrainState

_N_PDE = TERM_NAMES.index("data")  # the residual terms come first (losses.group_losses)
_DATA = TERM_NAMES.index("data")


def loss_levels(terms: np.ndarray, residual_weights: Sequence[float] | None = None) -> np.ndarray:
    """(..., 2) PDE group loss and data term, averaged over the steps axis of ``terms`` (..., steps, T).

    The PDE group is the residual terms summed with ``residual_weights`` (as the loss groups them);
    averaging over the steps of a chunk smooths the noise of resampled collocation points.
    """
    terms = np.asarray(terms, np.float64)
    w = np.ones(_N_PDE) if residual_weights is None else np.asarray(residual_weights, np.float64)
    pde = np.sum(terms[..., :_N_PDE] * w, axis=-1)
    return np.stack([pde.mean(axis=-1), terms[..., _DATA].mean(axis=-1)], axis=-1)


@dataclasses.dataclass(frozen=True)
class StopRule:
    """Stop a warm case once its PDE and data levels are <= ``factor`` x the ``reference`` levels."""

    reference: np.ndarray  # (2,) or (cases, 2): PDE and data levels of the cold-trained source
    factor: float  # train.warm_tolerance
    residual_weights: tuple[float, ...] | None = None  # loss.residual_weights

    def met(self, terms: np.ndarray) -> np.ndarray:
        """(cases,) True where the chunk's levels (terms: cases, steps, T) are within tolerance."""
        levels = loss_levels(terms, self.residual_weights)
        return np.all(levels <= self.factor * np.asarray(self.reference), axis=-1)


def mean_problem(problems: Sequence[Problem]) -> Problem:
    """The mean loss inputs of a batch: arrays averaged over the cases; a hemisphere has data if any case
    has, and its toroidal-field sign is the sign of the mean sign (the batch's prevailing polarity)."""
    mean = Problem(*(np.mean(np.stack([np.asarray(x, np.float64) for x in xs]), axis=0) for xs in zip(*problems)))
    mean = mean._replace(sign=np.sign(mean.sign),
                         has_data=np.max(np.stack([np.asarray(p.has_data) for p in problems]), axis=0))
    return Problem(*(jnp.asarray(x, jnp.float32) for x in mean))


def problem_digest(problem: Problem) -> str:
    """Hash of the loss inputs' values: names a batch_mean source in the state-cache key."""
    h = hashlib.sha256()
    for x in problem:
        h.update(np.ascontiguousarray(np.asarray(x, np.float32)).tobytes())
    return h.hexdigest()[:16]


def warm_state(source: TrainState, fresh: TrainState) -> TrainState:
    """The start of a warm case: the source's parameters, optimiser states and loss weights, with the
    fresh state's step (0) and collocation key."""
    return source._replace(step=fresh.step, key=fresh.key)
