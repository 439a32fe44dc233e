"""The PINN state cache: train a state once per (toroids, config, strength), reuse it afterwards.

A finished state lives at ``<cache_dir>/pinn-<key>/state.nc``; an interrupted training resumes from its
checkpoints in the same folder. Concurrent runs of the same inputs (two ``pinn forecast`` processes,
or hindcast workers) are serialised by an exclusive file lock ``<cache_dir>/pinn-<key>.lock``: the
first trains while the others wait, then they read its state. Without the lock both would write the
same orbax checkpoint folder at once, which orbax does not allow. Different keys do not block
each other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
from pathlib import Path

import jax
import numpy as np
import xarray as xr
from filelock import FileLock, Timeout

from pinn import training  # the package's train_from_config / train_batch, read at call time (patchable)
from pinn.config.schema import Config, training_inputs
from pinn.io import write_netcdf
from pinn.training.timedep import ToroidSeries, problem_for
from pinn.training.warm import StopRule, mean_problem, problem_digest

log = logging.getLogger(__name__)


WARM_TRAIN_KEYS = ("warm_start", "warm_tolerance", "warm_check_every")


def state_cache_key(toroids, config: Config, strength_kG: float, source: str | None = None) -> str:
    """Hash of everything the PINN state depends on: toroids, physics, network, loss, train, seed, a0,
    and for a warm-started state its ``source`` (:mod:`pinn.training.warm`: the batch's mean loss inputs,
    or the previous case's key). A cold state (``source`` None) is keyed without the warm-start keys, so
    cold states keep their keys whatever ``train.warm_start`` says. The toroids' s(lon) enters only with
    ``physics.strength_profile: observed`` (with ``uniform`` the state does not depend on it, and the keys of
    states cached before s(lon) existed stay valid). A :class:`ToroidSeries` (the time-dependent PINN's data)
    is keyed on every map's toroids, times and shifts, so a change in any earlier map gives a new key.
    """
    if isinstance(toroids, ToroidSeries):
        tor = toroids.to_json_dict()
        tor["maps"] = [_keyed_toroids(m, config) for m in tor["maps"]]
    else:
        tor = _keyed_toroids(toroids.to_json_dict(), config)
    parts = {"toroids": tor, "strength_kG": float(strength_kG), **training_inputs(config)}
    if source is None:
        for k in WARM_TRAIN_KEYS:
            parts["train"].pop(k, None)
    else:
        parts["warm_source"] = source
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _keyed_toroids(tor: dict, config: Config) -> dict:
    """One set of toroids' JSON form as keyed: without s(lon) under ``physics.strength_profile: uniform``."""
    if config.physics.strength_profile == "uniform":
        for hemi in ("north", "south"):
            if tor.get(hemi):
                tor[hemi] = {k: v for k, v in tor[hemi].items() if not k.startswith("strength_profile")}
    return tor


def cache_paths(cache_dir: str | Path, key: str) -> tuple[Path, Path]:
    """The run folder and the lock file of cache entry ``key``."""
    root = Path(cache_dir)
    return root / f"pinn-{key}", root / f"pinn-{key}.lock"


def has_checkpoint(run_dir: Path) -> bool:
    """True if an interrupted training left a checkpoint step (orbax's ``checkpoints/<step>/``) to resume.

    An empty ``checkpoints/`` folder (a run killed before its first save) is not one: resuming from it
    would only warn that there is nothing to resume.
    """
    folder = Path(run_dir) / "checkpoints"
    return folder.is_dir() and any(p.is_dir() and p.name.isdigit() for p in folder.iterdir())


def pinn_state(toroids, config: Config, strength_kG: float, work_dir: str | Path | None = None) -> xr.Dataset:
    """Train (or reuse) the PINN state for ``toroids`` at field strength ``strength_kG`` (kG).

    The cache folder is ``work_dir`` or else ``config.forecast.cache_dir``; with neither, the state
    is trained in a temporary folder and not kept. Safe to call from several processes at once.
    """
    cfg = dataclasses.replace(config, physics=dataclasses.replace(config.physics, band_strength_kG=float(strength_kG)))
    cache = config.forecast.cache_dir if work_dir is None else work_dir
    if cache is None:
        with tempfile.TemporaryDirectory() as tmp:
            return training.train_from_config(cfg, toroids, out_dir=tmp).state.load()
    run_dir, lock_path = cache_paths(cache, state_cache_key(toroids, cfg, strength_kG))
    state_path = run_dir / "state.nc"
    if not state_path.exists():
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(lock_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info("another run is training %s; waiting for it", run_dir)
            lock.acquire()
        try:
            if not state_path.exists():  # the run that held the lock may have written it
                resume = has_checkpoint(run_dir)
                training.train_from_config(cfg, toroids, out_dir=run_dir, resume=resume)
        finally:
            lock.release()
    else:
        log.info("reusing cached PINN state %s", state_path)
    with xr.open_dataset(state_path, engine="h5netcdf") as ds:
        return ds.load()


def pinn_states(toroids_list, config: Config, strength_kG: float, mesh=None,
                toroids_crs=None) -> list[xr.Dataset]:
    """The PINN states of many toroids at one strength (kG): cached ones reused, the others trained
    together in one batched program (:func:`pinn.training.train_batch`, case axis sharded over ``mesh``),
    cold or warm-started as ``train.warm_start`` says (:mod:`pinn.training.warm`).

    Newly trained states are written to the cache (``config.forecast.cache_dir``, when set) under the
    same keys as :func:`pinn_state` (warm states: with their source in the key), so either path reuses the
    other's states. With ``previous`` the chain is trained whole unless every state of it is cached (a
    cached state keeps no optimiser state to continue from). No file lock: callers give each process its
    own cases (:mod:`pinn.chain.hindcast`).
    """
    cfg = dataclasses.replace(config, physics=dataclasses.replace(config.physics, band_strength_kG=float(strength_kG)))
    mode = cfg.train.warm_start
    problems = [problem_for(cfg, t, strength_kG) for t in toroids_list]
    keys = warm_keys(toroids_list, problems, cfg, strength_kG)
    cache = config.forecast.cache_dir
    paths = [None if cache is None else cache_paths(cache, k)[0] / "state.nc" for k in keys]
    states: list[xr.Dataset | None] = [_read_state(p) if p is not None and p.exists() else None for p in paths]
    todo = [i for i, s in enumerate(states) if s is None]
    if mode == "previous" and todo:
        todo = list(range(len(toroids_list)))
    if todo:
        crs = [getattr(toroids_list[i], "cr", None) for i in todo]
        trained = train_states(cfg, [problems[i] for i in todo], mesh, crs, problems if mode == "batch_mean" else None)
        for i, ds in zip(todo, trained):
            if paths[i] is not None:
                write_netcdf(ds, paths[i])
            states[i] = ds
    return states


def warm_keys(toroids_list, problems, config: Config, strength_kG: float) -> list[str]:
    """The cache key of each state of a batch, its warm-start source included (``train.warm_start``)."""
    mode = config.train.warm_start
    if mode == "none" or len(toroids_list) == 1:  # a batch of one is its own mean: its state is the cold one
        return [state_cache_key(t, config, strength_kG) for t in toroids_list]
    if mode == "batch_mean":
        source = "batch_mean:" + problem_digest(mean_problem(problems))
        return [state_cache_key(t, config, strength_kG, source) for t in toroids_list]
    keys: list[str] = []
    for t in toroids_list:  # previous: the first cold, each next keyed on the one before
        keys.append(state_cache_key(t, config, strength_kG, None if not keys else "previous:" + keys[-1]))
    return keys


def train_states(config: Config, problems, mesh, crs, batch=None) -> list[xr.Dataset]:
    """Train the states of ``problems`` as ``train.warm_start`` says; ``batch``: the problems whose mean is
    the batch_mean source (default ``problems``)."""
    mode = config.train.warm_start
    if mode == "none" or (len(problems) == 1 and (batch is None or len(batch) == 1)):  # one case: cold (no source)
        return train_cold(config, problems, mesh, crs)
    rw = config.loss.residual_weights
    if mode == "batch_mean":
        source = training.train_batch(config, [mean_problem(problems if batch is None else batch)], mesh)
        rule = StopRule(np.asarray(source.levels[0]), config.train.warm_tolerance, rw)
        start = jax.tree.map(lambda x: x[0], source.train_state)
        return list(training.train_batch(config, problems, mesh, crs, start=start, stop=rule).states)
    first = training.train_batch(config, problems[:1], mesh, crs[:1])  # previous: the chain's first case, cold
    rule = StopRule(np.asarray(first.levels[0]), config.train.warm_tolerance, rw)
    out, prev = list(first.states), first.train_state
    for i in range(1, len(problems)):
        res = training.train_batch(config, problems[i:i + 1], mesh, crs[i:i + 1], start=jax.tree.map(lambda x: x[0], prev),
                          stop=rule)
        out.extend(res.states)
        prev = res.train_state
    return out


def train_cold(config: Config, problems, mesh, crs) -> list[xr.Dataset]:
    """Cold states of ``problems`` in their order, one batched program per shape of the loss inputs: the
    time-dependent problems of a hindcast differ in their number of maps (a window shortened by a data gap),
    and one program stacks its cases. Problems of one shape (every steady batch) train in one program, as before."""
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(problems):
        groups.setdefault(tuple(np.shape(x) for x in jax.tree.leaves(p)), []).append(i)
    out: list[xr.Dataset | None] = [None] * len(problems)
    for idx in groups.values():
        res = training.train_batch(config, [problems[i] for i in idx], mesh, [crs[i] for i in idx])
        for i, ds in zip(idx, res.states):
            out[i] = ds
    return out


def _read_state(path: Path) -> xr.Dataset:
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
