"""Stage 5, emergence: densities of new-AR emergence on the forecast grid.

Predicted toroid ridges from an integration (:mod:`~pinn.emergence.ridges`), the ridge model
(:mod:`~pinn.emergence.ridge_model`), the data-only baselines (:mod:`~pinn.emergence.baselines`,
:mod:`~pinn.emergence.data_only`), the hybrid (:mod:`~pinn.emergence.hybrid`) and expected counts
(:mod:`~pinn.emergence.counts`).
"""
