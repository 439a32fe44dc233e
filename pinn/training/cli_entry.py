"""``pinn train``: train from a config and write the run folder (resolved config, toroids, metrics, state.nc)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pinn.config.schema import Config, write_resolved
from pinn.io import write_json, write_netcdf
from pinn.training.loop import TrainResult, train
from pinn.training.program import TrainState
from pinn.training.toroid_io import load_toroids


def train_from_config(
    config: Config,
    toroids=None,
    out_dir: str | os.PathLike = "pinn_run",
    resume: bool = False,
    callback: Callable[[int, TrainState], None] | None = None,
) -> TrainResult:
    """``pinn train``: train and write resolved_config.yaml, toroids.json, metrics.jsonl, checkpoints/, state.nc.

    ``toroids`` (a :class:`pinn.toroids.fit.Toroids`) defaults to :func:`load_toroids` of the config.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if toroids is None:
        toroids = load_toroids(config)
    write_resolved(config, out)
    if hasattr(toroids, "to_json_dict"):
        write_json(out / "toroids.json", toroids.to_json_dict())
    result = train(config, toroids, out, resume=resume, callback=callback)
    ds = result.state
    cr = getattr(toroids, "cr", None)
    if cr is not None:
        ds.attrs["toroids_cr"] = int(cr)
    ds.attrs.update({f"final_{k}": v for k, v in result.final_terms.items()})
    write_netcdf(ds, out / "state.nc")
    return result
