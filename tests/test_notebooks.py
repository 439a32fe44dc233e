"""Every notebook in notebooks/ runs top to bottom (small settings) and draws figures; clean when committed.

Each notebook is executed with nbclient in a fresh kernel of *this* interpreter (a throw-away kernel
spec pointing at ``sys.executable``, so a user- or system-wide ``python3`` kernel of another Python can
never be picked up), with ``PINN_NOTEBOOK_SMALL=1`` (tiny settings), ``MPLBACKEND=Agg`` and the
repository root as working directory. Scratch output goes to a pytest temporary folder
(``PINN_NOTEBOOK_OUT``), never into the repository.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager  # installed with nbclient
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300
KERNEL_NAME = "pinn-test-python"


def test_notebooks_found():
    assert NOTEBOOKS, "no notebooks in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: outputs or execution counts in code cells {dirty} (strip them)"


def _kernel_manager(tmp_path: Path) -> KernelManager:
    """A kernel manager whose only kernel spec runs ipykernel on the interpreter running the tests."""
    spec_dir = tmp_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({sys.executable})",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)


def test_kernel_runs_this_interpreter(tmp_path):
    """The notebooks' kernel is the Python running the tests (the venv with pinn installed)."""
    cell = nbformat.v4.new_code_cell("import sys, pinn; print(sys.executable)")
    nb = nbformat.v4.new_notebook(cells=[cell])
    km = _kernel_manager(tmp_path)
    try:
        nbclient.NotebookClient(nb, km=km, timeout=60).execute()
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    assert nb.cells[0].outputs[0]["text"].strip() == sys.executable


# Notebooks whose small run is long and whose numbers are recorded elsewhere run with -m slow only (suite time):
# 04 (linear stability, 34 s on 2 cores) reproduces experiments/linear; 03 (hindcast, 26 s) the hindcast tables
# (experiments/bench/suite.md).
SLOW_NOTEBOOKS = {"04_linear_stability", "03_hindcast"}
SMALL_RUNS = [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_NOTEBOOKS else p for p in NOTEBOOKS]


@pytest.mark.parametrize("path", SMALL_RUNS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_small(path, tmp_path, monkeypatch):
    monkeypatch.setenv("PINN_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PINN_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.delenv("PINN_DATA_DIR", raising=False)  # bundled data only
    monkeypatch.delenv("PINN_HINDCAST_RESULTS", raising=False)  # recorded results: experiments/hindcast
    nb = nbformat.read(path, as_version=4)
    km = _kernel_manager(tmp_path)  # ours, so nbclient does not shut it down: done below
    client = nbclient.NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False, resources={"metadata": {"path": str(REPO)}}
    )
    t0 = time.perf_counter()
    try:
        client.execute()  # raises CellExecutionError (with the traceback) on the first failing cell
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    wall = time.perf_counter() - t0
    print(f"{path.name}: {wall:.1f} s")

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    errors = [out for out in outputs if out.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert images, f"{path.name}: no image/png output (figures must be displayed inline)"


def test_quickstart_uses_only_the_public_api():
    """The quick-start notebook imports nothing but ``pinn`` (the names of pinn/__init__.py)."""
    import re

    import pinn

    nb = nbformat.read(REPO / "notebooks" / "01_quickstart.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.findall(r"^\s*(?:from pinn\.|import pinn\.|from pinn import)", code, re.MULTILINE)
    used = set(re.findall(r"\bpinn\.(\w+)", code)) - {"__file__"}
    assert used and used <= set(pinn.__all__), used - set(pinn.__all__)
