"""Training checkpoints (orbax) and the config hash a resumed run must match.

Layout (unchanged by design, old runs resume): ``checkpoints/<step>/`` holds ``state`` (the TrainState
leaves keyed by index, ``00000`` ...) and ``meta`` (JSON: config_hash, seed, step, phase).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jax

from pinn.config.schema import Config, training_inputs
from pinn.training.program import TrainState

# train keys that change only what is shown or written, not the parameters: resuming may change them
RESUME_NEUTRAL_TRAIN_KEYS = ("progress", "log_every", "checkpoint_every", "output_nlat", "output_nlon",
                             "warm_start", "warm_tolerance", "warm_check_every")  # train() always starts cold


def config_hash(config: Config) -> str:
    """Hash of what the trained parameters depend on (seed, physics, network, loss, train), checked on resume.

    Solver, forecast, observation and toroid-fit settings are left out (the toroids themselves enter through
    ``loss.toroids``), so adding or changing a forward-run option does not orphan training checkpoints.
    """
    parts = training_inputs(config)
    for key in RESUME_NEUTRAL_TRAIN_KEYS:
        parts["train"].pop(key, None)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Checkpoints:
    """Orbax CheckpointManager over the flattened TrainState (leaves keyed by index)."""

    def __init__(self, directory: Path, config: Config):
        import orbax.checkpoint as ocp

        self.ocp = ocp
        self.directory = directory
        opts = ocp.CheckpointManagerOptions(max_to_keep=config.train.checkpoints_kept, create=True,
                                            cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(directory.resolve(), options=opts)

    def latest(self) -> int | None:
        """Step of the newest checkpoint, None when there is none."""
        return self.manager.latest_step()

    def save(self, state: TrainState, meta: dict) -> None:
        """Save ``state`` (asynchronously) under its step, with the JSON ``meta``."""
        step = int(state.step)
        leaves = {f"{i:05d}": x for i, x in enumerate(jax.tree.leaves(state))}
        self.manager.save(step, args=self.ocp.args.Composite(
            state=self.ocp.args.StandardSave(leaves), meta=self.ocp.args.JsonSave(meta)), force=True)

    def restore(self, like: TrainState, step: int | None = None) -> tuple[TrainState, dict]:
        """The state saved at ``step`` (default the latest), structured and typed like ``like``, and its meta."""
        step = self.latest() if step is None else step
        leaves, treedef = jax.tree.flatten(like)
        target = {f"{i:05d}": x for i, x in enumerate(leaves)}
        out = self.manager.restore(step, args=self.ocp.args.Composite(
            state=self.ocp.args.StandardRestore(target), meta=self.ocp.args.JsonRestore()))
        restored = [out.state[f"{i:05d}"] for i in range(len(leaves))]
        return jax.tree.unflatten(treedef, restored), dict(out.meta)

    def wait(self) -> None:
        """Block until pending saves are on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
