"""Issue 18: every bad input refused in one line (exit 2), outputs all-or-nothing, no stale hindcast cases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_forecast import TINY, tiny_args

from pinn.chain import hindcast as hc
from pinn.cli import main
from pinn.config.schema import dump_yaml, load_config
from pinn.data.bundled import bundled_map, default_forecast_config
from pinn.errors import ConfigError, InputWarning
from pinn.io import write_directory, write_text
from pinn.physics import resolution as rs

REPO = Path(__file__).resolve().parents[1]
ROOT = os.geteuid() == 0  # as root every os.access check passes: only the write itself can fail
CLASSICAL = ["forecast.start=classical"]  # no training: a forecast in about a minute on 2 cores


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pinn.cli", *args], check=False, capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The single 'pinn: error:' line of a refused command (exit 2, no traceback)."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("pinn: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


# ---------------------------------------------------------------------------------------------
# A. tracebacks that become one-line errors


def test_config_file_not_utf8_is_one_line_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("seed: 0\n# caf\u00e9 au lait\n".encode("latin-1"))
    line = one_line_error(run_cli("config", "--config", str(path)))
    assert line == f"pinn: error: {path}: config is not UTF-8 text (byte 0xe9 at offset 13)"  # after "seed: 0\n# caf"


@pytest.mark.parametrize("kind", ["file", "unwritable"])
def test_forecast_cache_dir_that_cannot_hold_a_cache_is_refused_up_front(tmp_path, kind):
    if kind == "file":
        cache = tmp_path / "a_file"
        cache.write_text("not a folder")
        expected = "config key 'forecast.cache_dir' names an existing file; it must be a folder (new or existing)"
    else:
        cache = Path("/proc/x/cache") if ROOT else tmp_path / "ro" / "cache"
        if not ROOT:
            (tmp_path / "ro").mkdir(mode=0o555)
        expected = "config key 'forecast.cache_dir': cannot write there ("
    out = tmp_path / "out"
    proc = run_cli("forecast", str(bundled_map(2280)), "--out", str(out), *tiny_args(f"forecast.cache_dir={cache}"))
    line = one_line_error(proc)
    assert line.startswith(f"pinn: error: {cache}: {expected}"), line
    assert not out.exists()


@pytest.mark.parametrize("days", ["nan", "inf", "-1", "0"])
def test_solve_days_must_be_finite_and_positive(tmp_path, days):
    out = tmp_path / "s.nc"
    line = one_line_error(run_cli("solve", "--case", "williamson2", "--days", days, "--trunc", "21", "--out",
                                  str(out), timeout=120))
    assert line == f"pinn: error: --days = {float(days):g}: must be a finite number > 0"
    assert not out.exists()


def test_write_that_fails_after_the_up_front_check_is_one_line(tmp_path):
    """As root, /proc passes the permission check but nothing can be created under it: the write fails."""
    out = Path("/proc/x/out.nc") if ROOT else tmp_path / "ro" / "out.nc"
    if not ROOT:
        (tmp_path / "ro").mkdir(mode=0o555)
    line = one_line_error(run_cli("solve", "--case", "williamson2", "--days", "0.05", "--trunc", "21", "--out",
                                  str(out), timeout=300))
    assert line.startswith(f"pinn: error: {out}"), line
    plot = Path("/proc/x/t.png") if ROOT else tmp_path / "ro" / "t.png"
    line = one_line_error(run_cli("toroids", str(bundled_map(2280)), "--plot", str(plot), timeout=300))
    assert line.startswith(f"pinn: error: {plot}"), line
    if not ROOT:
        assert list((tmp_path / "ro").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# B. a truncation that cannot resolve the toroids


def test_solver_grid_rule_matches_the_solver():
    from pinn.physics.solver import grid_for_truncation

    for t in (5, 14, 21, 42):
        assert grid_for_truncation(t).nodal_shape[1] == rs.gaussian_latitudes(t)
    assert rs.gaussian_latitudes(5) == 8 and rs.latitude_spacing_deg(21) == pytest.approx(5.625)
    # T13: 20 latitudes, 9.0 deg apart > 8.93; T14: 22 latitudes, 8.18 deg apart
    assert rs.minimum_truncation(8.93) == 14 and not rs.resolves(13, 8.93) and rs.resolves(14, 8.93)
    assert rs.minimum_truncation(2.8125) == 42 and rs.minimum_truncation(0.1) is None


def test_truncation_too_coarse_for_the_toroids_is_refused(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("forecast", *[str(bundled_map(c)) for c in range(2276, 2281)], "--out", str(out),
                   *tiny_args(*CLASSICAL, "solver.truncation=5", "forecast.cache_dir=null"))
    line = one_line_error(proc)
    # CR 2280's causal toroids (CR 2276-2280): south half-width 8.93 deg, the narrower
    assert line == ("pinn: error: config key 'solver.truncation' = 5: its grid (8 latitudes, 22.50 deg apart) does "
                    "not resolve the toroid of CR 2280 south (half-width 8.93 deg, 1 latitude per half-width "
                    "needed): minimum 14")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# C. all-or-nothing outputs


def test_write_directory_replaces_the_whole_set_or_nothing(tmp_path):
    out = tmp_path / "out"
    write_directory(out, {"a.txt": lambda p: write_text(p, "old a"), "b.txt": lambda p: write_text(p, "old b")})
    (out / "notes.txt").write_text("the user's own file")

    def fail(p: Path) -> None:
        p.write_text("half")
        raise OSError(28, "No space left on device", str(p))

    with pytest.raises(OSError) as caught:
        write_directory(out, {"a.txt": lambda p: write_text(p, "new a"), "b.txt": fail})
    assert caught.value.filename == str(out.absolute()) and "No space left on device" in caught.value.strerror
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "old a", "b.txt": "old b",
                                                              "notes.txt": "the user's own file"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind
    write_directory(out, {"a.txt": lambda p: write_text(p, "new a"), "b.txt": lambda p: write_text(p, "new b")})
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "new a", "b.txt": "new b",
                                                              "notes.txt": "the user's own file"}
    (out / "sub").mkdir()
    with pytest.raises(IsADirectoryError, match="holds the folder 'sub'"):
        write_directory(out, {"a.txt": lambda p: write_text(p, "x")})


SLOW_WRITER = """
import os, sys, time
real_replace = os.replace
OUTPUTS = ("forecast.nc", "summary.json", "resolved_config.yaml", "forecast.png")
renamed = []
def slow_replace(src, dst, *a, **k):  # every output file is renamed into its final name by pinn.io.atomic_path
    real_replace(src, dst, *a, **k)
    if os.path.basename(dst) in OUTPUTS:
        renamed.append(dst)
        print("renamed", os.path.basename(dst), flush=True)
        if len(renamed) == 2:
            time.sleep(60)  # hold here, two of the four files written, until the test kills the run
os.replace = slow_replace
from pinn.cli import main
sys.exit(main(sys.argv[1:]))
"""

OUTPUTS = ("forecast.nc", "summary.json", "resolved_config.yaml", "forecast.png")


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_forecast_killed_while_writing_leaves_the_old_complete_set(tmp_path):
    out = tmp_path / "out"
    maps = [str(bundled_map(c)) for c in (2279, 2280)]
    common = tiny_args(*CLASSICAL, "forecast.cache_dir=null")
    out.mkdir()
    for name in OUTPUTS:  # a previous complete set (its content does not matter, only that it stays whole)
        (out / name).write_bytes(f"previous {name}\n".encode())
    old = {name: (out / name).read_bytes() for name in OUTPUTS}

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, "forecast", *maps, "--out", str(out), *common,
                              "--weeks", "6.5"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    renamed = []
    for line in child.stdout:
        if line.startswith("renamed"):
            renamed.append(line.split()[1])
            if len(renamed) == 2:  # two of the four outputs are written: kill it mid-set
                child.send_signal(signal.SIGKILL)
                break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.read()[-2000:]
    assert renamed[:2] == ["forecast.nc", "summary.json"]
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    assert now == old  # the old complete set, not a new forecast.nc and summary.json beside old others

    # the next run replaces the set as a whole and clears the killed run's leftovers
    proc = run_cli("forecast", *maps, "--out", str(out), *common, "--weeks", "6.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert json.loads((out / "summary.json").read_text())["horizon_weeks"] == 6.5
    assert yaml.safe_load((out / "resolved_config.yaml").read_text())["forecast"]["weeks"] == 6.5
    assert all((out / name).read_bytes() != old[name] for name in OUTPUTS)


# ---------------------------------------------------------------------------------------------
# D. no stale hindcast results


def _hindcast_data(root: Path, corrupt: tuple[int, ...] = ()) -> Path:
    """Maps CR 2277-2280 (those in ``corrupt`` unreadable) and the bundled ARISE table."""
    import shutil

    from pinn.data.bundled import arise_table

    (root / "maps").mkdir(parents=True)
    for cr in (2277, 2278, 2279, 2280):
        path = root / "maps" / f"hmi.Synoptic_Mr_small.{cr}.fits"
        if cr in corrupt:
            path.write_bytes(b"SIMPLE  =                    T" + b"\0" * 100)
        else:
            shutil.copy(bundled_map(cr), path)
    shutil.copy(arise_table(), root / "ARISE_database_remove_repeat_ARs.csv")
    return root


def _config(*extra: str):
    return load_config(default_forecast_config(), [*TINY, *CLASSICAL, *extra])


@pytest.mark.slow  # suite time: result recorded in experiments/bench/suite.md
def test_hindcast_reads_a_skipped_map_again_once_its_file_is_fixed(tmp_path):
    import shutil

    root = _hindcast_data(tmp_path / "raw", corrupt=(2278,))
    out = tmp_path / "out"
    with pytest.warns(InputWarning, match="skipped the map of CR 2278"):
        hc.run_hindcast(root, _config(), out, crs=[2281], progress=False, data_only_from=2255)
    summary = json.loads((out / "summary.json").read_text())
    assert [s["cr"] for s in summary["skipped_maps"]] == [2278] and summary["maps_per_case"] == {"2280": 2}

    shutil.copy(bundled_map(2278), root / "maps" / "hmi.Synoptic_Mr_small.2278.fits")  # the file is fixed
    with pytest.warns(InputWarning, match=r"CR 2280: the map of CR 2277 is now in the window\); recomputing"):
        hc.run_hindcast(root, _config(), out, crs=[2281], progress=False, data_only_from=2255)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_maps"] == [] and summary["maps_per_case"] == {"2280": 4}
    assert json.loads((out / "cases" / "skipped_maps.json").read_text()) == {}


def test_hindcast_recomputes_cases_made_from_another_config_or_other_maps(tmp_path, monkeypatch):
    import warnings

    from astropy.io import fits

    root = _hindcast_data(tmp_path / "raw")
    out = tmp_path / "out"
    made: list[list[int]] = []
    real_batch = hc.forecast_batch

    def counting(maps, ns, *a, **k):
        made.append(list(ns))
        return real_batch(maps, ns, *a, **k)

    monkeypatch.setattr(hc, "forecast_batch", counting)

    def hindcast(*extra: str) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hc.run_hindcast(root, _config(*extra), out, crs=[2281], progress=False, data_only_from=2255)
        return [str(w.message) for w in caught if "saved case" in str(w.message)]

    assert hindcast("train.adam_steps=50") == [] and made == [[2280]]
    assert hindcast("train.adam_steps=50") == [] and made == [[2280]]  # same config and maps: reused
    assert hindcast("train.adam_steps=50", "emergence.floor=0.2") == [] and made == [[2280]]  # a scoring key: the cases still hold
    stale = hindcast("train.adam_steps=100")
    assert made == [[2280], [2280]]
    assert stale == [(f"1 saved case(s) in {out / 'cases'} were made from another config or other map files "
                     "(CR 2280: train.adam_steps: 50 -> 100); recomputing them")]
    assert json.loads((out / "cases" / "cr2280.key.json").read_text())["parts"]["config"]["train"]["adam_steps"] == 100

    with fits.open(root / "maps" / "hmi.Synoptic_Mr_small.2279.fits", mode="update") as hdul:
        hdu = next(h for h in hdul if h.data is not None)
        hdu.data[180, 100] = np.nan_to_num(hdu.data[180, 100]) + 1.0  # new content, same name
    stale = hindcast("train.adam_steps=100")
    assert made == [[2280], [2280], [2280]]
    assert len(stale) == 1 and "(CR 2280: the file of CR 2279 changed)" in stale[0]


# ---------------------------------------------------------------------------------------------
# E. small CLI surprises


def test_config_says_which_config_it_shows(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("# config: built-in defaults;") and "pinn config --for forecast" in first
    assert yaml.safe_load(out) == yaml.safe_load(dump_yaml(load_config()))  # still the config, as YAML
    assert main(["config", "--for", "forecast"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (f"# config: {default_forecast_config()}, what `pinn forecast` uses without "
                                   "--config")
    assert yaml.safe_load(out) == yaml.safe_load(dump_yaml(load_config(default_forecast_config())))


def test_train_takes_its_config_positionally_or_with_config(tmp_path, monkeypatch, capsys):
    import pinn.training

    seen = []

    class Result:
        final_loss = 0.5

    def fake_train(cfg, out_dir, resume):
        seen.append(cfg)
        return Result()

    monkeypatch.setattr(pinn.training, "train_from_config", fake_train)
    path = str(REPO / "configs" / "quick.yaml")
    expected = load_config(path, ["train.adam_steps=7"])
    for args in (["train", path], ["train", "--config", path], ["train", path, "--config", path]):
        assert main([*args, "--set", "train.adam_steps=7", "--out", str(tmp_path / "run")]) == 0
    assert seen == [expected] * 3
    assert main(["train", "--out", str(tmp_path / "run")]) == 2
    assert "pinn: error: pinn train needs a config: --config CONFIG" in capsys.readouterr().err
    assert main(["train", path, "--config", str(default_forecast_config()), "--out", str(tmp_path / "run")]) == 2
    assert "two configs given" in capsys.readouterr().err


def test_solve_williamson2_prints_its_l2_error(tmp_path):
    import xarray as xr

    out = tmp_path / "w2.nc"
    proc = run_cli("solve", "--case", "williamson2", "--days", "0.5", "--trunc", "21", "--x64", "--no-dissipation", "--out", str(out),
                   timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("l2 error of h vs the analytic steady solution: ")]
    printed = float(line.rsplit(" ", 1)[1])
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert printed == pytest.approx(ds.attrs["h_l2_error"], rel=1e-3)
    assert 0 < printed < 1e-10  # float64, no dissipation: round-off only (README: 1.9e-14 at T42 over 5 days)


def test_hindcast_help_explains_every_printed_score_name():
    from pinn.emergence.models import MODELS

    printed = set(MODELS.names())  # every registered model is scored and printed
    proc = run_cli("hindcast", "--help", timeout=120)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    for name in printed:
        assert any(line.startswith(f"  {name} ") for line in lines), name
    assert any("A_minus_B" in line and "bootstrap" in line for line in lines)


def test_check_resolution_accepts_t42_and_refuses_t6_on_a_real_map():
    from pinn.chain.starts import check_resolution
    from pinn.data.observations import load_synoptic
    from pinn.toroids.fit import fit_toroids

    toroids = fit_toroids(load_synoptic(bundled_map(2280)), load_config().toroids)
    check_resolution([toroids], load_config(None, ["solver.truncation=42"]))
    with pytest.raises(ConfigError, match=r"'solver.truncation' = 6: .* minimum \d+$"):
        check_resolution([toroids], load_config(None, ["solver.truncation=6"]))
