"""Causal linear pools of density forecasts: mixture weights fitted on the forecasts' own past scores.

A linear pool forecasts with ``sum_k w_k p_k`` (w on the simplex), so it is a density whenever every p_k is, and its
score at an AR needs only the components' scores there: ``log2 sum_k w_k 2**bits_k``. The weights maximise the
log score of the pool over the ARs of rotations already scored (stacking of predictive distributions; Wolpert
1992, Yao, Vehtari, Simpson & Gelman 2018). The score is concave in w, so its maximum on the simplex is found by
sequential quadratic programming (scipy SLSQP, analytic gradient) from equal weights: deterministic.

Choosing the single best component on the past (what :func:`pinn.emergence.data_only.prequential` does) is the
special case of a one-hot w; the pool can only match or beat it in sample, and it hedges between components
whose skill changes along the cycle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize

TOLERANCE = 1e-12  # SLSQP's tolerance on the mean natural-log score per AR
MAX_ITERATIONS = 500
NEGLIGIBLE_WEIGHT = 1e-9  # weights below this are set to 0 (their components leave the pool)


def pool_weights(bits: np.ndarray) -> np.ndarray:
    """Weights (k,) of the linear pool with the highest mean log score over ``bits`` (n_ar, k), the components'
    log2 densities (per sr) at each AR. Starts from equal weights; deterministic."""
    bits = np.asarray(bits, float)
    if bits.ndim != 2 or bits.shape[0] == 0 or bits.shape[1] == 0:
        raise ValueError(f"pool_weights: need scores of shape (n_ar > 0, k > 0), got {bits.shape}")
    if not np.all(np.isfinite(bits)):
        raise ValueError("pool_weights: component scores must be finite (every component a floored density)")
    p = np.exp2(bits - bits.max(axis=1, keepdims=True))  # each AR scaled by its best component: same argmax
    k = p.shape[1]
    if k == 1:
        return np.ones(1)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        mix = np.maximum(p @ w, 1e-300)
        return -float(np.mean(np.log(mix))), -(p / mix[:, None]).mean(axis=0)

    res = minimize(loss, np.full(k, 1.0 / k), jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
                   options={"ftol": TOLERANCE, "maxiter": MAX_ITERATIONS})
    w = np.where(res.x > NEGLIGIBLE_WEIGHT, res.x, 0.0)  # the optimiser leaves ~1e-17 where the optimum is on an edge
    return w / w.sum()


def pool_bits(bits: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The pool's score (bits) at each AR from the components' scores (n_ar, k) and the weights: (k,), or (n_ar, k)
    when each AR's forecast had its own."""
    bits = np.asarray(bits, float)
    top = bits.max(axis=1)
    return top + np.log2(np.sum(np.exp2(bits - top[:, None]) * np.asarray(weights, float), axis=1))


def causal_pool_weights(scores: pd.DataFrame, columns: list[str], targets, default: str,
                        min_rotations: int, lead: int = 1) -> pd.DataFrame:
    """Per target M (index), the pool weights of ``columns`` fitted on the ARs of the targets <= M - ``lead`` in
    ``scores`` (columns ``cr`` and ``columns``: each component's causal bits per AR); all weight on ``default``
    until ``min_rotations`` targets are known."""
    cr = scores["cr"].to_numpy()
    known_targets = np.unique(cr)
    values = scores[columns].to_numpy(float)
    rows = []
    for m in targets:
        known = known_targets[known_targets <= m - lead]
        if len(known) < min_rotations:
            w = np.asarray([1.0 if c == default else 0.0 for c in columns])
        else:
            w = pool_weights(values[cr <= known[-1]])
        rows.append(w)
    out = pd.DataFrame(np.asarray(rows, float).reshape(len(rows), len(columns)), index=pd.Index(list(targets), name="cr"),
                       columns=columns)
    return out


__all__ = ["causal_pool_weights", "pool_bits", "pool_weights"]
