"""The command-line contract: outputs, JSON keys, one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pinn.cli import main
from pinn.config.schema import dump_yaml, load_config
from pinn.data.bundled import bundled_map, default_forecast_config

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pinn.cli", *args], check=False, capture_output=True, text=True, cwd=REPO, timeout=600
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
    assert proc.returncode == 2  # README: bad input files exit with status 2
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
    config_line, error = proc.stderr.splitlines()  # which config, then the one-line error
    assert config_line == "config: built-in defaults"
    assert error.startswith("pinn: error: ") and "bad.fits" in error


# ---------------------------------------------------------------------------------------------
# Which config, output paths checked before any work, flags with config domains, --strict


def test_each_command_says_which_config_it_uses(capsys):
    assert main(["config"]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == "config: built-in defaults"
    assert main(["config", "--for", "forecast"]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == f"config: {default_forecast_config()}"
    first, _, body = captured.out.partition("\n")  # a YAML comment naming the config shown, then the config
    assert first.startswith(f"# config: {default_forecast_config()}")
    assert body == dump_yaml(load_config(default_forecast_config()))  # what `pinn forecast` runs
    assert body != dump_yaml(load_config(None))


def _out_cases(tmp_path: Path) -> dict[str, list[str]]:
    return {
        "forecast": ["forecast", "--out"],
        "hindcast": ["hindcast", "--data-dir", str(tmp_path), "--out"],
        "train": ["train", str(REPO / "configs" / "quick.yaml"), "--out"],
        "solve": ["solve", "--case", "williamson2", "--out"],
        "toroids": ["toroids", str(bundled_map(2280)), "--json"],
    }


@pytest.mark.parametrize("command", ["forecast", "hindcast", "train", "solve", "toroids"])
@pytest.mark.parametrize("where", ["existing_file", "under_a_file"])
def test_unwritable_out_is_refused_before_any_work(command, where, tmp_path, capsys, monkeypatch):
    import pinn.data.observations

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the output path was checked")

    monkeypatch.setattr(pinn.data.observations, "load_synoptic", no_work)
    monkeypatch.setattr(pinn.data.observations, "load_sequence", no_work)
    blocker = tmp_path / "blocker.txt"
    blocker.write_text("keep me")
    if command in ("solve", "toroids") and where == "existing_file":
        out = tmp_path  # these write a file (overwriting one is fine): a folder is what they cannot write
    else:
        out = blocker if where == "existing_file" else blocker / "sub" / "x.json"
    assert main([*_out_cases(tmp_path)[command], str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"pinn: error: {out}: ") and len(err) <= 2
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["toroids", "--threshold", "-5"], "--threshold = -5.0: must be a number > 0"),
        (["forecast", "--weeks", "0"], "--weeks = 0.0: must be a number in (0, 52]"),
        (["forecast", "--strength-kG", "-20"], "--strength-kG = -20.0: must be a number > 0"),
        (["solve", "--case", "williamson2", "--trunc", "2"], "--trunc = 2: must be an integer in [4, 425]"),
        (["config", "--set", "solver.dt=-1"], "config key 'solver.dt' = -1.0: must be a number > 0"),
    ],
)
def test_flags_and_keys_outside_their_domain(argv, message, tmp_path, capsys):
    if argv[0] in ("forecast", "solve"):
        argv = [*argv, "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"pinn: error: {message}"


def test_inspect_strict_refuses_a_repairable_file(tmp_path, capsys):
    import numpy as np
    from astropy.io import fits

    fixture = REPO.parent / "shared" / "data" / "raw" / "header_fixtures" / "hmi_synoptic_small_cr2145.header"
    if not fixture.is_file():
        pytest.skip(f"{fixture} not found")
    header = fits.Header.fromtextfile(fixture)
    for key in ("CHECKSUM", "DATASUM"):
        header.remove(key, ignore_missing=True)
    path = tmp_path / "hmi.Synoptic_Mr_small.2145.fits"
    fits.PrimaryHDU(np.ones((360, 720), np.float32), header).writeto(path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "CR=2145" in out and "ok; repaired documented header defect" in out and "CUNIT1" in out
    assert main(["inspect", "--strict", str(path)]) == 2
    out = capsys.readouterr().out
    assert "known header defect" in out and "observations.strict" in out
