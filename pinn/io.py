"""Atomic output writers: a crash never leaves a half-written file under the final name.

Single files are written to a temporary sibling and renamed (:func:`atomic_path`). A set of files that
belong together (a forecast's forecast.nc, summary.json, forecast.png, resolved_config.yaml) is written
all-or-nothing by :func:`write_directory`: every file goes into a temporary sibling folder, is fsynced,
and the folder is swapped into place with one atomic rename (Linux ``renameat2(RENAME_EXCHANGE)``), so a
reader sees either the old complete set or the new complete set. An error while writing (disk full,
a place where nothing can be created) raises an :class:`OSError` whose ``filename`` is the output path and
whose ``strerror`` says what failed (the CLI prints it as one line), and leaves the old outputs untouched
and nothing partial behind. (This module sits below :mod:`pinn.errors` in the layer contract, so it raises
OSError, not :class:`~pinn.errors.OutputError`.)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import xarray as xr


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    final = Path(path)
    with _output_errors(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with _output_errors(final):
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give outputs the usual mode
            os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def _output_errors(path: Path) -> Iterator[None]:
    """Re-raise an OSError of writing ``path`` as one whose ``filename`` is ``path`` (the output the user named)
    and whose ``strerror`` says what failed (and where, when that is another path)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None and os.fspath(exc.filename) == os.fspath(path):
            raise
        where = f" ({os.fspath(exc.filename)})" if exc.filename else ""
        raise type(exc)(exc.errno, f"cannot write: {exc.strerror or exc}{where}", os.fspath(path)) from None


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks: what records and keys say of an input file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a written file (or a folder's entries) to disk, so a rename after it cannot expose lost data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


Writer = Callable[[Path], object]  # writes one output file at the path it is given


def write_directory(out_dir: str | os.PathLike, writers: Mapping[str, Writer]) -> dict[str, Path]:
    """Write the files ``writers`` (name -> function that writes that file at a given path) into ``out_dir``
    all-or-nothing: a reader of ``out_dir`` sees either its old complete contents or the new complete set.

    Every file is written into a temporary sibling folder ``.<name>.new-*`` and fsynced; files already in
    ``out_dir`` under other names are carried over (hard links); then the new folder is exchanged with
    ``out_dir`` in one atomic rename and the old one deleted. ``out_dir`` must not hold subfolders
    (:func:`check_replaceable_dir`). A writer's error leaves ``out_dir`` as it was. Where the atomic
    exchange is not supported (not Linux), the old folder is renamed aside and the new one into place: a
    crash between the two renames leaves ``.<name>.old-*`` beside a missing ``out_dir``. Leftover temporary
    folders of a killed run are deleted by the next call. Returns the final path of each file.
    """
    out = Path(out_dir).absolute()
    check_replaceable_dir(out)
    with _output_errors(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        for stale in out.parent.glob(f".{out.name}.new-*"):  # a killed earlier call's unfinished set
            shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        with _output_errors(out):
            for name, write in writers.items():
                write(stage / name)
                fsync_path(stage / name)
            if out.is_dir():
                for entry in out.iterdir():
                    if entry.name not in writers:
                        os.link(entry, stage / entry.name, follow_symlinks=False)
                os.chmod(stage, out.stat().st_mode & 0o7777)
            else:
                os.chmod(stage, 0o777 & ~_umask())  # mkdtemp creates 0700
            fsync_path(stage)
            if out.is_dir():
                _exchange(stage, out)  # stage now holds the old set
                fsync_path(out.parent)
            else:
                os.rename(stage, out)
                fsync_path(out.parent)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {name: out / name for name in writers}


def check_replaceable_dir(path: str | os.PathLike) -> None:
    """Refuse (:class:`OSError` naming it) an output folder that :func:`write_directory` cannot replace as a whole:
    an existing file, or a folder that holds subfolders (they would have to be moved, not linked) or is
    the current folder."""
    out = Path(path).absolute()
    if not out.exists():
        return
    if not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "names an existing file; it must be a folder (new or existing)", str(out))
    if Path.cwd().resolve().is_relative_to(out.resolve()):
        raise IsADirectoryError(errno.EISDIR, "is the current folder (or holds it); outputs are swapped in as a whole "
                                "folder: name a folder of their own", str(out))
    sub = next((p for p in out.iterdir() if p.is_dir() and not p.is_symlink()), None)
    if sub is not None:
        raise IsADirectoryError(errno.EISDIR, f"holds the folder {sub.name!r}; outputs are swapped in as a whole "
                                "folder: name a folder of their own", str(out))


def _exchange(a: Path, b: Path) -> None:
    """Swap the folders ``a`` and ``b`` atomically (``renameat2(RENAME_EXCHANGE)``); two renames where unsupported."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), os.fspath(b))
    aside = Path(tempfile.mkdtemp(prefix=f".{b.name}.old-", dir=b.parent))
    os.rmdir(aside)
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a Dataset as NetCDF-4 (h5netcdf engine), atomically."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def save_figure(fig, path: str | os.PathLike, **kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the final suffix)."""
    final = Path(path)
    with atomic_path(final) as tmp:
        fig.savefig(tmp, format=final.suffix.lstrip(".") or "png", **kwargs)
    return final


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
