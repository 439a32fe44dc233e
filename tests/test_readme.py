"""The README's Python example runs as written (on the bundled data, quick settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- readme-example:start -->", 1)[1].split("<!-- readme-example:end -->", 1)[0]
    return block.split("```python", 1)[1].rsplit("```", 1)[0]


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_readme_python_example_runs(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert "north" in out and "south" in out  # the toroid table
    drift = float(out.split("relative mass drift:", 1)[1].split()[0])
    assert abs(drift) < 1e-5  # the spectral solver conserves mass (float32)
    bits = float(out.split("bits/AR", 1)[0].rsplit(";", 1)[1])
    assert -3.65 < bits < 0  # better than uniform on the ARs that emerged in CR 2281
