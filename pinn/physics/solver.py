"""Spectral MHD-SWT solver on dinosaur's spherical-harmonic grid, with IMEX time stepping.

The tendencies are composed from :mod:`pinn.physics.equations` (the one place the MHD-SWT terms are
written); this module only adds the numerics, in dinosaur's style (frozen dataclasses, pure step
functions, ``jax.lax.scan``):

* Prognostic variables, all modal (spherical-harmonic coefficients on a :class:`dinosaur.spherical_harmonic.Grid`):
  relative vorticity zeta, divergence delta, thickness perturbation h - 1, and flux function A
  (h a = -dA/dlat, h b = (1/cos) dA/dlon, so div(h B) = 0 holds exactly).
* Tendencies (vector-invariant form, see :mod:`pinn.physics.equations`)::

      d zeta/dt  = curl F                         F = -(zeta + f) k x u + j k x (a, b)
      d delta/dt = div F - lap(|u|^2/2 - |b|^2/2) - G lap h
      dh/dt      = -div(h u)
      dA/dt      = -u . grad A

  Products are formed on the Gaussian grid (3T+1 longitudes: quadratic terms are not aliased);
  derivatives are spectral.
* Semi-implicit split: the linear gravity-wave terms ``delta <- -G lap h`` and ``h <- -H delta``
  (H = ``SolverSettings.reference_thickness``, default 1 = the undisturbed thickness) are implicit; all
  the rest (advection, Coriolis, Lorentz force, the nonlinear part of the mass flux) is explicit.
  Integrator: dinosaur's ``imex_rk_sil3`` (Whitaker & Kar 2013; 3rd order explicit, 2nd order implicit)
  by default, or its Crank-Nicolson low-storage RK3/RK4 (``SolverSettings.time_stepper``).
* Dissipation: a step filter applied to every prognostic field after each step, specified physically by
  the e-folding time of the highest retained total wavenumber T, ``tau = dissipation_efold_rotations *
  2 pi / rotation_rate``: hyperdiffusion ``exp(-dt/tau * (l(l+1) / (T(T+1)))**order)`` (dinosaur's
  ``horizontal_diffusion_filter``) or dinosaur's exponential filter with the same top-mode rate.
  The mean (l = 0) is untouched, so mass is conserved exactly.
* Dissipated energy D(t): with ``track_budget=True`` each step records E'(before filter) - E'(after
  filter) and accumulates it; E'(t) - E'(0) + D(t) is then the energy error of the ideal dynamics alone
  (time stepping and truncation), and zero for exact ideal dynamics.
* Sharding: :meth:`Solver.integrate_ensemble` integrates a batch of states, sharded over the ensemble
  axis of a :class:`jax.sharding.Mesh` (one member per device group; no communication between members).

Public arrays in nodal (grid-point) space are laid out ``(lat, lon)`` with latitude ascending from the
south (``Solver.lat``, ``Solver.lon`` in degrees); dinosaur's internal layout ``(lon, lat)`` never
leaves this module. Everything is in model units (:mod:`pinn.physics.units`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import tree_math
from dinosaur import filtering, spherical_harmonic, time_integration

from pinn.errors import ConfigError, PinnError
from pinn.physics import equations as eq
from pinn.physics.equations import SWTParams

Array = jax.Array

TIME_STEPPERS: dict[str, Callable] = {
    "imex_rk_sil3": time_integration.imex_rk_sil3,
    "crank_nicolson_rk3": time_integration.crank_nicolson_rk3,
    "crank_nicolson_rk4": time_integration.crank_nicolson_rk4,
}


@dataclasses.dataclass(frozen=True)
class SolverSettings:
    """Numerical settings of the solver (model units). The run configuration's ``solver`` section maps
    onto it (:func:`pinn.config.physics.solver_settings`); the defaults are the same.

    Attributes:
      truncation: triangular truncation T.
      dt: time step, model time units (1/Omega).
      dissipation_efold_rotations: e-folding time of the highest total wavenumber, in rotations of the
        frame; None switches dissipation off.
      hyperdiffusion_order: power of the Laplacian of the hyperdiffusion (2 = del^4).
      x64: float64 (conservation tests) or float32 (production).
      dissipation: 'hyperdiffusion' or 'exponential' (the step filter's form).
      exponential_filter_order: p of exp(-c k^(2p)) for the exponential filter.
      time_stepper: a key of :data:`TIME_STEPPERS`.
      reference_thickness: H of the implicit gravity-wave term dh/dt <- -H div u.
    """

    truncation: int = 42
    dt: float = 0.05
    dissipation_efold_rotations: float | None = 0.1
    hyperdiffusion_order: int = 4
    x64: bool = False
    dissipation: str = "hyperdiffusion"
    exponential_filter_order: int = 18
    time_stepper: str = "imex_rk_sil3"
    reference_thickness: float = 1.0


@tree_math.struct
class State:
    """Modal (spectral) MHD-SWT state. Arrays have dinosaur's modal shape (2M-1, T+2)."""

    vorticity: Array  # relative vorticity zeta
    divergence: Array  # horizontal divergence delta
    h: Array  # thickness perturbation h - 1
    A: Array  # flux function


class Trajectory(NamedTuple):
    """Saved states of an integration.

    ``states`` has a leading time axis (initial state first); ``time`` is in model units;
    ``dissipated`` is the energy D(t) removed by dissipation up to each saved time (zeros unless
    the integration tracked the budget).
    """

    states: State
    time: Array
    dissipated: Array


# ---------------------------------------------------------------------------------------------
# The equations in dinosaur's ImplicitExplicitODE form


def grid_for_truncation(truncation: int, **kwargs) -> spherical_harmonic.Grid:
    """Triangular truncation T on a Gaussian grid that resolves quadratic products (>= 3T+1 longitudes).

    For T = 21, 42, 85, 170 ... this is dinosaur's own ``Grid.T21()`` etc.
    """
    if not 4 <= truncation <= 425:
        raise ConfigError(f"solver.truncation must be between 4 and 425 (T21..T170 intended), got {truncation}")
    gaussian_nodes = math.ceil((3 * truncation + 1) / 4)
    return spherical_harmonic.Grid.construct(max_wavenumber=truncation, gaussian_nodes=gaussian_nodes, **kwargs)


@dataclasses.dataclass(frozen=True, eq=False)
class MHDShallowWaterEquations(time_integration.ImplicitExplicitODE):
    """MHD-SWT in dinosaur's semi-implicit form (see the module docstring).

    Attributes:
      grid: spherical-harmonic grid (radius 1).
      params: shared MHD-SWT parameters (G, rotation rate, axis tilt).
      reference_thickness: H of the implicit term ``dh/dt <- -H delta``.
    """

    grid: spherical_harmonic.Grid
    params: SWTParams
    reference_thickness: float = 1.0

    # -- nodal helpers (internal (lon, lat) layout) ---------------------------------------
    @functools.cached_property
    def lat_lon_mesh(self) -> tuple[np.ndarray, np.ndarray]:
        lon, sin_lat = self.grid.nodal_mesh
        return np.arcsin(sin_lat), lon

    @functools.cached_property
    def coriolis_parameter(self) -> np.ndarray:
        lat, lon = self.lat_lon_mesh
        # a float64 numpy constant, even when first needed inside a trace or in float32 mode
        with jax.ensure_compile_time_eval(), jax.enable_x64(True):
            return np.asarray(eq.coriolis(jnp.asarray(lat), jnp.asarray(lon), self.params), np.float64)

    @functools.cached_property
    def sec_lat(self) -> np.ndarray:
        return 1.0 / self.grid.cos_lat

    def nodal_primitives(self, state: State) -> dict[str, Array]:
        """u, v, zeta, h, dA/dx, dA/dy, a, b at grid points (one batched inverse transform)."""
        g = self.grid
        u_cos, v_cos = spherical_harmonic.get_cos_lat_vector(state.vorticity, state.divergence, g)
        ax_cos, ay_cos = g.cos_lat_grad(state.A)
        modal = jnp.stack([u_cos, v_cos, ax_cos, ay_cos, g.clip_wavenumbers(state.vorticity), g.clip_wavenumbers(state.h)])
        nodal = g.to_nodal(modal)
        sec = self.sec_lat
        u, v, dA_dx, dA_dy = (nodal[i] * sec for i in range(4))
        h = 1.0 + nodal[5]
        a, b = eq.field_from_flux_function(dA_dx, dA_dy, h)
        return {"u": u, "v": v, "vorticity": nodal[4], "h": h, "h_perturbation": nodal[5], "dA_dx": dA_dx, "dA_dy": dA_dy, "a": a, "b": b}

    def current(self, a: Array, b: Array) -> Array:
        """Nodal current j = k . curl(a, b), spectrally."""
        g = self.grid
        sec = self.sec_lat
        ab = g.to_modal(jnp.stack([a * sec, b * sec]))
        return g.to_nodal(g.curl_cos_lat((ab[0], ab[1])))

    # -- ImplicitExplicitODE interface --------------------------------------------------------
    def explicit_terms(self, state: State) -> State:
        g = self.grid
        p = self.nodal_primitives(state)
        u, v, a, b = p["u"], p["v"], p["a"], p["b"]
        j = self.current(a, b)
        f = self.coriolis_parameter
        force_u, force_v = eq.momentum_forcing(u, v, a, b, p["vorticity"], j, f)
        # Bernoulli function without its G h part, which is linear and taken implicitly.
        bern = eq.bernoulli(u, v, a, b, 0.0, self.params)
        # Mass flux less its linear part H u (implicit): h - H = (h - 1) + (1 - H).
        flux_u, flux_v = eq.mass_flux(u, v, p["h_perturbation"] + (1.0 - self.reference_thickness))
        dA = eq.flux_function_tendency(u, v, p["dA_dx"], p["dA_dy"])
        sec = self.sec_lat
        m = g.to_modal(jnp.stack([force_u * sec, force_v * sec, bern, flux_u * sec, flux_v * sec, dA]))
        forcing = (m[0], m[1])
        return g.clip_wavenumbers(
            State(
                vorticity=g.curl_cos_lat(forcing),
                divergence=g.div_cos_lat(forcing) - g.laplacian(m[2]),
                h=-g.div_cos_lat((m[3], m[4])),
                A=m[5],
            )
        )

    def implicit_terms(self, state: State) -> State:
        g = self.grid
        zeros = jnp.zeros_like(state.vorticity)
        return State(
            vorticity=zeros,
            divergence=-self.params.gravity * g.laplacian(state.h),
            h=-self.reference_thickness * state.divergence,
            A=zeros,
        )

    def implicit_inverse(self, state: State, step_size: float) -> State:
        """(1 - step_size * implicit_terms)^-1, solved exactly per total wavenumber (Schur complement)."""
        g = self.grid
        G, H = self.params.gravity, self.reference_thickness
        inverse = 1.0 / (1.0 - step_size**2 * G * H * g.laplacian_eigenvalues)
        return State(
            vorticity=state.vorticity,
            divergence=inverse * (state.divergence - step_size * G * g.laplacian(state.h)),
            h=inverse * (state.h - step_size * H * state.divergence),
            A=state.A,
        )

    def tendency(self, state: State) -> State:
        """Total tendency (explicit + implicit) of the ideal equations."""
        return self.explicit_terms(state) + self.implicit_terms(state)


# ---------------------------------------------------------------------------------------------
# Dissipation


def dissipation_filter(grid: spherical_harmonic.Grid, config: SolverSettings, params: SWTParams, dt: float):
    """State filter of one step's dissipation, or None when off. Returns (filter_fn, top_mode_tau)."""
    efold = config.dissipation_efold_rotations
    if efold is None:
        return None, None
    if efold <= 0:
        raise ConfigError(f"solver.dissipation_efold_rotations must be positive or null, got {efold}")
    tau = efold * 2.0 * math.pi / params.rotation_rate
    T = config.truncation
    if config.dissipation == "hyperdiffusion":
        order = config.hyperdiffusion_order
        scale = dt / (tau * float(T * (T + 1)) ** order)
        return filtering.horizontal_diffusion_filter(grid, scale, order), tau
    if config.dissipation == "exponential":
        _, total = grid.modal_axes
        k_top = T / total.max()  # dinosaur's k = l / l_max; l_max = T + 1 (the clipped extra mode)
        p = config.exponential_filter_order
        return filtering.exponential_filter(grid, dt / tau / k_top ** (2 * p), p), tau
    raise ConfigError(f"solver.dissipation must be 'hyperdiffusion' or 'exponential', got {config.dissipation!r}")


# ---------------------------------------------------------------------------------------------
# The solver


@dataclasses.dataclass(frozen=True, eq=False)
class Solver:
    """A configured MHD-SWT solver. Build with :func:`make_solver`; all methods are pure and jitted.

    Methods run in the solver's precision (``config.x64``): they switch JAX's x64 mode for the call
    when it differs from the global one.
    """

    config: SolverSettings
    params: SWTParams
    grid: spherical_harmonic.Grid
    equation: MHDShallowWaterEquations
    dt: float

    # -- grid ---------------------------------------------------------------------------------
    @property
    def x64(self) -> bool:
        return self.config.x64

    @property
    def dtype(self):
        return np.float64 if self.x64 else np.float32

    @functools.cached_property
    def lat(self) -> np.ndarray:
        """Latitudes of the Gaussian grid, degrees, ascending (south first)."""
        return np.degrees(self.grid.latitudes)

    @functools.cached_property
    def lon(self) -> np.ndarray:
        """Longitudes of the grid, degrees, from 0."""
        return np.degrees(self.grid.longitudes)

    @functools.cached_property
    def lat_lon_rad(self) -> tuple[np.ndarray, np.ndarray]:
        """2-D (lat, lon) meshes in radians, shape (nlat, nlon)."""
        lat, lon = np.meshgrid(self.grid.latitudes, self.grid.longitudes, indexing="ij")
        return lat, lon

    @functools.cached_property
    def quadrature_weights(self) -> np.ndarray:
        """Area weights of the (lat, lon) grid points; they sum to 4 pi."""
        return np.asarray(self.grid.quadrature_weights, dtype=np.float64).T

    @functools.cached_property
    def rotation_period(self) -> float:
        """One rotation of the frame in model time units."""
        return 2.0 * math.pi / self.params.rotation_rate

    # -- precision ----------------------------------------------------------------------------
    def precision(self):
        """Context in which JAX runs at the solver's precision (x64 switched for the call when needed)."""
        if bool(jax.config.jax_enable_x64) == self.x64:
            return contextlib.nullcontext()
        return jax.enable_x64(self.x64)

    def _cast(self, tree):
        return jax.tree.map(lambda x: jnp.asarray(x, self.dtype), tree)

    # -- step functions (pure; callers may jit or differentiate them) -------------------------
    @functools.cached_property
    def ideal_step_fn(self) -> Callable[[State], State]:
        """One IMEX step of the ideal (non-dissipative) equations."""
        return TIME_STEPPERS[self.config.time_stepper](self.equation, self.dt)

    @functools.cached_property
    def filter_fn(self) -> Callable[[State], State] | None:
        """The dissipation applied after each step (None when off)."""
        return dissipation_filter(self.grid, self.config, self.params, self.dt)[0]

    @functools.cached_property
    def step_fn(self) -> Callable[[State], State]:
        """One full step: IMEX step, then dissipation (pure function of the modal state)."""
        step = self.ideal_step_fn
        if self.filter_fn is None:
            return step
        return time_integration.step_with_filters(step, [time_integration.runge_kutta_step_filter(self.filter_fn)])

    def _budget_step(self, carry):
        state, dissipated = carry
        raw = self.ideal_step_fn(state)
        if self.filter_fn is None:
            return raw, dissipated
        filtered = self.filter_fn(raw)
        return filtered, dissipated + (self._energy(raw) - self._energy(filtered))

    # -- conversions --------------------------------------------------------------------------
    def _nodal_in(self, x) -> Array:
        """(..., lat, lon) or anything broadcastable to (lat, lon) -> dinosaur's (..., lon, lat)."""
        x = jnp.asarray(x, self.dtype)
        if x.ndim < 2:
            x = jnp.broadcast_to(x, (len(self.lat), len(self.lon)))
        return jnp.swapaxes(x, -1, -2)

    def _from_nodal(self, u, v, h, A) -> State:
        g = self.grid
        u, v, h, A = (self._nodal_in(x) for x in (u, v, h, A))
        vorticity, divergence = spherical_harmonic.uv_nodal_to_vor_div_modal(g, u, v)
        modal = g.clip_wavenumbers(g.to_modal(jnp.stack([h - 1.0, A])))
        return State(vorticity, divergence, modal[0], modal[1])

    def from_nodal(self, u, v, h, A) -> State:
        """Modal state from nodal u, v, h (full thickness) and A, each (lat, lon) or broadcastable."""
        with self.precision():
            return self._jit_from_nodal(u, v, h, A)

    to_modal = from_nodal

    @functools.cached_property
    def _jit_from_nodal(self):
        return jax.jit(self._from_nodal)

    def _to_nodal(self, state: State) -> dict[str, Array]:
        p = self.equation.nodal_primitives(state)
        g = self.grid
        extra = g.to_nodal(g.clip_wavenumbers(jnp.stack([state.divergence, state.A])))
        out = {"u": p["u"], "v": p["v"], "h": p["h"], "a": p["a"], "b": p["b"], "A": extra[1], "vorticity": p["vorticity"], "divergence": extra[0]}
        return {k: jnp.swapaxes(x, -1, -2) for k, x in out.items()}

    def to_nodal(self, state: State) -> dict[str, Array]:
        """Nodal fields u, v, h, a, b, A, vorticity, divergence, each (lat, lon); works on stacked states."""
        with self.precision():
            return self._jit_to_nodal(state)

    @functools.cached_property
    def _jit_to_nodal(self):
        fn = self._to_nodal
        return jax.jit(lambda s: _map_leading(fn, s, self.grid.modal_shape))

    def nodal_to_modal(self, x) -> Array:
        """One scalar field (lat, lon) -> modal coefficients (clipped like the state)."""
        with self.precision():
            return self.grid.clip_wavenumbers(self.grid.to_modal(self._nodal_in(x)))

    def modal_to_nodal(self, x) -> Array:
        """Modal coefficients -> one scalar field (lat, lon)."""
        with self.precision():
            return jnp.swapaxes(self.grid.to_nodal(self.grid.clip_wavenumbers(jnp.asarray(x, self.dtype))), -1, -2)

    # -- invariants ---------------------------------------------------------------------------
    def _energy(self, state: State) -> Array:
        p = self.equation.nodal_primitives(state)
        density = eq.energy_density(p["u"], p["v"], p["a"], p["b"], p["h"], self.params)
        return self.grid.integrate(density)

    def _mass(self, state: State) -> Array:
        h = self.grid.to_nodal(self.grid.clip_wavenumbers(state.h))
        return self.grid.integrate(1.0 + h)

    def energy(self, state: State) -> Array:
        """E' = integral of h(u^2+v^2+a^2+b^2)/2 + G(h-1)^2/2 over the unit sphere (docs/science.md section 2)."""
        with self.precision():
            return self._jit_energy(state)

    def mass(self, state: State) -> Array:
        """Integral of h over the unit sphere (4 pi for the undisturbed layer)."""
        with self.precision():
            return self._jit_mass(state)

    @functools.cached_property
    def _jit_energy(self):
        return jax.jit(lambda s: _map_leading(self._energy, s, self.grid.modal_shape))

    @functools.cached_property
    def _jit_mass(self):
        return jax.jit(lambda s: _map_leading(self._mass, s, self.grid.modal_shape))

    def tendency(self, state: State) -> State:
        """Total tendency of the ideal equations (d/dt of each modal field); zero for a steady state."""
        with self.precision():
            return self._jit_tendency(state)

    @functools.cached_property
    def _jit_tendency(self):
        return jax.jit(self.equation.tendency)

    # -- integration --------------------------------------------------------------------------
    def run_steps(self, state: State, n_steps: int, save_every: int, track_budget: bool = False) -> Trajectory:
        """The integration as a pure, un-jitted function (:meth:`integrate` is its jitted form): for callers
        that compose it into their own programs (vmap, grad, benchmarks). Run it inside :meth:`precision`."""
        if n_steps % save_every:
            raise ValueError(f"n_steps={n_steps} is not a multiple of save_every={save_every}")
        state = self._cast(state)
        zero = jnp.zeros((), self.dtype)
        if track_budget:
            step = self._budget_step
        else:
            plain = self.step_fn
            step = lambda carry: (plain(carry[0]), carry[1])
        inner = time_integration.repeated(step, save_every)
        outer = n_steps // save_every
        _, (states, dissipated) = jax.lax.scan(lambda c, _: _save(inner, c), (state, zero), None, length=outer)
        states = jax.tree.map(lambda x0, xs: jnp.concatenate([x0[None], xs]), state, states)
        dissipated = jnp.concatenate([zero[None], dissipated])
        time = jnp.arange(outer + 1, dtype=self.dtype) * (save_every * self.dt)
        return Trajectory(states, time, dissipated)

    def integrate(self, state: State, n_steps: int, save_every: int | None = None, track_budget: bool = False) -> Trajectory:
        """Integrate ``n_steps`` steps of size ``self.dt``, saving every ``save_every`` steps (default: end only).

        ``track_budget`` accumulates the energy removed by dissipation (costs two energy evaluations
        per step). Jitted and differentiable (``jax.grad`` through the scan).
        """
        save_every = n_steps if save_every is None else save_every
        with self.precision():
            return self._jit_integrate(state, n_steps, save_every, track_budget)

    @functools.cached_property
    def _jit_integrate(self):
        return jax.jit(self.run_steps, static_argnums=(1, 2, 3))

    def integrate_ensemble(
        self,
        states: State,
        n_steps: int,
        save_every: int | None = None,
        track_budget: bool = False,
        mesh: jax.sharding.Mesh | None = None,
    ) -> Trajectory:
        """Integrate a batch of states (leading ensemble axis on every field) in one program.

        With a ``mesh`` the ensemble axis is sharded over the mesh's first axis (its size must divide
        the ensemble size); every output leaf keeps the leading ensemble axis, sharded the same way.
        Members never communicate, so the result equals integrating each member alone.
        """
        save_every = n_steps if save_every is None else save_every
        fn = jax.vmap(lambda s: self.run_steps(s, n_steps, save_every, track_budget))
        with self.precision():
            states = self._cast(states)
            if mesh is None:
                return jax.jit(fn)(states)
            sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(mesh.axis_names[0]))
            states = jax.device_put(states, sharding)
            return jax.jit(fn, in_shardings=(sharding,), out_shardings=sharding)(states)

    def n_steps_for(self, duration: float) -> int:
        """Number of steps that cover ``duration`` model time units (rounded to nearest)."""
        return max(1, round(duration / self.dt))


def _save(inner, carry):
    new = inner(carry)
    return new, new


def _map_leading(fn, state: State, modal_shape) -> Any:
    """Apply a single-state function to a state with any number of leading batch axes."""
    extra = state.vorticity.ndim - len(modal_shape)
    for _ in range(extra):
        fn = jax.vmap(fn)
    return fn(state)


def make_solver(config: SolverSettings | None = None, params: SWTParams | None = None, dt: float | None = None) -> Solver:
    """Build a :class:`Solver` for ``config`` (truncation, dt, dissipation, precision) and ``params``.

    ``dt`` overrides ``config.dt`` (model time units), e.g. to make an output interval a whole number
    of steps.
    """
    config = config or SolverSettings()
    params = params or SWTParams()
    if config.time_stepper not in TIME_STEPPERS:
        raise ConfigError(f"solver.time_stepper must be one of {', '.join(TIME_STEPPERS)}, got {config.time_stepper!r}")
    dt = float(config.dt if dt is None else dt)
    if not dt > 0:
        raise ConfigError(f"solver.dt must be positive, got {dt}")
    if config.reference_thickness <= 0:
        raise ConfigError(f"solver.reference_thickness must be positive, got {config.reference_thickness}")
    grid = grid_for_truncation(config.truncation)
    equation = MHDShallowWaterEquations(grid, params, config.reference_thickness)
    solver = Solver(config=config, params=params, grid=grid, equation=equation, dt=dt)
    dissipation_filter(grid, config, params, dt)  # validate before building anything
    equation.coriolis_parameter  # noqa: B018  (build the constants outside any trace)
    with solver.precision(), jax.ensure_compile_time_eval():
        solver.filter_fn  # noqa: B018
    return solver


def check_thickness(h, where: str = "state") -> None:
    """Raise :class:`PinnError` if the thickness is not finite and positive everywhere."""
    h = np.asarray(h)
    if not np.all(np.isfinite(h)):
        raise PinnError(f"{where}: thickness h is not finite (the integration blew up; try a smaller solver.dt)")
    hmin = float(h.min())
    if hmin <= 0.0:
        raise PinnError(f"{where}: thickness h must be positive everywhere, min h = {hmin:.4g} (field too strong or G too small)")


def trajectory_dataset(solver: Solver, trajectory: Trajectory, time_days, attrs: dict | None = None):
    """xarray Dataset of a trajectory: u, v, h, a, b, A on (time, lat, lon), energy/mass/dissipated on time."""
    import xarray as xr

    nodal = solver.to_nodal(trajectory.states)
    coords = {"time": ("time", np.asarray(time_days, np.float64), {"units": "days"}),
                  "lat": ("lat", solver.lat, {"units": "degrees_north"}),
                  "lon": ("lon", solver.lon, {"units": "degrees_east"})}
    long_names = {"u": "eastward velocity", "v": "northward velocity", "h": "shell thickness (undisturbed 1)",
                      "a": "eastward (toroidal) field", "b": "northward (poloidal) field", "A": "flux function"}
    data = {k: (("time", "lat", "lon"), np.asarray(nodal[k]), {"long_name": long_names[k], "units": "model"})
            for k in ("u", "v", "h", "a", "b", "A")}
    data["energy"] = ("time", np.asarray(solver.energy(trajectory.states), np.float64), {"long_name": "E' (docs/science.md section 2)"})
    data["mass"] = ("time", np.asarray(solver.mass(trajectory.states), np.float64), {"long_name": "integral of h"})
    data["dissipated"] = ("time", np.asarray(trajectory.dissipated, np.float64),
                          {"long_name": "energy removed by dissipation, D(t)"})
    return xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))
