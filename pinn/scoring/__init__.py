"""Stage 6, scoring: log-likelihood scores, paired bootstrap intervals (:mod:`~pinn.scoring.scores`) and
calibration of cell probabilities (:mod:`~pinn.scoring.calibration`)."""
