"""PINN training: a traced program (batch, loss, Adam and L-BFGS steps fused into lax.scan chunks), the
loops that drive it (single runs with checkpoints, metrics and exact resume; vmapped ensembles), the output
dataset and the axisymmetric test oracle.

Modules, one job each:

* :mod:`~pinn.training.setup`: config checks, device mesh, network, learning-rate schedule, chunk plan.
* :mod:`~pinn.training.timedep`: the time-dependent formulation (``train.formulation: time_dependent``): toroid
  series, loss inputs, time batches and the full d/dt residual; :func:`problem_for` picks the formulation.
* :mod:`~pinn.training.program`: :class:`TrainingProgram` (set-up + step and chunk functions), :class:`TrainState`.
* :mod:`~pinn.training.checkpoints`: orbax checkpoints and the resume hash.
* :mod:`~pinn.training.metrics`: metrics.jsonl lines, progress bar, divergence errors.
* :mod:`~pinn.training.loop`: :func:`train`, :func:`train_ensemble` (one chunk runner for both).
* :mod:`~pinn.training.batch`: :func:`train_batch` (many cases' runs vmapped, case axis sharded).
* :mod:`~pinn.training.cli_entry`: :func:`train_from_config` (``pinn train``: the run folder).
* :mod:`~pinn.training.schema`: the output grid and dataset (state.nc).
* :mod:`~pinn.training.toroid_io`: the toroids a run trains on.
* :mod:`~pinn.training.reference`: exact steady axisymmetric state (the PINN's acceptance test).
"""

from pinn.training.batch import BatchResult, case_mesh, train_batch
from pinn.training.checkpoints import RESUME_NEUTRAL_TRAIN_KEYS, Checkpoints, config_hash
from pinn.training.cli_entry import train_from_config
from pinn.training.loop import Chunk, EnsembleResult, TrainResult, run_chunks, train, train_ensemble
from pinn.training.program import StepLog, TrainingProgram, TrainState
from pinn.training.reference import axisymmetric_errors, axisymmetric_reference, band_toroids
from pinn.training.schema import FORMULATION, evaluate_fields, output_grid, state_dataset
from pinn.training.setup import build_model, check_config, chunk_plan, learning_rate_schedule, make_mesh
from pinn.training.toroid_io import load_toroids, read_toroids_json

__all__ = [
    "FORMULATION",
    "RESUME_NEUTRAL_TRAIN_KEYS",
    "BatchResult",
    "Checkpoints",
    "Chunk",
    "EnsembleResult",
    "StepLog",
    "TrainResult",
    "TrainState",
    "TrainingProgram",
    "axisymmetric_errors",
    "axisymmetric_reference",
    "band_toroids",
    "build_model",
    "case_mesh",
    "check_config",
    "chunk_plan",
    "config_hash",
    "evaluate_fields",
    "learning_rate_schedule",
    "load_toroids",
    "make_mesh",
    "output_grid",
    "read_toroids_json",
    "run_chunks",
    "state_dataset",
    "train",
    "train_batch",
    "train_ensemble",
    "train_from_config",
]
