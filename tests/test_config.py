"""Config: YAML + dotted overrides into typed dataclasses, one-line errors naming the key."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any

import pytest

from pinn.config.schema import (
    Config,
    Domain,
    domain_of,
    dump_yaml,
    from_dict,
    load_config,
    to_dict,
    write_resolved,
)
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


def test_docs_config_reference_matches_dataclasses():
    """docs/config.md's reference is generated from the dataclasses and must not drift."""
    from pinn.config.schema import reference_markdown

    text = (REPO / "docs" / "config.md").read_text()
    start = text.index("<!-- config-reference:start -->")
    end = text.index("<!-- config-reference:end -->")
    embedded = text[start:end].split("\n", 1)[1].strip()
    assert embedded == reference_markdown().strip(), "run `pinn config --reference` and paste it into docs/config.md"


def test_every_config_field_is_documented():
    import dataclasses
    import typing

    from pinn.config.schema import field_comments

    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        cls = hints[f.name]
        if dataclasses.is_dataclass(cls):
            missing = {g.name for g in dataclasses.fields(cls)} - set(field_comments(cls))
            assert not missing, f"undocumented config keys in {f.name}: {sorted(missing)}"


# ---------------------------------------------------------------------------------------------
# Domains: every numeric key has one, defaults lie inside, a value outside names the key and the range


def _numeric_keys() -> list[tuple[str, str, dataclasses.Field, Any]]:
    """(section or '', key name, field, element type) of every int/float (or list of them) config key."""
    hints = typing.get_type_hints(Config)
    out = []
    for f in dataclasses.fields(Config):
        sections = [(f.name, hints[f.name])] if dataclasses.is_dataclass(hints[f.name]) else []
        if not sections:
            out.append(("", f.name, f, hints[f.name]))
        for section, cls in sections:
            sub_hints = typing.get_type_hints(cls)
            out += [(section, g.name, g, sub_hints[g.name]) for g in dataclasses.fields(cls)]
    numeric = []
    for section, name, f, tp in out:
        args = [a for a in typing.get_args(tp) if a not in (type(None), Ellipsis)] or [tp]
        if all(a in (int, float) for a in args):
            numeric.append((section, name, f, args[0]))
    return numeric


NUMERIC = _numeric_keys()


def _outside(domain: Domain, element: type) -> Any:
    """A value of ``element`` type just outside ``domain``."""
    if domain.choices is not None:
        return max(domain.choices) + 1
    step = 1 if element is int else 1.0
    if domain.lo is not None:
        return domain.lo if domain.lo_open else domain.lo - step
    if domain.hi is not None:
        return domain.hi if domain.hi_open else domain.hi + step
    assert element is float, "an unbounded integer key needs a domain"
    return math.inf


def test_numeric_keys_are_found():
    keys = {f"{s}.{n}" if s else n for s, n, _, _ in NUMERIC}
    assert {"seed", "network.width", "solver.dt", "loss.residual_weights", "toroids.modes"} <= keys
    assert "solver.x64" not in keys and "observations.regrid" not in keys


@pytest.mark.parametrize("section, name, f, element", NUMERIC, ids=[f"{s}.{n}" for s, n, _, _ in NUMERIC])
def test_every_numeric_key_has_a_domain_enforced_on_loading(section, name, f, element):
    domain = domain_of(f)
    key = f"{section}.{name}" if section else name
    assert domain is not None, f"config key {key} has no domain: declare it with bounded(...)"
    default = getattr(getattr(Config(), section) if section else Config(), name)
    bad = _outside(domain, element)
    if isinstance(default, tuple):
        values = [bad, *default[1:]]
        assert all(domain.contains(v) for v in default)
    else:
        values = bad
        assert default is None or domain.contains(default), f"default of {key} outside its domain"
    raw = {section: {name: values}} if section else {name: values}
    with pytest.raises(ConfigError) as err:
        from_dict(Config, raw)
    message = str(err.value)
    assert f"'{key}'" in message and domain.describe() in message and "\n" not in message


@pytest.mark.parametrize(
    "override, message",
    [
        ("network.width=0", "config key 'network.width' = 0: must be an integer >= 1"),
        ("solver.dt=-1", "config key 'solver.dt' = -1.0: must be a number > 0"),
        ("forecast.weeks=60", "config key 'forecast.weeks' = 60.0: must be a number in (0, 52]"),
        ("physics.s2=.nan", "config key 'physics.s2' = nan: must be a finite number"),
        ("toroids.hale_sign_north_fallback=0", "config key 'toroids.hale_sign_north_fallback' = 0: must be one of -1, 1"),
        ("toroids.width_bounds_deg=[20, 5]", "must be a list of numbers in (0, 90], increasing"),
        ("loss.residual_weights=[1, 1, -1, 1, 1, 1]", "'loss.residual_weights' = [1.0, 1.0, -1.0, 1.0, 1.0, 1.0]"),
    ],
)
def test_out_of_domain_messages(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value)


def test_defaults_and_null_optionals_load():
    assert from_dict(Config, to_dict(Config())) == Config()
    cfg = load_config(None, ["solver.dissipation_efold_rotations=null", "toroids.modes=0", "train.grad_clip=null"])
    assert cfg.toroids.modes == 0 and cfg.train.grad_clip is None


def test_reference_lists_the_domains():
    from pinn.config.schema import reference_markdown

    text = reference_markdown()
    assert "| `network.width` | int | `128` | >= 1 |" in text
    assert "| `forecast.weeks` | float | `6.0` | in (0, 52] |" in text
