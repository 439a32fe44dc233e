"""The time-dependent PINN in the forecast/hindcast chain: it is trained on each map of the causal window fitted
alone (pinn.chain.inputs.map_series), keyed on every map, and reads no map after N. The trainings are replaced by
spies that record what they were given and stop, so these tests need no training."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.io import fits
from test_forecast import TINY

from pinn import training
from pinn.chain import hindcast as hc
from pinn.chain.case import build_case, build_cases
from pinn.chain.case_keys import TIMEDEP_TOROIDS, CaseKeys, case_config
from pinn.chain.inputs import prepare_inputs
from pinn.chain.starts import start_states
from pinn.config.physics import model_units
from pinn.config.schema import load_config
from pinn.data.bundled import bundled_map
from pinn.data.observations import load_synoptic
from pinn.errors import InputError, InputWarning
from pinn.physics.constants import CARRINGTON_SYNODIC_DAYS
from pinn.toroids import fit as tor
from pinn.training.losses import make_problem
from pinn.training.state_cache import state_cache_key
from pinn.training.timedep import SeriesProblem, ToroidSeries, problem_for

REPO = Path(__file__).resolve().parents[1]
CRS = (2276, 2277, 2278, 2279, 2280)  # the bundled window of CR 2280 (toroids.window = 5)
TIMEDEP = [*TINY, "train.formulation=time_dependent"]


class Stop(Exception):
    """Raised by the training spies once they have recorded their inputs."""


def _config(overrides, cache_dir=None):
    c = load_config(REPO / "pinn" / "config" / "forecast.yaml", overrides)
    return dataclasses.replace(c, forecast=dataclasses.replace(c.forecast, cache_dir=cache_dir))


def _spy_single(monkeypatch) -> list[tuple]:
    """Replace the one-case training (state_cache.pinn_state's) by a spy: records (config, toroids, out_dir)."""
    seen: list[tuple] = []

    def spy(cfg, toroids, out_dir=None, resume=False):
        seen.append((cfg, toroids, out_dir))
        raise Stop

    monkeypatch.setattr(training, "train_from_config", spy)
    return seen


def _alone(cr: int, cfg) -> tor.Toroids:
    """The toroids of the bundled map of ``cr`` fitted alone, read on its own."""
    return tor.fit_toroids(load_synoptic(bundled_map(cr), cfg.observations), cfg.toroids)


def _centre_lats(t: tor.Toroids) -> tuple[float, float]:
    return t.north.lat0_deg, t.south.lat0_deg


def test_time_dependent_pinn_is_trained_on_each_maps_own_fit(monkeypatch):
    """build_case (the forecast and the per-case hindcast) trains the time-dependent PINN on map k's own fit at
    t_k = (CR_k - N) synodic rotations: its centre latitudes and loss-input centre lines are those of map k fitted
    alone, which differ from the window fit by up to 2 deg on the bundled maps; the steady PINN keeps the window fit."""
    cfg = _config(TIMEDEP)
    seen = _spy_single(monkeypatch)
    with pytest.raises(Stop):
        build_case([bundled_map(c) for c in CRS], cfg)
    (train_cfg, series, _), = seen
    assert isinstance(series, ToroidSeries) and [t.cr for t in series.toroids] == list(CRS)
    window = prepare_inputs([bundled_map(c) for c in CRS], cfg).toroids
    problem = problem_for(train_cfg, series)
    assert isinstance(problem, SeriesProblem)
    mu = model_units(train_cfg.physics)
    moved = []
    for k, cr in enumerate(CRS):
        alone = _alone(cr, cfg)
        np.testing.assert_allclose(_centre_lats(series.toroids[k]), _centre_lats(alone), atol=1e-9)
        np.testing.assert_allclose(np.asarray(problem.maps.centre_lat[k]),
                                   np.asarray(make_problem(train_cfg, alone).centre_lat), atol=1e-6)
        t_k = mu.time_to_model((cr - CRS[-1]) * CARRINGTON_SYNODIC_DAYS * u.day)
        assert float(problem.map_time[k]) == pytest.approx(t_k, rel=1e-6, abs=1e-9)
        moved.append(np.max(np.abs(np.subtract(_centre_lats(alone), _centre_lats(window)))))
    # checked on the bundled data: map 2277's north band sits 1.98 deg from the window fit's
    assert max(moved) > 1.5 and min(moved) < max(moved)
    seen.clear()
    with pytest.raises(Stop):
        build_case([bundled_map(c) for c in CRS], _config(TINY))
    assert seen[0][1] == window  # steady: the window fit, as before


def test_batched_hindcast_trains_each_case_on_its_own_maps(monkeypatch):
    """build_cases (the batched hindcast path) gives train_batch each case's series problem: map k's own fit."""
    cfg = _config(TIMEDEP)
    seen: list = []

    def spy(config, problems, mesh=None, crs=None, **kwargs):
        seen.append((config, list(problems), crs))
        raise Stop

    monkeypatch.setattr(training, "train_batch", spy)
    windows = (CRS, tuple(c + 1 for c in CRS))  # the cases of N = 2280 and 2281, five maps each: one program
    with pytest.raises(Stop):
        build_cases([[bundled_map(c) for c in w] for w in windows], cfg)
    (train_cfg, problems, crs), = seen
    assert crs == [2280, 2281] and all(isinstance(p, SeriesProblem) for p in problems)
    for problem, run in zip(problems, windows):
        assert problem.maps.centre_lat.shape[0] == len(run)
        for k, cr in enumerate(run):
            np.testing.assert_allclose(np.asarray(problem.maps.centre_lat[k]),
                                       np.asarray(make_problem(train_cfg, _alone(cr, cfg)).centre_lat), atol=1e-6)


def test_batched_cases_with_windows_of_different_lengths_train_one_program_per_length(monkeypatch):
    """A hindcast batch whose windows differ in length (the first maps of the data, a gap) gives series problems of
    different shapes: each program stacks one shape only, and every case gets its own state back, in order."""
    cfg = _config(TIMEDEP)
    calls: list[list[int]] = []

    def spy(config, problems, mesh=None, crs=None, **kwargs):
        sizes = {int(p.map_time.shape[0]) for p in problems}
        assert len(sizes) == 1, f"one program stacks problems of {sorted(sizes)} maps"
        calls.append(list(crs))
        return SimpleNamespace(states=[xr.Dataset(attrs={"cr": c}) for c in crs])

    monkeypatch.setattr(training, "train_batch", spy)
    runs = {2278: CRS[:3], 2279: CRS[:4], 2280: CRS, 2277: CRS[:2]}  # rotation N: its window
    inputs = [prepare_inputs([bundled_map(c) for c in r], cfg) for r in runs.values()]
    states = start_states([i.toroids for i in inputs], cfg, 2.0, series=[i.series for i in inputs])
    assert [s.attrs["cr"] for s in states] == list(runs)
    assert sorted(map(sorted, calls)) == [[2277], [2278], [2279], [2280]]


def _edited_copy(folder: Path, crs, edit: int | None) -> list[Path]:
    """Copies of the bundled maps of ``crs`` in ``folder``; the map of ``edit`` with its eastern half zeroed."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for cr in crs:
        path = folder / bundled_map(cr).name
        shutil.copy(bundled_map(cr), path)
        if cr == edit:
            with fits.open(path, mode="update") as hdul:
                hdu = next(h for h in hdul if h.data is not None)
                hdu.data[:, hdu.data.shape[1] // 2:] = 0.0
        out.append(path)
    return out


def test_state_and_case_keys_cover_every_map(tmp_path, monkeypatch):
    """The time-dependent state is cached under the key of the whole per-map series, so editing an earlier map
    (the latest map unchanged) gives a new state key and a new case key; the time-dependent case key names what
    the PINN is trained on, the steady one does not (steady keys as before: the window fit's)."""
    cfg = _config(TIMEDEP, cache_dir=tmp_path / "cache")
    seen = _spy_single(monkeypatch)
    keys, inputs = [], []
    for name, edit in (("a", None), ("b", 2277)):
        paths = _edited_copy(tmp_path / name, CRS, edit)
        with pytest.raises(Stop):
            build_case(paths, cfg)
        keys.append(Path(seen[-1][2]).name.removeprefix("pinn-"))
        inputs.append(prepare_inputs(paths, cfg))
    train_cfg = seen[-1][0]
    strength = cfg.physics.band_strength_kG
    for key, inp in zip(keys, inputs):
        assert key == state_cache_key(inp.series, train_cfg, strength)
    assert inputs[0].series.latest == inputs[1].series.latest  # the latest map's fit is unchanged
    assert inputs[0].series.toroids[1] != inputs[1].series.toroids[1] and keys[0] != keys[1]
    case_keys = [CaseKeys(tmp_path / "cases", {c: p for c, p in zip(CRS, _edited_copy(tmp_path / n, CRS, e))}, cfg,
                          strength) for n, e in (("a", None), ("b", 2277))]
    assert case_keys[0].parts(2280) != case_keys[1].parts(2280)
    assert case_config(cfg, strength)["pinn_toroids"] == TIMEDEP_TOROIDS
    steady = _config(TINY, cache_dir=tmp_path / "cache")
    assert "pinn_toroids" not in case_config(steady, strength)
    with pytest.raises(Stop):
        build_case(_edited_copy(tmp_path / "a", CRS, None), steady)
    steady_inputs = prepare_inputs(_edited_copy(tmp_path / "a", CRS, None), steady)
    assert steady_inputs.series is None
    assert Path(seen[-1][2]).name == f"pinn-{state_cache_key(steady_inputs.toroids, seen[-1][0], strength)}"


def test_series_reads_no_map_after_n(tmp_path, monkeypatch):
    """The hindcast case of N = 2279 trains on the maps of CR 2276-2279 fitted alone (times -3..0 rotations):
    the maps after N in the folder (here unreadable files) are never opened."""
    folder = tmp_path / "maps"
    for cr in range(2276, 2280):
        _edited_copy(folder, [cr], None)
    for cr in (2280, 2281, 2282):
        (folder / bundled_map(cr).name).write_bytes(b"not a FITS file")  # opening any of them would raise
    seen = _spy_single(monkeypatch)
    with pytest.raises(Stop):
        hc.forecast_case(hc.find_maps(folder), 2279, _config(TIMEDEP), None)
    series = seen[0][1]
    assert isinstance(series, ToroidSeries)
    assert [t.cr for t in series.toroids] == [2276, 2277, 2278, 2279]
    np.testing.assert_allclose(series.days, [-3 * CARRINGTON_SYNODIC_DAYS, -2 * CARRINGTON_SYNODIC_DAYS,
                                             -CARRINGTON_SYNODIC_DAYS, 0.0])


def test_one_map_window_falls_back_with_a_warning_and_a_failed_fit_names_its_rotation(monkeypatch):
    """A window of one map (a data gap before N) has no motion to read: its fit is placed at the toroids.window map
    times with one InputWarning naming N; a map whose own fit raises stops the case naming that map's rotation."""
    cfg = _config(TIMEDEP)
    with pytest.warns(InputWarning, match="time-dependent PINN of CR 2280: one map in the window"):
        inputs = prepare_inputs([bundled_map(2280)], cfg)
    assert len(inputs.series.toroids) == cfg.toroids.window
    assert all(t == inputs.toroids for t in inputs.series.toroids)
    real = tor.fit_toroids

    def failing(ds, config=None):
        if int(ds["cr"].item()) == 2278:
            raise InputError(None, "no usable pixels")
        return real(ds, config)

    monkeypatch.setattr(tor, "fit_toroids", failing)
    with pytest.raises(InputError, match=r"^time-dependent PINN of CR 2280: toroids of the map of CR 2278 alone: "
                                         r"no usable pixels$"):
        prepare_inputs([bundled_map(c) for c in CRS], cfg)
