"""pinn: physics-informed forecasts of where solar active regions will emerge.

The chain, one public function per step (every name below is importable from ``pinn``):

* configuration: :func:`load_config`, :class:`Config`, :func:`default_forecast_config`;
* data: :func:`load_synoptic`, :func:`load_sequence` (HMI/MDI/GONG synoptic maps -> xarray),
  :func:`bundled_maps`, :func:`bundled_map`, :func:`load_arise`, :func:`arise_table`;
* toroids: :func:`fit_toroids`, :func:`fit_toroids_window` -> :class:`Toroids`;
* PINN: :func:`train_from_config` -> a trained MHD-SWT state (:class:`TrainResult`);
* solver: :func:`solver_for` (from a configuration) or :func:`make_solver` (physics settings);
* forecast and hindcast: :func:`run_forecast`, :func:`write_outputs`, :func:`run_hindcast`,
  :func:`write_results`; scores: :func:`log2_likelihood`, :func:`paired_bootstrap`;
* units: :func:`model_units` (astropy Quantities <-> model units).

The physics alone (equations, bands, solver, balance, states, linear stability) is :mod:`pinn.physics`.

Example: the README's "Python" section (tests/test_readme.py runs it).

Names load lazily, so ``import pinn`` stays fast and a command that only reads a configuration never
starts JAX.
"""

from __future__ import annotations

from pinn.exports import lazy_exports

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    # configuration
    "Config": "pinn.config",
    "load_config": "pinn.config",
    "default_forecast_config": "pinn.paths",
    # data
    "load_synoptic": "pinn.observations",
    "load_sequence": "pinn.observations",
    "inspect_file": "pinn.observations",
    "bundled_map": "pinn.paths",
    "bundled_maps": "pinn.paths",
    "arise_table": "pinn.paths",
    "load_arise": "pinn.evaluation",
    "ars_of": "pinn.evaluation",
    # toroids
    "Toroids": "pinn.toroids",
    "HemisphereToroid": "pinn.toroids",
    "fit_toroids": "pinn.toroids",
    "fit_toroids_window": "pinn.toroids",
    "window_weights": "pinn.toroids",
    "format_table": "pinn.toroids",
    "plot_toroids": "pinn.toroids",
    # PINN
    "train_from_config": "pinn.training",
    "TrainResult": "pinn.training",
    "state_cache_key": "pinn.state_cache",
    # solver
    "solver_for": "pinn.physics_config",
    "model_units": "pinn.physics_config",
    "band_strength": "pinn.physics_config",
    "zonal_flow": "pinn.physics_config",
    "make_solver": "pinn.physics.solver",
    "SolverSettings": "pinn.physics.solver",
    # forecast, hindcast, scores
    "run_forecast": "pinn.forecast",
    "write_outputs": "pinn.forecast",
    "ForecastResult": "pinn.forecast",
    "plot_forecast": "pinn.plotting",
    "run_hindcast": "pinn.hindcast",
    "write_results": "pinn.hindcast",
    "HindcastResult": "pinn.hindcast",
    "log2_likelihood": "pinn.evaluation",
    "roc_auc": "pinn.evaluation",
    "paired_bootstrap": "pinn.evaluation",
    "UNIFORM_BITS": "pinn.evaluation",
    # errors
    "PinnError": "pinn.errors",
    "InputError": "pinn.errors",
    "ConfigError": "pinn.errors",
}

__all__ = ["__version__"] + list(_EXPORTS)


__getattr__, __dir__ = lazy_exports("pinn", globals(), _EXPORTS)
