"""The built wheel runs the main job with no checkout: configs, fit and bundled data ship inside the package."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from test_forecast import TINY

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_wheel_installed_outside_the_tree_runs_a_forecast(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(REPO)], check=True, capture_output=True, timeout=600)
    [wheel] = dist.glob("pinn-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies come from this interpreter's site-packages (a plain path: its .pth files, among them the
    # editable install of the source tree, are not read); pinn itself only from the wheel
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import pinn; print(pinn.__file__)"], cwd=work, check=True,
                           capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the installed copy, not the source tree
    # the classical start: this checks the installed package's wiring and data, not the PINN (tested elsewhere)
    overrides = [a for item in [*TINY, "forecast.cache_dir=null", "forecast.start=classical"]
                 for a in ("--set", item)]
    proc = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pinn.cli", "forecast", "--out", "out", *overrides],
                          cwd=work, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((work / "out" / "summary.json").read_text())
    assert summary["forecast_rotation"] == 2281 and summary["input_rotations"] == [2276, 2277, 2278, 2279, 2280]
    fit = Path(summary["emergence_model"]["fit"])
    assert fit.is_relative_to(site)  # the fit artifact shipped in the wheel, and the model it chose (emergence.model)
    assert summary["emergence_model"]["model"] == json.loads(fit.read_text())["chosen_model"]
    assert (work / "out" / "forecast.png").stat().st_size > 0
