"""A content-hash cache of a hindcast's causal fits (the emergence parameters and hybrid betas of every model).

The causal fits are most of the time of scoring saved cases (:func:`pinn.chain.hindcast.rescore`): each model is
fitted once per scored rotation on the rotations before it. They depend only on what the fit reads, so they are
computed once per such key and saved as ``<cache_dir>/fits-<model>-<key>.json`` (each fit as the model's
``to_json``, which round-trips its parameters exactly). The key hashes:

* the model (its dataclass fields: name, features, source) and the config section its start values come from;
* per example, its prepared inputs (arrays, or a dataset's variables and coordinates), the prior density, the
  hemisphere weights, the ARs' positions, the target and the density grid;
* which examples each fit uses (the causal subsets);
* the source of the fitting code (:mod:`pinn.emergence.models`, :mod:`pinn.emergence.hybrid`,
  :mod:`pinn.emergence.ridge_model`, :mod:`pinn.emergence.density`, :mod:`pinn.scoring.scores`,
  :mod:`pinn.data.grid`) and the numpy and scipy versions.

Any change to them makes a new entry instead of reusing a stale one. Entries are written to a temporary file in
the cache folder and renamed into place (atomic on one file system); two processes computing the same key write
the same content, so no lock is needed. An unreadable entry is recomputed and replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import xarray as xr

from pinn.config.schema import Config
from pinn.data import grid
from pinn.emergence import density as dn
from pinn.emergence import hybrid as hy
from pinn.emergence import models as md
from pinn.emergence import ridge_model as rm
from pinn.io import atomic_path, fsync_path
from pinn.scoring import scores as ev

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # layout of the saved file; bump when it changes
FIT_MODULES = (md, hy, rm, dn, ev, grid)  # the code a fit runs


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pinn/fits`` (``~/.cache/pinn/fits`` when unset)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pinn" / "fits"


def _update(h: Any, value: Any) -> None:
    """Feed ``value`` (arrays, datasets, mappings, sequences, scalars) into the hash ``h``, with its structure."""
    if isinstance(value, xr.Dataset):
        h.update(b"dataset")
        for name in sorted(map(str, value.variables)):
            h.update(name.encode())
            _update(h, value[name].values)
    elif isinstance(value, xr.DataArray):
        h.update(b"dataarray")
        _update(h, value.values)
        for name in sorted(map(str, value.coords)):
            h.update(name.encode())
            _update(h, value[name].values)
    elif isinstance(value, np.ndarray):
        values = np.ascontiguousarray(value)
        h.update(f"array{values.dtype.str}{values.shape}".encode())
        h.update(values.tobytes() if values.dtype != object else repr(values.tolist()).encode())
    elif isinstance(value, Mapping):
        h.update(f"map{len(value)}".encode())
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _update(h, value[k])
    elif isinstance(value, (list, tuple)):
        h.update(f"seq{len(value)}".encode())
        for v in value:
            _update(h, v)
    elif callable(value):
        h.update(f"callable:{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}".encode())
    elif value is None or isinstance(value, (bool, int, float, str, np.generic)):
        h.update(f"{type(value).__name__}:{value!r}".encode())
    else:
        raise TypeError(f"cannot hash a {type(value).__name__} for the fit cache")


def code_version() -> str:
    """Hash of the fitting code's source and the numeric library versions."""
    h = hashlib.sha256(f"{FORMAT_VERSION} numpy {np.__version__} scipy {scipy.__version__}".encode())
    for module in FIT_MODULES:
        h.update(inspect.getsource(module).encode())
    return h.hexdigest()


def fits_key(model: Any, examples: Sequence[md.Example], subsets: Sequence[Sequence[int]], config: Config) -> str:
    """Short hash of everything the fits of ``model`` on ``subsets`` of ``examples`` are made from."""
    h = hashlib.sha256(code_version().encode())
    _update(h, {f.name: getattr(model, f.name) for f in dataclasses.fields(model)})
    _update(h, dataclasses.asdict(config.emergence))
    for e in examples:
        i = e.inputs
        _update(h, [int(i.target), int(i.lead), e.prepared, i.prior, dict(i.hemisphere_weights),
                    np.asarray(e.ar_lat, float), np.asarray(e.ar_lon, float), np.asarray(i.lat, float),
                    np.asarray(i.lon, float)])
    _update(h, [[int(j) for j in s] for s in subsets])
    return h.hexdigest()[:24]


def cached_fits(model: Any, examples: Sequence[md.Example], subsets: Sequence[Sequence[int]], config: Config,
                compute: Callable[[], list], cache_dir: str | Path | None = None) -> list:
    """``compute()`` (the fits of ``model`` on ``subsets`` of ``examples``), or the same fits saved by an earlier call
    with the same key (:func:`fits_key`). ``cache_dir``: None for :func:`default_cache_dir`."""
    if not subsets:
        return compute()
    root = default_cache_dir() if cache_dir is None else Path(cache_dir)
    key = fits_key(model, examples, subsets, config)
    path = root / f"fits-{model.name}-{key}.json"
    if path.exists():
        try:
            record = json.loads(path.read_text())
            if record.get("format") == FORMAT_VERSION and len(record["fits"]) == len(subsets):
                return [model.from_json(r) for r in record["fits"]]
            raise ValueError("layout or length differs")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("recomputing the unreadable fit cache entry %s (%s)", path, exc)
    fits = compute()
    _write_atomic(path, {"format": FORMAT_VERSION, "model": model.name, "n_fits": len(fits),
                         "fits": [model.to_json(f) for f in fits]})
    return fits


def _write_atomic(path: Path, record: dict) -> None:
    """Write ``record`` as JSON to ``path`` atomically (:func:`pinn.io.atomic_path`), flushed to disk before the
    rename; a cache that cannot be written (read-only home, full disk) only costs the next run the fits, so it is
    logged, not raised."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(record))
            fsync_path(tmp)
    except OSError as exc:
        log.warning("could not save the fit cache entry %s (%s)", path, exc)
