"""The command-line contract: outputs, JSON keys, one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pinn.cli import main
from pinn.config.schema import dump_yaml, load_config
from pinn.data.bundled import bundled_map, default_forecast_config
from pinn.toroids.fit import HemisphereToroid
from pinn.toroids.synthetic import synthetic_map

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
        s = t["strength_profile"]  # s(lon) every 5 deg, mean 1, with its sd
        assert len(s) == len(t["strength_profile_err"]) == 72 and abs(sum(s) / 72 - 1.0) < 1e-9
        assert min(s) >= 0 and max(s) > 1.2  # real ARs are not spread evenly along the band
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
    fixture = REPO.parent / "shared" / "data" / "raw" / "header_fixtures" / "hmi_synoptic_small_cr2145.header"
    if not fixture.is_file():
        pytest.skip(f"{fixture} not found")
    header = fits.Header.fromtextfile(fixture)
    for key in ("CHECKSUM", "DATASUM"):
        header.remove(key, ignore_missing=True)
    path = tmp_path / "hmi.Synoptic_Mr_small.2145.fits"
    fits.PrimaryHDU(_magnetogram(), header).writeto(path)  # a map that passes the structure check
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "CR=2145" in out and "ok; repaired documented header defect" in out and "CUNIT1" in out
    assert main(["inspect", "--strict", str(path)]) == 2
    out = capsys.readouterr().out
    assert "known header defect" in out and "observations.strict" in out


RAW = REPO.parent / "shared" / "data" / "raw"


def _magnetogram(seed: int = 0) -> np.ndarray:
    """Synthetic 360 x 720 HMI-like data (ARs, network, noise; pinn.toroids.synthetic), NaN polar rows."""
    north = HemisphereToroid(lat0_deg=15.0, width_deg=5.0, amplitudes_deg=(), phases_deg=(), sign=-1)
    south = HemisphereToroid(lat0_deg=-15.0, width_deg=5.0, amplitudes_deg=(), phases_deg=(), sign=1)
    data = synthetic_map(north, south, n_regions=30, seed=seed)["Br"].values.astype(np.float32)
    data[[0, -1]] = np.nan
    return data


def _from_header_fixture(name: str, path: Path, data: np.ndarray) -> Path:
    fixture = RAW / "header_fixtures" / name
    if not fixture.is_file():
        pytest.skip(f"{fixture} not found")
    header = fits.Header.fromtextfile(fixture)
    for key in ("CHECKSUM", "DATASUM"):  # stale once the data are replaced
        header.remove(key, ignore_missing=True)
    fits.PrimaryHDU(data, header).writeto(path)
    return path


def test_inspect_reads_every_real_map_and_the_cycle24_variant(tmp_path, capsys):
    """All real maps and files with the CR 2130 / 2144 headers (CRPIX2 = 180.0 variant) exit 0, the two
    repaired with one note each; --strict refuses exactly those two, one line each, and exits 2."""
    real = sorted((RAW / "hmi_synoptic_mr_small").glob("hmi.Synoptic_Mr_small.*.fits"))
    if len(real) != 40:
        pytest.skip("the 40 real maps of ../shared/data/raw/hmi_synoptic_mr_small are needed")
    variant = [
        _from_header_fixture(f"hmi_synoptic_small_cr{cr}.header", tmp_path / f"hmi.Synoptic_Mr_small.{cr}.fits",
                             _magnetogram(seed))
        for seed, cr in enumerate((2130, 2144))
    ]
    paths = [str(p) for p in (*real, *variant)]
    assert main(["inspect", *paths]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 42
    assert all(line.endswith("  ok") for line in lines[:40])
    for line, cr in zip(lines[40:], (2130, 2144), strict=True):
        assert f"CR={cr}" in line and "ok; repaired documented header defect" in line
        assert "CDELT2 0.006944 -> 0.005555" in line and "CRPIX2 180.0 -> 180.5" in line
        assert "CRPIX1 360.0 -> 360.4" in line and f"CRVAL1 {360 * cr - 180.25} -> {360.0 * cr - 180}" in line
    assert "CUNIT1 'degreedegree' -> 'deg'" in lines[41] and "CUNIT1" not in lines[40]

    assert main(["inspect", "--strict", *paths]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 42 and all(line.endswith("  ok") for line in lines[:40])
    for line in lines[40:]:
        assert "known header defect, not repaired because observations.strict is set" in line
        assert "CRPIX2 = 180.0" in line


def test_inspect_refuses_an_empty_map_and_a_noise_map(tmp_path, capsys):
    zeros = np.zeros((360, 720), np.float32)
    noise = np.random.default_rng(5).normal(0.0, 50.0, (360, 720)).astype(np.float32)
    paths = [
        str(_from_header_fixture("hmi_synoptic.header", tmp_path / f"{name}.fits", data))
        for name, data in (("zeros", zeros), ("noise", noise))
    ]
    assert main(["inspect", *paths]) == 2
    zero_line, noise_line = capsys.readouterr().out.strip().splitlines()
    assert zero_line.endswith("every finite pixel is exactly 0: an empty (all-zero) map, not a measured field")
    assert "no magnetic structure" in noise_line and "sigma = 50" in noise_line
