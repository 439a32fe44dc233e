"""The command-line contract: outputs, JSON keys, one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pinn.cli import main
from pinn.paths import bundled_map

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pinn.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=600
    )


def test_config_prints_resolved_yaml(capsys):
    assert main(["config", "--set", "toroids.threshold_G=120"]) == 0
    out = capsys.readouterr().out
    assert "threshold_G: 120.0" in out


def test_bad_config_key_is_one_line_error():
    proc = run_cli("config", "--set", "toroids.threshhold_G=1")
    assert proc.returncode == 2
    message = proc.stderr.strip()
    assert message.startswith("pinn: error: unknown config key 'toroids.threshhold_G' (valid here: ")
    assert "threshold_G" in message and "\n" not in message
    assert "Traceback" not in proc.stderr


def test_inspect_good_and_bad(tmp_path):
    good = bundled_map(2280)
    bad = tmp_path / "truncated.fits"
    bad.write_bytes(good.read_bytes()[:50000])
    proc = run_cli("inspect", str(good), str(bad))
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "CR=2280" in lines[0] and "720x360" in lines[0] and lines[0].endswith("ok")
    assert "truncated.fits" in lines[1] and not lines[1].endswith("ok")
    assert "Traceback" not in proc.stderr


def test_toroids_json_contract(tmp_path):
    out = tmp_path / "t.json"
    plot = tmp_path / "t.png"
    maps = [str(bundled_map(cr)) for cr in (2278, 2279, 2280, 2281, 2282)]
    proc = run_cli("toroids", *maps, "--json", str(out), "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["cr"] == 2280  # the middle rotation of the window
    assert data["threshold_G"] == 100.0
    for hemi, sign in (("north", -1), ("south", 1)):  # cycle 25 Hale signs
        t = data[hemi]
        for key in ("lat0_deg", "width_deg", "amplitudes_deg", "phases_deg", "sign",
                    "lat0_deg_err", "width_deg_err", "amplitudes_deg_err", "phases_deg_err"):
            assert key in t, key
        assert t["sign"] == sign
        assert len(t["amplitudes_deg"]) == len(t["phases_deg"])
    assert 5 < data["north"]["lat0_deg"] < 30 and -30 < data["south"]["lat0_deg"] < -5
    assert plot.stat().st_size > 10000


def test_toroids_causal_and_non_consecutive(tmp_path):
    maps = [str(bundled_map(cr)) for cr in (2278, 2279, 2280)]
    out = tmp_path / "c.json"
    proc = run_cli("toroids", *maps, "--causal", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["cr"] == 2280
    proc = run_cli("toroids", str(bundled_map(2278)), str(bundled_map(2280)))
    assert proc.returncode == 2
    assert "consecutive" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("content", [b"SIMPLE  = nonsense", b"just some text\n"])
def test_toroids_on_non_fits_is_clean_error(tmp_path, content):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(content)
    proc = run_cli("toroids", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "bad.fits" in proc.stderr
