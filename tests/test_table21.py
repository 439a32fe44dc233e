"""The one command for the issue-21 table (experiments/hindcast/table21.py): its table and its resumable run."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def t21():
    spec = importlib.util.spec_from_file_location("table21", ROOT / "experiments" / "hindcast" / "table21.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def _per_ar(models: dict[str, float], rng: np.random.Generator, leads=(1, 2)) -> pd.DataFrame:
    """Per-AR scores of 4 rotations x 3 ARs per lead: each model's bits = its offset + noise."""
    rows = []
    for lead in leads:
        for cr in range(2250, 2254):
            for j in range(3):
                rows.append({"cr": cr, "lead": lead, "lat": 10.0 + j, "lon": 30.0 * j + cr % 7})
    frame = pd.DataFrame(rows)
    for m, offset in models.items():
        frame[f"bits_{m}"] = offset + rng.normal(0, 0.1, len(frame))
    return frame


def test_table_differences_are_the_paired_differences_of_the_columns(t21, tmp_path):
    """table(): per row and lead, each model minus data-only is the mean of the per-AR differences (= difference of
    the column means), with an interval around it; the physics contrast pairs the row with the classical row's
    hybrid_kinematic on the same ARs."""
    rng = np.random.default_rng(1)
    frames = {"static": _per_ar({m: -2.5 for m in t21.STATIC_MODELS}, rng),
              "classical": _per_ar({"band": -2.6, "data_only": -2.4, "hybrid_kinematic": -2.45,
                                    "hybrid_physics_strength": -2.3, "hybrid": -2.35}, rng),
              "pinn_warm": _per_ar({m: -2.5 for m in t21.PINN_MODELS}, rng)}
    for name, frame in frames.items():
        (tmp_path / name).mkdir()
        frame.to_csv(tmp_path / name / "per_ar.csv", index=False)
    rows = t21.write_table(tmp_path)
    assert list(rows) == ["static", "classical", "pinn_warm"]  # the order of ROWS, finished rows only
    assert json.loads((tmp_path / "table.json").read_text()) == rows
    for name, frame in frames.items():
        r = rows[name]
        assert set(r["leads"]) == {"1", "2"} and r["models"] == list(t21.ROWS[name].models)
        for lead, g in frame.groupby("lead"):
            e = r["leads"][str(lead)]
            assert e["n_rotations"] == 4 and e["n_ars"] == 12
            assert set(e["minus_data_only"]) == set(r["models"]) - {"data_only"}
            for m, d in e["minus_data_only"].items():
                expect = g[f"bits_{m}"].mean() - g["bits_data_only"].mean()
                assert d["mean"] == pytest.approx(expect, abs=1e-12)
                assert d["low"] <= d["mean"] <= d["high"]
            assert ("physics_contrast" in e) == (name != "static")
    c = frames["classical"]
    lead2 = rows["classical"]["leads"]["2"]["physics_contrast"]["hybrid_physics_strength_minus_classical_hybrid_kinematic"]
    g = c[c["lead"] == 2]
    assert lead2["mean"] == pytest.approx(0.15, abs=0.1)  # the offsets: -2.30 - (-2.45)
    assert lead2["mean"] == pytest.approx((g["bits_hybrid_physics_strength"] - g["bits_hybrid_kinematic"]).mean(), abs=1e-12)
    w = frames["pinn_warm"]
    g = w[w["lead"] == 1].merge(c[c["lead"] == 1], on=["cr", "lat", "lon"], suffixes=("", "_k"))
    assert rows["pinn_warm"]["leads"]["1"]["physics_contrast"]["hybrid_minus_classical_hybrid_kinematic"]["mean"] == \
        pytest.approx((g["bits_hybrid"] - g["bits_hybrid_kinematic"]).mean(), abs=1e-12)
    text = (tmp_path / "table.md").read_text()
    assert text.count("| static |") == len(t21.STATIC_MODELS) and "Physics goal" in text


def test_physics_contrast_refuses_other_ars(t21, tmp_path):
    rng = np.random.default_rng(2)
    row = _per_ar({m: -2.5 for m in t21.PINN_MODELS}, rng, leads=(1,))
    kin = _per_ar({"hybrid_kinematic": -2.5}, rng, leads=(1,)).iloc[:-1]
    with pytest.raises(RuntimeError, match="not the same ARs"):
        t21.physics_contrast(row, kin)


def test_cli_refuses_unknown_rows_and_bad_leads(t21, capsys):
    for argv, message in ((["--only", "static,nope"], "unknown rows ['nope']"), (["--leads", "2,3"], "starting with 1"),
                          (["--only", "static"], "--data-dir and --work are needed")):
        with pytest.raises(SystemExit) as exit_:
            t21.main(argv)
        assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_quick_run_writes_the_table_and_resumes(t21, tmp_path):
    """--quick (bundled maps, 3 targets, tiny settings) for the static and the classical row at leads 1-2: each row's
    files and table, the paired differences equal to the differences of the written columns; a second call rescores
    nothing (the finished leads are loaded)."""
    work, out = tmp_path / "work", tmp_path / "out"
    argv = ["--quick", "--only", "static,classical", "--leads", "1,2", "--work", str(work), "--out", str(out),
            "--data-only-cache", str(tmp_path / "cache")]
    t21.main(argv)
    rows = json.loads((out / "table.json").read_text())
    assert list(rows) == ["static", "classical"]
    for name in rows:
        per_ar = pd.read_csv(out / name / "per_ar.csv")
        assert per_ar.columns[:2].tolist() == ["cr", "lead"] and sorted(set(per_ar["lead"])) == [1, 2]
        assert sorted(set(per_ar["cr"])) == [2279, 2280, 2281]
        summary = json.loads((out / name / "summary.json").read_text())
        assert set(summary["leads"]) == {"1", "2"} and summary["row"] == name
        for lead, g in per_ar.groupby("lead"):
            for m, d in rows[name]["leads"][str(lead)]["minus_data_only"].items():
                assert d["mean"] == pytest.approx(g[f"bits_{m}"].mean() - g["bits_data_only"].mean(), abs=1e-5)
    assert set(rows["classical"]["leads"]["2"]["physics_contrast"]) == {
        "hybrid_physics_strength_minus_classical_hybrid_kinematic", "hybrid_minus_classical_hybrid_kinematic"}
    done = work / "classical" / "lead2" / "summary.json"
    stamp = done.stat().st_mtime_ns
    before = pd.read_csv(out / "classical" / "per_ar.csv")
    t21.main([*argv[:2], "classical", *argv[3:]])
    assert done.stat().st_mtime_ns == stamp  # loaded, not rescored
    pd.testing.assert_frame_equal(pd.read_csv(out / "classical" / "per_ar.csv"), before)


def test_lead_scores_are_keyed_on_the_cases_content(t21, tmp_path):
    """A saved lead's scores are reused only for the same cases by content: a case recomputed with another ridge
    (same rotations and overrides, e.g. after a code change) gives another lead key; a saved and reloaded case the same."""
    import dataclasses

    from pinn.chain.case import Case, static_case
    from pinn.data.bundled import bundled_map

    row = t21.ROWS["pinn_timedep"]
    config = t21.row_config(row, (1, 2, 3), quick=True)
    case = static_case([bundled_map(c) for c in (2278, 2279, 2280)], config)
    case.save(tmp_path / "cr2280.nc")
    loaded = Case.load(tmp_path / "cr2280.nc")
    moved = dataclasses.replace(case, ridge=case.ridge.assign(ridge_lat=case.ridge["ridge_lat"] + 0.5))
    key = lambda cases: t21.lead_key("pinn_timedep", row, config, range(2281, 2282), 1, cases)
    assert key([case]) == key([loaded])
    assert key([moved]) != key([case]) and key([moved])["cases"] == key([case])["cases"]
