"""Architecture contracts, checked by well-kept tools (configured in pyproject.toml).

* import-linter: no import cycle between sibling modules (lazy and type-only imports included); the stages
  point one way (cli -> chain -> emergence | training -> scoring -> toroids -> data -> config -> physics ->
  io | errors), so do the chain's modules and the physics layers (equations -> solver -> balance -> states ->
  cases); in particular :mod:`pinn.physics` never imports the configuration.
* ruff: no module imports or accesses another module's private ``_name`` (SLF001, PLC2701); tests of a
  module may use its internals.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def test_import_contracts_hold():
    proc = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_layers_contract_detects_a_reverse_import(tmp_path):
    """The layers contract is live: a physics module importing the configuration breaks it."""
    pkg = tmp_path / "pinn"
    shutil.copytree(REPO / "pinn", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "physics" / "equations.py").write_text(
        (pkg / "physics" / "equations.py").read_text() + "\nfrom pinn.config import schema as _config  # noqa\n"
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    proc = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode != 0
    assert "pinn.physics.equations -> pinn.config.schema" in proc.stdout


def test_stage_contract_counts_type_only_imports(tmp_path):
    """A type-only import against the stages (an emergence model typed with the chain's Case) breaks it too."""
    pkg = tmp_path / "pinn"
    shutil.copytree(REPO / "pinn", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    module = pkg / "emergence" / "density.py"
    module.write_text(module.read_text() + "\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                                           "    from pinn.chain.case import Case  # noqa\n")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    proc = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode != 0
    assert "pinn.emergence is not allowed to import pinn.chain" in proc.stdout
    assert "pinn.emergence.density -> pinn.chain.case" in proc.stdout


def test_no_private_names_across_modules():
    proc = subprocess.run([_tool("ruff"), "check", "--preview", "--select", "SLF001,PLC2701",
                           "--output-format", "concise", "pinn", "experiments"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
