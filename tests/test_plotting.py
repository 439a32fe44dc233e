"""The forecast figure a forecaster reads (issue 18): colour bars, labelled toroids, the predicted ridge on top,
hotspots with their probabilities, and rotations with calendar dates; checked on the figure's artists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import Normalize

from pinn.chain.plotting import plot_forecast, rotation_label
from pinn.data import grid
from pinn.emergence.ridges import lead_days
from pinn.toroids.fit import HemisphereToroid, Toroids

CENTRE_DEG = 15.0  # current toroids at +-15 deg, and the predicted ridge exactly on them (the hiding case)
COUNTS = {"north": 6.0, "south": 4.0}
HOTSPOTS = [
    {"lat_deg": 15.0, "lon_deg": 121.0, "density_per_sr": 1.2, "prob_new_ar_within_10deg": 0.4237},
    {"lat_deg": -15.0, "lon_deg": 349.0, "density_per_sr": 0.9, "prob_new_ar_within_10deg": 0.1850},
]


@dataclass(frozen=True)
class Inputs:
    crs: tuple[int, ...]
    latest: xr.DataArray
    toroids: Toroids


@dataclass(frozen=True)
class Result:
    dataset: xr.Dataset
    inputs: Inputs
    summary: dict


def synthetic_result() -> Result:
    """A forecast of CR 2281 from CR 2278-2280 on a coarse grid: Gaussian bands at +-15 deg, the predicted ridge on
    the current toroids, a Br map reaching +-800 G."""
    lat = np.arange(-89.0, 90.0, 2.0)
    lon = np.arange(2.0, 360.0, 4.0)
    la = lat[:, None]
    density = np.exp(-(((np.abs(la) - CENTRE_DEG) / 6.0) ** 2)) * (1.0 + 0.5 * np.cos(np.radians(lon)))[None, :]
    density = density / (density * grid.cell_areas(lat, lon)).sum()
    time = np.arange(0.0, 46.0, 2.0)
    ridge = np.stack([np.full((lon.size, time.size), s * CENTRE_DEG) for s in (1.0, -1.0)])
    ds = xr.Dataset(
        {"emergence_density": (("lat", "lon"), density),
         "toroid_lat": (("hemisphere", "lon", "time"), ridge),
         "observation_lead_days": ("lon", lead_days(lon)),
         "expected_count": ("hemisphere", [COUNTS["north"], COUNTS["south"]])},
        coords={"lat": lat, "lon": lon, "hemisphere": ["north", "south"], "time": time},
        attrs={"forecast_rotation": 2281, "lead_time_days_min": 13.7, "lead_time_days_max": 40.8,
               "field_strength_kG": 20.0, "emergence_model": "hybrid"})
    br_lon = np.arange(0.5, 360.0, 1.0)
    br_lat = np.arange(-89.5, 90.0, 1.0)
    br = xr.DataArray(800.0 * np.sin(np.radians(2 * br_lat))[:, None] * np.cos(np.radians(br_lon))[None, :],
                      dims=("lat", "lon"), coords={"lat": br_lat, "lon": br_lon})
    toroids = Toroids(cr=2280, threshold_G=100.0,
                      north=HemisphereToroid(CENTRE_DEG, 8.0, (), (), sign=-1),
                      south=HemisphereToroid(-CENTRE_DEG, 8.0, (), (), sign=1))
    return Result(ds, Inputs((2278, 2279, 2280), br, toroids), {"hotspots": HOTSPOTS, "forecast_rotation": 2281})


@pytest.fixture(scope="module")
def figure():
    emerged = pd.DataFrame({"lat": [12.0, -18.0, 20.0], "lon": [100.0, 200.0, 300.0]})
    fig = plot_forecast(synthetic_result(), emerged)
    fig.draw_without_rendering()  # run the layout, so the axes' positions are final
    return fig


def panels(fig) -> tuple[Axes, Axes]:
    """The magnetogram and the forecast panels (the first two axes; colour bars and date axes follow)."""
    return fig.axes[0], fig.axes[1]


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def line(ax, gid: str):
    (found,) = [ln for ln in ax.lines if ln.get_gid() == gid]
    return found


def test_each_map_has_its_own_labelled_colour_bar_beside_it(figure):
    colour_bars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert len(colour_bars) == 2
    br_mesh, density_mesh = (ax.collections[0] for ax in panels(figure))
    assert {br_mesh.colorbar.ax, density_mesh.colorbar.ax} == set(colour_bars)
    for panel in panels(figure):
        p, c = panel.get_position(), panel.collections[0].colorbar.ax.get_position()
        assert c.x0 > p.x1  # to the right of its panel
        assert p.y0 < 0.5 * (c.y0 + c.y1) < p.y1  # at its panel's height
    assert "Br (G)" in br_mesh.colorbar.ax.get_ylabel() and "red = outward" in br_mesh.colorbar.ax.get_ylabel()
    assert br_mesh.get_cmap().name == "RdBu_r"  # diverging, symmetric about 0 G
    norm: Normalize = br_mesh.norm
    assert norm.vmin == -norm.vmax == -300.0
    assert np.abs(br_mesh.get_array()).max() == 300.0  # 800 G saturates at the colour bar's end
    assert "expected new ARs per sr" in density_mesh.colorbar.ax.get_ylabel()
    # the density panel shows expected ARs per sr: per hemisphere they integrate to the expected counts
    ds = synthetic_result().dataset
    per_sr = np.asarray(density_mesh.get_array()).reshape(ds["lat"].size, ds["lon"].size)
    mass = per_sr * grid.cell_areas(ds["lat"].values, ds["lon"].values)
    north = ds["lat"].values > 0
    assert mass[north].sum() == pytest.approx(COUNTS["north"]) and mass[~north].sum() == pytest.approx(COUNTS["south"])


def test_toroids_labelled_and_predicted_ridge_drawn_on_top(figure):
    br_ax, fc_ax = panels(figure)
    texts = legend_texts(br_ax)
    assert any(t.startswith("north toroid now: centre +15.0 deg") and "leading +" in t for t in texts)
    assert any(t.startswith("south toroid now: centre -15.0 deg") and "leading -" in t for t in texts)
    assert any("predicted ridge" in t and "CR 2281" in t for t in texts)
    assert any("predicted ridge" in t for t in legend_texts(fc_ax))
    for ax in (br_ax, fc_ax):
        for hemi in ("north", "south"):
            current, predicted = line(ax, f"current-{hemi}"), line(ax, f"predicted-{hemi}")
            # the two coincide here: the predicted ridge must stay visible above the current toroid
            np.testing.assert_allclose(predicted.get_ydata(), CENTRE_DEG if hemi == "north" else -CENTRE_DEG)
            assert predicted.get_zorder() > current.get_zorder()
            assert ax.lines.index(predicted) > ax.lines.index(current)
            assert predicted.get_color() != current.get_color() and predicted.get_linestyle() == "--"
    assert [t.get_text() for t in br_ax.texts] == ["north toroid", "south toroid"]


def test_hotspots_numbered_with_their_probabilities(figure):
    _, ax = panels(figure)
    for k, (spot, text) in enumerate(zip(HOTSPOTS, ("P=42%", "P=18%")), start=1):
        xy = (spot["lon_deg"], spot["lat_deg"])
        marker = line(ax, f"hotspot-{k}")
        assert (marker.get_xdata()[0], marker.get_ydata()[0]) == xy
        assert [t.get_text() for t in ax.texts if t.get_position() == xy and t.get_gid() is None] == [str(k)]
        (note,) = [t for t in ax.texts if t.get_gid() == f"hotspot-text-{k}"]
        assert note.get_text() == text and note.xy == xy
    assert len([ln for ln in ax.lines if str(ln.get_gid()).startswith("hotspot-")]) == len(HOTSPOTS)
    assert any("within 10 deg" in t for t in legend_texts(ax))
    emerged = line(ax, "emerged")
    np.testing.assert_array_equal(emerged.get_xdata(), [100.0, 200.0, 300.0])
    assert "new ARs that emerged (ARISE): 3" in legend_texts(ax)


def test_rotations_shown_with_calendar_dates(figure):
    # Carrington rotation start dates (UTC): CR 2280 2024-01-18, CR 2281 2024-02-14, CR 2282 2024-03-12
    assert rotation_label(2281) == "CR 2281 (2024-02-14 to 2024-03-12)"
    br_ax, fc_ax = panels(figure)
    assert "CR 2281 (2024-02-14 to 2024-03-12)" in figure.get_suptitle()
    assert "CR 2278-2280" in figure.get_suptitle()
    assert "CR 2280 (2024-01-18 to 2024-02-14)" in br_ax.get_title()
    assert "CR 2281 (2024-02-14 to 2024-03-12)" in fc_ax.get_title()
    date_axes = [child for ax in (br_ax, fc_ax) for child in ax.child_axes]
    assert len(date_axes) == 2
    for ax, first, last in zip(date_axes, ("Jan 18", "Feb 14"), ("Feb 14", "Mar 12")):
        ticks = dict(zip(ax.get_xticks(), (t.get_text() for t in ax.get_xticklabels())))
        assert ticks[360.0] == first and ticks[0.0] == last  # longitude 360 faces Earth first


def test_missing_toroid_and_unknown_truth_are_said_not_drawn():
    """A hemisphere without a fitted toroid gets no current line or label; with no ARISE rows yet the legend says so."""
    full = synthetic_result()
    inputs = Inputs(full.inputs.crs, full.inputs.latest, Toroids(2280, 100.0, full.inputs.toroids.north, None))
    fig = plot_forecast(Result(full.dataset, inputs, full.summary), pd.DataFrame({"lat": [], "lon": []}))
    br_ax, fc_ax = panels(fig)
    assert [ln.get_gid() for ln in br_ax.lines] == ["current-north", "predicted-north", "predicted-south"]
    assert not any("south toroid" in t for t in legend_texts(br_ax))
    assert "no ARISE ARs listed yet" in legend_texts(fc_ax)
    assert len(line(fc_ax, "emerged").get_xdata()) == 0
