"""pinn: physics-informed forecasts of where solar active regions will emerge.

The chain, one public function per step (every name below is importable from ``pinn``):

* configuration: :func:`load_config`, :class:`Config`, :func:`default_forecast_config`;
* data: :func:`load_synoptic`, :func:`load_sequence` (HMI/MDI/GONG synoptic maps -> xarray),
  :func:`bundled_maps`, :func:`bundled_map`, :func:`load_arise`, :func:`arise_table`;
* toroids: :func:`fit_toroids`, :func:`fit_toroids_window` -> :class:`Toroids`;
* PINN: :func:`train_from_config` -> a trained MHD-SWT state (:class:`TrainResult`);
* solver: :func:`solver_for` (from a configuration) or :func:`make_solver` (physics settings);
* the chain: :func:`build_case` (maps up to N -> the predicted toroids of N+1), shared by
  :func:`run_forecast` / :func:`write_outputs` and :func:`run_hindcast` / :func:`rescore` / :func:`write_results`;
* emergence models: the registry :data:`MODELS` (:func:`register_model` adds one; :class:`ModelInputs` is what a
  model reads), fits written by the hindcast (:func:`read_fit`, :class:`FitArtifact`);
* scores: :func:`log2_likelihood`, :func:`roc_auc`, :func:`paired_bootstrap`, :func:`cell_probability`,
  :func:`calibration_summary`;
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
    "Config": "pinn.config.schema",
    "load_config": "pinn.config.schema",
    "default_forecast_config": "pinn.data.bundled",
    # data
    "load_synoptic": "pinn.data.observations",
    "load_sequence": "pinn.data.observations",
    "inspect_file": "pinn.data.observations",
    "bundled_map": "pinn.data.bundled",
    "bundled_maps": "pinn.data.bundled",
    "arise_table": "pinn.data.bundled",
    "load_arise": "pinn.data.arise",
    "ars_of": "pinn.data.arise",
    # toroids
    "Toroids": "pinn.toroids.fit",
    "HemisphereToroid": "pinn.toroids.fit",
    "fit_toroids": "pinn.toroids.fit",
    "fit_toroids_window": "pinn.toroids.fit",
    "window_weights": "pinn.toroids.fit",
    "format_table": "pinn.toroids.fit",
    "plot_toroids": "pinn.toroids.fit",
    # PINN
    "train_from_config": "pinn.training",
    "TrainResult": "pinn.training",
    "state_cache_key": "pinn.training.state_cache",
    # solver
    "solver_for": "pinn.config.physics",
    "model_units": "pinn.config.physics",
    "band_strength": "pinn.config.physics",
    "zonal_flow": "pinn.config.physics",
    "make_solver": "pinn.physics.solver",
    "SolverSettings": "pinn.physics.solver",
    # the chain: one case for the forecast and the hindcast
    "build_case": "pinn.chain.case",
    "Case": "pinn.chain.case",
    # emergence models: one registry (pinn.emergence.models), fits written by the hindcast
    "MODELS": "pinn.emergence.models",
    "register_model": "pinn.emergence.models",
    "ModelInputs": "pinn.emergence.models",
    "FitArtifact": "pinn.emergence.fit_artifact",
    "read_fit": "pinn.emergence.fit_artifact",
    "density_grid": "pinn.emergence.ridge_model",
    # forecast, hindcast, scores
    "run_forecast": "pinn.chain.forecast",
    "write_outputs": "pinn.chain.forecast",
    "ForecastResult": "pinn.chain.forecast",
    "plot_forecast": "pinn.chain.plotting",
    "run_hindcast": "pinn.chain.hindcast",
    "write_results": "pinn.chain.hindcast",
    "HindcastResult": "pinn.chain.hindcast",
    "rescore": "pinn.chain.hindcast",
    "log2_likelihood": "pinn.scoring.scores",
    "roc_auc": "pinn.scoring.scores",
    "paired_bootstrap": "pinn.scoring.scores",
    "UNIFORM_BITS": "pinn.scoring.scores",
    "cell_probability": "pinn.scoring.calibration",
    "calibration_summary": "pinn.scoring.calibration",
    # errors
    "PinnError": "pinn.errors",
    "InputError": "pinn.errors",
    "ConfigError": "pinn.errors",
}

__all__ = ["__version__"] + list(_EXPORTS)


__getattr__, __dir__ = lazy_exports("pinn", globals(), _EXPORTS)
