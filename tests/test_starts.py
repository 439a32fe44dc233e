"""The forecast's start states: the classical balanced band of the toroids (the no-PINN ablation)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from test_forecast import TINY

from pinn.chain import starts
from pinn.config.physics import band_strength, solver_for, zonal_flow
from pinn.config.schema import load_config
from pinn.errors import ConfigError
from pinn.toroids.fit import HemisphereToroid, Toroids

REPO = Path(__file__).resolve().parents[1]
NORTH = HemisphereToroid(20.0, 6.0, (5.0,), (40.0,), -1)
SOUTH = HemisphereToroid(-18.0, 5.0, (), (), +1)


@pytest.mark.x64
def test_classical_state_is_the_pressure_balanced_band_of_the_toroids():
    cfg = load_config(None, ["solver.truncation=42"])
    ds = starts.classical_state(Toroids(2280, 100.0, NORTH, SOUTH), cfg, 20.0)
    assert ds.attrs["start"] == "classical" and ds.attrs["toroids_cr"] == 2280
    lat, lon = ds["lat"].values, ds["lon"].values
    solver = solver_for(cfg)
    np.testing.assert_allclose(lat, solver.lat)
    # u = u0 and v = 0 up to the spectral truncation of the vorticity/divergence round trip
    u0 = np.asarray(zonal_flow(cfg.physics)(np.radians(lat)))[:, None]
    assert np.max(np.abs(ds["u"].values - u0)) < 2e-3 * np.max(np.abs(u0))
    assert np.max(np.abs(ds["v"].values)) < 2e-3 * np.max(np.abs(u0))
    # the band's field follows the warped centre line (within a grid spacing) with the toroids' signs
    a = ds["a"].values
    north = lat > 0
    ridge = lat[north][np.argmax(np.abs(a[north]), axis=0)]
    spacing = float(np.max(np.diff(lat)))
    assert np.max(np.abs(ridge - NORTH.centre_lat_deg(lon))) < spacing
    assert np.ptp(ridge) > 2 * NORTH.amplitudes_deg[0] - 2 * spacing  # the warp is kept, not averaged away
    assert np.sign(a[north][np.argmax(np.abs(a[north]), axis=0), np.arange(len(lon))]).tolist() == [-1] * len(lon)
    south_peak = a[~north][np.argmax(np.abs(a[~north]), axis=0), np.arange(len(lon))]
    assert np.all(south_peak > 0)
    # peak flux density h a is the requested strength (to the truncation's few per cent)
    peak = np.max(np.abs(ds["h"].values * a))
    assert peak == pytest.approx(band_strength(cfg.physics, 20.0), rel=0.05)
    # h is the pressure balance: thinner under the band's magnetic pressure than the field-free background
    field_free = starts.classical_state(Toroids(2280, 100.0, NORTH, SOUTH), cfg, 1e-6)
    assert not np.allclose(ds["h"].values, field_free["h"].values, atol=1e-6)


def test_start_state_classical_trains_nothing(monkeypatch):
    import pinn.training.state_cache as sc

    monkeypatch.setattr(sc, "pinn_state", lambda *a, **k: pytest.fail("trained a PINN for the classical start"))
    monkeypatch.setattr(sc, "pinn_states", lambda *a, **k: pytest.fail("trained a PINN for the classical start"))
    cfg = load_config(REPO / "pinn" / "config" / "forecast.yaml", [*TINY, "forecast.start=classical"])
    # TINY's T21 grid (5.6 deg apart) does not resolve SOUTH's 5-deg half-width (pinn.physics.resolution: T >= 23)
    with pytest.raises(ConfigError, match=r"'solver.truncation' = 21: .* minimum 23$"):
        starts.start_state(Toroids(2280, 100.0, NORTH, SOUTH), cfg, 20.0)
    toroids = Toroids(2280, 100.0, NORTH, dataclasses.replace(SOUTH, width_deg=6.0))  # resolved at T21
    one = starts.start_state(toroids, cfg, 20.0)
    many = starts.start_states([toroids, toroids], cfg, 30.0)
    assert one.attrs["start"] == "classical" and len(many) == 2
    np.testing.assert_allclose(many[0]["a"].values, 1.5 * one["a"].values, rtol=0.02, atol=1e-6 * abs(one["a"]).max().item())
    np.testing.assert_allclose(many[1]["a"].values, many[0]["a"].values)


def test_start_must_be_a_known_start():
    with pytest.raises(ConfigError, match="forecast.start"):
        load_config(None, ["forecast.start=linear"])
