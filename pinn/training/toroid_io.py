"""The toroids a run trains on: a JSON file from ``pinn toroids --json`` or a bundled map's fit (``cr:N``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pinn.config.schema import Config
from pinn.data.bundled import bundled_map
from pinn.data.observations import load_synoptic
from pinn.errors import ConfigError, InputError
from pinn.toroids import fit as tor
from pinn.training.timedep import ToroidSeries


def load_toroids(config: Config):
    """Toroids named by ``loss.toroids``: a JSON file (``pinn toroids --json``) or ``cr:N`` (bundled map)."""
    spec = config.loss.toroids
    if spec.startswith("cr:"):
        try:
            cr = int(spec[3:])
        except ValueError:
            raise ConfigError(f"config key 'loss.toroids': {spec!r} must be cr:N or a JSON path") from None

        ds = load_synoptic(bundled_map(cr), config.observations)
        return tor.fit_toroids(ds, config.toroids)
    return read_toroids_json(spec)


def read_toroids_json(path: str | os.PathLike):
    """Toroids from a JSON file written by ``pinn toroids --json`` (or a :class:`ToroidSeries`' JSON, with
    ``maps`` and ``days``: the time-dependent formulation's per-map fits); InputError naming the file otherwise."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        return ToroidSeries.from_json_dict(d) if isinstance(d, dict) and "maps" in d else tor.Toroids.from_json_dict(d)
    except OSError as exc:
        raise InputError(path, f"cannot read toroids JSON ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a toroids JSON from `pinn toroids --json` ({exc})") from None
