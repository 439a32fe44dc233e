"""Config: YAML + dotted overrides into typed dataclasses, one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinn.config import Config, dump_yaml, load_config, write_resolved
from pinn.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_and_override_types():
    cfg = load_config(None, ["toroids.threshold_G=150", "solver.truncation=85", "toroids.modes=2", "train.learning_rate=1e-3"])
    assert cfg.toroids.threshold_G == 150.0 and isinstance(cfg.toroids.threshold_G, float)
    assert cfg.solver.truncation == 85
    assert cfg.toroids.modes == 2
    assert cfg.toroids.max_modes == Config().toroids.max_modes
    assert cfg.train.learning_rate == 1e-3  # "1e-3" is a string to YAML 1.1


def test_yaml_file_then_override_wins(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("toroids:\n  threshold_G: 80\n  window: 3\nseed: 7\n")
    cfg = load_config(path, ["toroids.threshold_G=90"])
    assert (cfg.toroids.threshold_G, cfg.toroids.window, cfg.seed) == (90.0, 3, 7)


@pytest.mark.parametrize(
    "override, phrase",
    [
        ("toroids.treshold_G=100", "unknown config key 'toroids.treshold_G'"),
        ("nosuch.key=1", "unknown config key 'nosuch'"),
        ("toroids.threshold_G=abc", "config key 'toroids.threshold_G': expected a number"),
        ("solver.truncation=42.5", "config key 'solver.truncation': expected an integer"),
        ("observations.regrid=cubic", "config key 'observations.regrid': 'cubic' is not one of"),
        ("solver.x64=maybe", "config key 'solver.x64': expected true/false"),
        ("toroids.width_bounds_deg=[1]", "config key 'toroids.width_bounds_deg': expected 2 values"),
        ("toroids=3", "config key 'toroids' must be a section"),
        ("novalue", "must look like section.key=value"),
    ],
)
def test_bad_overrides_name_the_key(override, phrase):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    message = str(err.value)
    assert phrase in message
    assert "\n" not in message


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["toroids.combine_weights=[1, 1, 1]", "solver.dissipation_efold_rotations=null"])
    path = write_resolved(cfg, tmp_path)
    again = load_config(path)
    assert again == cfg
    assert again.solver.dissipation_efold_rotations is None
    assert dump_yaml(again) == path.read_text()


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("toroids: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(path)


def test_shipped_configs_are_valid():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        load_config(path)  # raises on any invalid key or value


def test_readme_config_reference_matches_dataclasses():
    """The README's config reference is generated from the dataclasses and must not drift."""
    from pinn.config import reference_markdown

    text = (REPO / "README.md").read_text()
    start = text.index("<!-- config-reference:start -->")
    end = text.index("<!-- config-reference:end -->")
    embedded = text[start:end].split("\n", 1)[1].strip()
    assert embedded == reference_markdown().strip(), "run `pinn config --reference` and paste it into README.md"


def test_every_config_field_is_documented():
    import dataclasses
    import typing

    from pinn.config import field_comments

    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        cls = hints[f.name]
        if dataclasses.is_dataclass(cls):
            missing = {g.name for g in dataclasses.fields(cls)} - set(field_comments(cls))
            assert not missing, f"undocumented config keys in {f.name}: {sorted(missing)}"
