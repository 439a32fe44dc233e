"""The MHD shallow-water tachocline (MHD-SWT) physics, usable without the rest of the package.

Layers point one way (checked by import-linter): :mod:`~pinn.physics.equations` (the one place the
equations are written) -> :mod:`~pinn.physics.solver` (spectral IMEX solver on dinosaur's grid) ->
:mod:`~pinn.physics.balance` (balance initialisation, steady states) -> :mod:`~pinn.physics.states`
(test cases, bands, perturbations) -> :mod:`~pinn.physics.cases` (named runs); beside them
:mod:`~pinn.physics.bands` (the toroidal band), :mod:`~pinn.physics.units` and
:mod:`~pinn.physics.linear` (linear stability). Nothing here reads the run configuration: parameters
are frozen dataclasses (adapters from a configuration are in :mod:`pinn.config.physics`).

Example::

    from pinn import physics

    solver = physics.make_solver(physics.SolverSettings(truncation=42), physics.SWTParams(gravity=10.0))
    start = physics.band_state(solver, physics.antisymmetric_pair(20.0, 10.0), balance="jet")
    trajectory = solver.integrate(start, n_steps=200, save_every=50)
"""

from __future__ import annotations

from pinn.exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "SWTParams": "pinn.physics.equations",
    "ZonalFlow": "pinn.physics.equations",
    "Fields": "pinn.physics.equations",
    "primitive_residuals": "pinn.physics.equations",
    "Band": "pinn.physics.bands",
    "antisymmetric_pair": "pinn.physics.bands",
    "ModelUnits": "pinn.physics.units",
    "Solver": "pinn.physics.solver",
    "SolverSettings": "pinn.physics.solver",
    "State": "pinn.physics.solver",
    "Trajectory": "pinn.physics.solver",
    "make_solver": "pinn.physics.solver",
    "balance_start": "pinn.physics.balance",
    "refine_steady_state": "pinn.physics.balance",
    "background_state": "pinn.physics.states",
    "band_state": "pinn.physics.states",
    "strength_from_kG": "pinn.physics.states",
    "run_case": "pinn.physics.cases",
    "solve_linear": "pinn.physics.linear",
    "most_unstable": "pinn.physics.linear",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports("pinn.physics", globals(), _EXPORTS)
