"""Steady states of the solver itself: refining a start so that the forward run sheds no gravity waves.

"Steady" here means steady for the discrete solver (its spectral truncation, its Gaussian grid, its
float64 tendencies), not for a continuous approximation of it. A state X (modal vorticity, divergence,
h - 1, A) is steady in the frame drifting at the pattern speed c (model units, radians of longitude per
1/Omega; the PINN's formulation, :mod:`pinn.training.losses`) when its drift residual vanishes::

    R(X, c) = tendency(X) + c dX/dlon = 0.

Three tools:

* :func:`discrete_balance`: corrects h alone so that the divergence tendency vanishes. For zonal
  states that is the whole steady problem (c drops out), solved by a cheap Newton-like iteration.
* :func:`balance_start`: balance initialisation of any start. The divergence and h are solved for so
  that their drift residuals vanish (d delta/dt = 0, and dh/dt = -c dh/dlon); vorticity and A, which
  carry the flow pattern and the observed band, are kept. This is the gravity-wave block of the
  equations: square and well conditioned (its linear part is -G lap h and -delta, invertible per mode).
  Newton-GMRES preconditioned by the exact inverse of that linear part solves it in a few Newton steps
  (costs: experiments/self_consistency). It is the solver-grid analogue of nonlinear normal-mode
  initialisation in weather prediction (Machenhauer 1977): fast modes are balanced, slow ones untouched.
* :func:`refine_steady_state` with all four fields: the steady state nearest the start, minimising
  ``|R|^2 + anchor^2 |X - X_start|^2``. The steady problem has a large family of solutions (any zonal
  flow with its balanced h is steady; so is any longitude shift of a steady pattern), so the anchor and
  the start choose the branch. For a warped observed band this moves the band itself (the nearest
  exactly steady state of CR 2280's M = 2 fit is less warped: experiments/self_consistency), which is a
  statement about the data, not a way to start a forecast.

Energy norm: per total wavenumber l >= 1, with lambda = l (l + 1), the unknowns and residuals are scaled
as zeta / sqrt(lambda), delta / sqrt(lambda) (velocity), sqrt(G) h (potential energy) and
sqrt(lambda) A (field), so that a unit change in any unknown is a unit change of energy density. In that
norm the Jacobian is well enough conditioned for the normal equations in float64, and the anchor weighs
a change of the field a = -dA/dlat / h as much as a change of the flow, instead of letting the
small-scale part of A move freely.

Why not :func:`scipy.optimize.least_squares`: at T42 there are 7.4k unknowns and the Jacobian is dense
(every grid-point product couples all modes). ``method='lm'`` (MINPACK's unblocked QR) and ``'trf'``
with ``tr_solver='exact'`` (one SVD per iteration) factor that dense matrix every iteration, an
estimated minutes each at this size. ``tr_solver='lsmr'`` needs thousands of unpreconditioned Krylov
iterations per step (measured in experiments/self_consistency: far slower, and short of convergence).
The normal equations with a Cholesky factorisation (:func:`scipy.linalg.cho_factor`) are used instead.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from pinn.errors import PinnError
from pinn.physics.equations import SWTParams, drift_frame_tendency
from pinn.physics.solver import MHDShallowWaterEquations, Solver, SolverSettings, State, make_solver

FIELDS = ("vorticity", "divergence", "h", "A")
BALANCE_FIELDS = ("divergence", "h")


def drift_residual(equation: MHDShallowWaterEquations, state: State, pattern_speed) -> State:
    """tendency(X) + c dX/dlon: zero for a state steady in the frame drifting at ``pattern_speed``."""
    tend = equation.tendency(state)
    g = equation.grid
    return State(*(getattr(tend, k) - drift_frame_tendency(g.d_dlon(getattr(state, k)), pattern_speed)
                   for k in FIELDS))


def discrete_balance(solver: Solver, state: State, rtol: float | None = None, max_iter: int = 200) -> tuple[State, float]:
    """Correct h so that the solver's divergence tendency vanishes (for zonal states: exactly steady).

    Newton-like iteration h <- h + lap^-1(d delta/dt) / G (the dominant part of the Jacobian is -G lap).
    Converges when |d delta/dt| < rtol * max|G lap h| (rtol 1e-13 in float64, 1e-6 in float32) or stalls
    at the round-off floor; raises :class:`PinnError` if it does not (fields far too strong for G).
    Returns the balanced state and the max |change| of h it made (the truncation error of the balance).
    """
    g = solver.grid
    rtol = rtol if rtol is not None else (1e-13 if solver.x64 else 1e-6)
    h0 = np.asarray(solver.modal_to_nodal(state.h))
    scale = float(np.max(np.abs(np.asarray(g.laplacian(np.asarray(state.h, np.float64))))) * solver.params.gravity)
    tol = rtol * max(scale, 1e-300)
    previous = np.inf
    for _ in range(max_iter):
        tend = solver.tendency(state)
        residual = float(np.max(np.abs(np.asarray(tend.divergence))))
        if residual <= tol or (residual > 0.9 * previous and residual <= 1e3 * tol):  # converged / round-off floor
            break
        previous = residual
        with solver.precision():
            correction = g.inverse_laplacian(tend.divergence) / solver.params.gravity
            state = State(state.vorticity, state.divergence, state.h + correction, state.A)
    else:
        raise PinnError(f"discrete balance did not converge (residual {residual:.3g} after {max_iter} iterations): "
                        f"the field is too strong for G = {solver.params.gravity}")
    change = float(np.max(np.abs(np.asarray(solver.modal_to_nodal(state.h)) - h0)))
    return state, change


@dataclasses.dataclass(frozen=True)
class SteadyRefinement:
    """Result of :func:`refine_steady_state` (model units; norms are the energy norm of the module docstring).

    Attributes:
      state: the refined modal state, in the solver's precision.
      pattern_speed: its pattern speed c.
      residual_start, residual_end: energy-norm RMS of the drift residual R before and after.
      div_tendency_start, div_tendency_end: area-RMS of the divergence part of R on the grid (the
        start-up divergence tendency of docs/science.md section 4, in the drifting frame).
      change: energy norm of X_end - X_start over that of X_start (all l >= 1 modes): how far it moved.
      iterations: Gauss-Newton iterations taken.
      converged: whether the residual fell below ``rtol`` times its start.
      history: residual after each iteration.
    """

    state: State
    pattern_speed: float
    residual_start: float
    residual_end: float
    div_tendency_start: float
    div_tendency_end: float
    change: float
    iterations: int
    converged: bool
    history: tuple[float, ...]


class _Layout(NamedTuple):
    """Which modal entries are unknowns and residuals, and their energy-norm scales."""

    index: np.ndarray  # flat indices into the modal array (valid modes, 1 <= l <= T)
    lam: np.ndarray  # l (l + 1) of each indexed entry
    scales: tuple[np.ndarray, ...]  # per field, the scale of each indexed entry


def _layout(solver: Solver) -> _Layout:
    g = solver.grid
    m, l = g.modal_axes
    _, L = np.meshgrid(m, l, indexing="ij")
    valid = (np.asarray(g.mask) > 0) & (np.asarray(g.clip_wavenumbers(np.ones(g.modal_shape))) > 0) & (L >= 1)
    index = np.flatnonzero(valid)
    lam = (L * (L + 1.0)).ravel()[index]
    G = float(solver.params.gravity)
    return _Layout(index, lam, (1 / np.sqrt(lam), 1 / np.sqrt(lam), np.full(lam.shape, math.sqrt(G)), np.sqrt(lam)))


@functools.lru_cache(maxsize=8)
def _float64_twin(config: SolverSettings, params: SWTParams, dt: float) -> Solver:
    """The float64 solver of a float32 one, built once per settings (its jitted functions then compile once)."""
    return make_solver(dataclasses.replace(config, x64=True), params, dt=dt)


class _CompiledResidual(NamedTuple):
    """The drift residual of the unknowns ``y`` given the start's other fields and c, and its jitted forms.

    The start and c are arguments, not captured constants, so one compilation serves every start on the
    same solver (the hindcast balances one start per case).
    """

    unpack: Callable
    residual: Callable
    residual_jit: Callable
    jvp_jit: Callable


@functools.lru_cache(maxsize=8)
def _compiled_residual(solver: Solver, which: tuple[int, ...], fit_pattern_speed: bool) -> _CompiledResidual:
    """Residual functions of the unknown fields ``which`` (indices into FIELDS) on ``solver`` (float64)."""
    layout = _layout(solver)
    eqn = solver.equation
    shape = solver.grid.modal_shape
    k = len(layout.index)
    n_state = k * len(which)
    scale = [np.asarray(x, np.float64) for x in layout.scales]
    idx = np.asarray(layout.index)

    def unpack(y, start, c0):
        full = list(start)
        for j, i in enumerate(which):
            full[i] = start[i].ravel().at[idx].set(y[j * k:(j + 1) * k] / scale[i]).reshape(shape)
        return State(*full), (y[n_state] if fit_pattern_speed else c0)

    def residual(y, start, c0):
        s, c = unpack(y, start, c0)
        r = drift_residual(eqn, s, c)
        return jnp.concatenate([getattr(r, FIELDS[i]).ravel()[idx] * scale[i] for i in which])

    def jvp(y, v, start, c0):
        return jax.jvp(lambda x: residual(x, start, c0), (y,), (v,))[1]

    return _CompiledResidual(unpack, residual, jax.jit(residual), jax.jit(jvp))


def refine_steady_state(
    solver: Solver,
    state: State,
    pattern_speed: float,
    *,
    fields: Sequence[str] = FIELDS,
    anchor: float = 1e-3,
    fit_pattern_speed: bool = True,
    max_iter: int = 20,
    rtol: float = 1e-9,
    method: str = "dense",
    progress: Callable[[int, float], None] | None = None,
) -> SteadyRefinement:
    """Zero the drift residual of ``fields`` by changing those fields, by damped Gauss-Newton (module docstring).

    Args:
      solver: its grid, parameters and truncation define "steady". Works in float64 whatever its precision.
      state: the start (e.g. the PINN state on the solver grid, :meth:`Solver.from_nodal`).
      pattern_speed: the start's pattern speed c (model units).
      fields: the unknowns, and the equations whose drift residual is zeroed; the other fields are kept.
        All four: the nearest steady state. ``BALANCE_FIELDS`` (divergence, h): balance initialisation,
        the square, well-conditioned gravity-wave block; vorticity and A (flow pattern, band) are kept.
      anchor: weight of |X - X_start| against |R| (energy norm). Smaller: closer to exactly steady, larger
        change. Needed with all four fields (the steady problem has a null space); may be 0 for BALANCE_FIELDS.
      fit_pattern_speed: refine c too (else it stays fixed).
      max_iter: Gauss-Newton iterations at most.
      rtol: stop when the residual falls below rtol times its start.
      method: 'dense' (damped Gauss-Newton on the normal equations, dense forward-mode Jacobian) or
        'krylov' (Newton-GMRES, matrix-free, preconditioned by the exact inverse of the gravity-wave terms
        -G lap h and -delta; only for BALANCE_FIELDS with anchor 0 and c fixed, where it is ~30x faster).
      progress: optional callable(iteration, residual) for a progress line.

    Returns:
      A :class:`SteadyRefinement`. The area mean of h (mass) and the gauge of A are not touched.
    """
    fields = tuple(fields)
    if not fields or any(f not in FIELDS for f in fields) or len(set(fields)) != len(fields):
        raise PinnError(f"fields must be distinct names among {FIELDS}, got {fields}")
    if anchor < 0:
        raise PinnError(f"anchor must be >= 0, got {anchor}")
    if method not in ("dense", "krylov"):
        raise PinnError(f"method must be 'dense' or 'krylov', got {method!r}")
    if method == "krylov" and (fields != BALANCE_FIELDS or anchor != 0 or fit_pattern_speed):
        raise PinnError("method='krylov' solves the balance problem only (fields=BALANCE_FIELDS, anchor=0, "
                        "fit_pattern_speed=False)")
    out_dtype = solver.dtype
    if not solver.x64:  # a float64 twin: the grid's transform matrices are built in the precision of first use
        solver = _float64_twin(solver.config, solver.params, solver.dt)
    layout = _layout(solver)
    g = solver.grid
    k = len(layout.index)
    which = tuple(FIELDS.index(f) for f in fields)
    n_state = k * len(which)
    compiled = _compiled_residual(solver, which, fit_pattern_speed)
    with jax.enable_x64(True):
        start = tuple(jnp.asarray(getattr(state, f), jnp.float64) for f in FIELDS)
        c0 = jnp.asarray(float(pattern_speed), jnp.float64)

        def unpack(y):
            return compiled.unpack(y, start, c0)

        def residual(y):
            return compiled.residual(y, start, c0)

        def residual_fn(y):
            return compiled.residual_jit(y, start, c0)

        def jvp_fn(y, v):
            return compiled.jvp_jit(y, v, start, c0)

        scaled_start = [np.asarray(start[i]).ravel()[layout.index] * layout.scales[i] for i in range(len(FIELDS))]
        y0 = np.concatenate([scaled_start[i] for i in which] + ([[float(pattern_speed)]] if fit_pattern_speed else []))
        weights_area = jnp.asarray(g.quadrature_weights)
        eqn = solver.equation

        def rms_div(y):
            s, c = unpack(jnp.asarray(y))
            r = drift_residual(eqn, s, c).divergence
            return float(jnp.sqrt(jnp.sum(weights_area * g.to_nodal(r) ** 2) / jnp.sum(weights_area)))

        r = np.asarray(residual_fn(jnp.asarray(y0)))
        res0 = float(np.linalg.norm(r) / math.sqrt(r.size))
        history = [res0]
        if method == "krylov":
            y, it = _newton_krylov(jvp_fn, residual_fn, y0, r, history, layout, float(solver.params.gravity),
                                   max_iter, rtol, progress)
        else:
            y, it = _gauss_newton(residual, residual_fn, y0, r, history, anchor, fit_pattern_speed, max_iter, rtol,
                                  progress)
        converged = history[-1] <= rtol * res0
        refined, c = unpack(jnp.asarray(y))
        refined_np = State(*(np.asarray(getattr(refined, f), out_dtype) for f in FIELDS))
        change = float(np.linalg.norm(y[:n_state] - y0[:n_state])
                       / max(np.linalg.norm(np.concatenate(scaled_start)), 1e-300))
        return SteadyRefinement(
            state=refined_np, pattern_speed=float(c), residual_start=res0, residual_end=history[-1],
            div_tendency_start=rms_div(y0), div_tendency_end=rms_div(y), change=change, iterations=it,
            converged=bool(converged), history=tuple(history),
        )


def balance_start(solver: Solver, state: State, pattern_speed: float = 0.0, *, max_iter: int = 10,
                  rtol: float = 1e-9) -> SteadyRefinement:
    """Balance initialisation (module docstring): divergence and h adjusted, vorticity and A kept.

    Args:
      solver: the solver the state will start.
      state: the start, e.g. the PINN state on the solver grid.
      pattern_speed: c of the drifting frame in which dh/dt is zeroed (the PINN's; 0 for a static start).
      max_iter, rtol: Gauss-Newton iterations at most, and the stopping residual relative to the start.
    """
    return refine_steady_state(solver, state, pattern_speed, fields=BALANCE_FIELDS, anchor=0.0,
                               fit_pattern_speed=False, max_iter=max_iter, rtol=rtol, method="krylov")


def _newton_krylov(jvp, residual_fn, y, r, history, layout: _Layout, gravity: float, max_iter: int, rtol: float,
                   progress) -> tuple[np.ndarray, int]:
    """Newton-GMRES for the balance problem (unknowns and residuals ordered divergence, h; energy-scaled).

    In the energy scaling the gravity-wave terms are sqrt(G lambda) [[0, 1], [-1, 0]] per mode (d delta/dt
    <- -G lap h, dh/dt <- -delta); their exact inverse preconditions GMRES, which then converges in a few
    tens of Jacobian-vector products (forward mode, one compiled jvp).
    """
    k = len(layout.index)
    wave = np.sqrt(gravity * layout.lam)
    n = y.size
    precondition = scipy.sparse.linalg.LinearOperator(
        (n, n), matvec=lambda v: np.concatenate([-np.ravel(v)[k:] / wave, np.ravel(v)[:k] / wave]), dtype=np.float64)
    res0 = history[0]
    it = 0
    for it in range(1, max_iter + 1):
        y_j = jnp.asarray(y)
        jac = scipy.sparse.linalg.LinearOperator(
            (n, n), matvec=lambda v, y_j=y_j: np.asarray(jvp(y_j, jnp.asarray(np.ravel(v)))), dtype=np.float64)
        step, _ = scipy.sparse.linalg.gmres(jac, -r, M=precondition, rtol=1e-3 * rtol, atol=0.0, restart=80,
                                            maxiter=20)
        y_new = y + step
        r_new = np.asarray(residual_fn(jnp.asarray(y_new)))
        value = float(np.linalg.norm(r_new) / math.sqrt(r_new.size))
        if not np.isfinite(value) or value >= history[-1]:
            break  # at the round-off floor (or GMRES failed): keep the last iterate
        y, r = y_new, r_new
        history.append(value)
        if progress is not None:
            progress(it, value)
        if value <= rtol * res0:
            break
    return y, it


def _gauss_newton(residual, residual_fn, y0, r, history, anchor: float, fit_pattern_speed: bool, max_iter: int,
                  rtol: float, progress) -> tuple[np.ndarray, int]:
    """Damped Gauss-Newton (Levenberg-Marquardt) on |R(y)|^2 + anchor^2 |y - y0|^2, normal equations + Cholesky."""
    n = y0.size
    n_res = r.size
    res0 = history[0]

    @jax.jit
    def jacobian(y):  # dense, by forward mode in blocks of columns
        def column(i):
            return jax.jvp(residual, (y,), (jax.nn.one_hot(i, n, dtype=y.dtype),))[1]
        return jax.lax.map(column, jnp.arange(n), batch_size=256).T

    y = y0.copy()
    weights = np.full(n, float(anchor))
    damping = 0.0
    it = 0
    J = normal = factor = None
    factor_key = None
    for it in range(1, max_iter + 1):
        # chord steps: keep the Jacobian while the last step cut the residual 100-fold (nearly linear)
        fresh = J is None or history[-1] > 1e-2 * history[-2]
        if fresh:
            J = np.asarray(jacobian(jnp.asarray(y)))
            normal = J.T @ J
        if it == 1 and fit_pattern_speed:  # anchor c on the scale of its own column (it has other units)
            weights[-1] = anchor * max(float(np.linalg.norm(J[:, -1]) / math.sqrt(n_res)), 1e-300)
        gradient = J.T @ r + weights**2 * (y - y0)
        cost = 0.5 * (r @ r + np.sum((weights * (y - y0)) ** 2))
        while True:  # Levenberg-Marquardt damping on top of the anchor
            if factor_key != (id(normal), damping):  # chord steps reuse the factorisation too
                matrix = normal + np.diag(weights**2 + damping * np.diag(normal))
                try:
                    factor = scipy.linalg.cho_factor(matrix)
                except np.linalg.LinAlgError:  # singular without damping (a null space and anchor = 0)
                    factor = None
                factor_key = (id(normal), damping)
            step = np.full(n, np.nan) if factor is None else -scipy.linalg.cho_solve(factor, gradient)
            y_new = y + step
            r_new = np.asarray(residual_fn(jnp.asarray(y_new)))
            cost_new = 0.5 * (r_new @ r_new + np.sum((weights * (y_new - y0)) ** 2))
            if np.isfinite(cost_new) and cost_new <= cost:
                damping = damping / 10.0 if damping > 1e-8 else 0.0
                break
            if not fresh:  # the kept Jacobian may be why: refresh it at y and retry
                J = np.asarray(jacobian(jnp.asarray(y)))
                normal = J.T @ J
                gradient = J.T @ r + weights**2 * (y - y0)
                fresh = True
                continue
            damping = max(1e-6, damping * 10.0)
            if damping > 1e6:
                raise PinnError(f"steady refinement stalled at residual {history[-1]:.3g} (no descent step)")
        y, r = y_new, r_new
        history.append(float(np.linalg.norm(r) / math.sqrt(n_res)))
        if progress is not None:
            progress(it, history[-1])
        if history[-1] <= rtol * res0 or history[-1] >= 0.999 * history[-2]:
            break
    return y, it
