"""A content-hash cache of the causal data-only record (:func:`pinn.emergence.data_only.score_methods`).

The record depends only on the ARISE rows it reads (cr, lat, lon, in table order), the density grid, the
list of targets and the code of the method grid, so it is computed once per such key and saved as
``<cache_dir>/data_only-<key>.npz`` (bits of every method per AR, the causal choices per target, and a
JSON description of what made it). The key hashes the inputs, the source of :mod:`pinn.emergence.data_only` and
:mod:`pinn.emergence.baselines`, the :mod:`pinn.scoring.scores` functions they call, and the numeric library versions:
any change to them makes a new entry instead of reusing a stale one.

Files are written to a temporary name in the cache folder and renamed into place (atomic on one file
system), so a reader never sees half a file. Processes computing the same key are serialised by a file
lock ``<cache_dir>/data_only-<key>.lock``: the first computes, the others wait and then load its file.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import zipfile
from pathlib import Path

import astropy
import numpy as np
import pandas as pd
import sunpy
from filelock import FileLock

from pinn.data import arise, grid
from pinn.data.grid import row_edges_deg
from pinn.emergence import baselines as bl
from pinn.emergence import data_only as do
from pinn.emergence import density as dn
from pinn.io import atomic_path
from pinn.scoring import scores as ev

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # layout of the saved file; bump when it changes
# pinn.scoring.scores functions the record calls (directly or through pinn.emergence.baselines)
EVALUATION_FUNCTIONS = (arise.ars_of, grid.cell_areas, dn.normalise, dn.with_floor, dn.density_dataarray, ev.sample,
                        ev.log2_likelihood, dn.band_density, row_edges_deg)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pinn/data_only`` (``~/.cache/pinn/data_only`` when unset)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pinn" / "data_only"


def method_grid_version() -> dict:
    """What the record's code is: the candidate grid, a hash of the code that scores it, library versions."""
    code = hashlib.sha256()
    for source in (inspect.getsource(do), inspect.getsource(bl), *map(inspect.getsource, EVALUATION_FUNCTIONS)):
        code.update(source.encode())
    return {"format": FORMAT_VERSION, "code_sha256": code.hexdigest(),
            "grid": {"widths_deg": do.WIDTHS, "rotations": do.ROTATIONS, "decays": do.DECAYS, "mixes": do.MIXES,
                     "floors": do.FLOORS, "share_decays": do.SHARE_DECAYS, "min_rotations": do.MIN_ROTATIONS,
                     "unobserved": do.UNOBSERVED, "defaults": do.DEFAULTS, "methods": do.METHODS},
            "versions": {"numpy": np.__version__, "pandas": pd.__version__, "sunpy": sunpy.__version__,
                         "astropy": astropy.__version__}}


def _sha256(values: np.ndarray) -> str:
    values = np.ascontiguousarray(values)
    return hashlib.sha256(f"{values.dtype.str}{values.shape}".encode() + values.tobytes()).hexdigest()


def record_inputs(table: pd.DataFrame, lat, lon, targets: list[int], lead: int = 1) -> dict:
    """Everything the record of ``targets`` (forecast ``lead`` rotations ahead) is made from, as JSON-able hashes
    and values (``lead`` only when not 1, so the lead-1 keys are those of records made before leads)."""
    rows = table[["cr", "lat", "lon"]].to_numpy(float)  # the only columns the data-only methods read
    return {"table_sha256": _sha256(rows), "n_rows": len(rows), "lat_sha256": _sha256(np.asarray(lat, float)),
            "lon_sha256": _sha256(np.asarray(lon, float)), "targets": [int(t) for t in targets],
            "method_grid": method_grid_version()} | ({} if lead == 1 else {"lead": int(lead)})


def record_key(inputs: dict) -> str:
    """Short hash of :func:`record_inputs`."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]


def save_record(result: do.DataOnlyResult, path: str | Path, inputs: dict) -> None:
    """Write ``result`` to ``path`` (npz) atomically (:func:`pinn.io.atomic_path`), flushed before the rename."""
    path = Path(path)
    arrays = {f"bits/{c}": result.bits[c].to_numpy() for c in result.bits.columns}
    arrays |= {f"choices/{c}": result.choices[c].to_numpy().astype(str) for c in result.choices.columns}
    arrays["choices_index"] = result.choices.index.to_numpy()
    meta = {"inputs": inputs, "bits_columns": list(result.bits.columns), "choices_columns": list(result.choices.columns)}
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a file object: np.savez would add .npz to a name
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())


def load_record(path: str | Path, inputs: dict | None = None) -> do.DataOnlyResult:
    """Read a record written by :func:`save_record`; with ``inputs``, check it was made from them."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if inputs is not None and meta["inputs"] != json.loads(json.dumps(inputs)):
            raise ValueError(f"{path} was made from other inputs")
        bits = pd.DataFrame({c: data[f"bits/{c}"] for c in meta["bits_columns"]})
        choices = pd.DataFrame({c: data[f"choices/{c}"].astype(object) for c in meta["choices_columns"]},
                               index=pd.Index(data["choices_index"], name="cr"))
    return do.DataOnlyResult(bits, choices)


def cached_score_methods(table: pd.DataFrame, lat, lon, targets: list[int],
                         cache_dir: str | Path | None = None, lead: int = 1) -> do.DataOnlyResult:
    """:func:`pinn.emergence.data_only.score_methods` (at ``lead`` rotations ahead), computed once per content key
    and loaded afterwards.

    ``cache_dir``: folder of the entries (None: :func:`default_cache_dir`). Safe to call from several
    processes at once. An unreadable entry (truncated by a full disk, say) is recomputed and replaced.
    """
    root = default_cache_dir() if cache_dir is None else Path(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    inputs = record_inputs(table, lat, lon, targets, lead)
    key = record_key(inputs)
    path = root / f"data_only-{key}.npz"
    with FileLock(root / f"data_only-{key}.lock"):
        if path.exists():
            try:
                result = load_record(path, inputs)
                log.info("loaded the data-only record %s", path)
                return result
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                log.warning("recomputing the unreadable data-only record %s (%s)", path, exc)
        result = do.score_methods(table, lat, lon, targets, lead)
        save_record(result, path, inputs)
    return result
