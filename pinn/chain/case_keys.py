"""What a saved hindcast case was made from, so a resumed hindcast never reuses a case made otherwise.

A case (:class:`pinn.chain.hindcast.Case`) depends on the config sections that change the forecast of
rotation N (seed, observations, toroids, physics, solver, network, loss, train, and the forecast keys in
:data:`CASE_FORECAST_KEYS`; not the emergence-model and scoring keys, which :func:`pinn.chain.hindcast.rescore`
applies to saved cases), on the field strength, on the case file's format (:data:`pinn.chain.case.CASE_FORMAT`:
a case saved by an older version lacks what newer models read), and on the content (SHA-256) of the map files of its
window (so on every map's toroids: the window fit, and with ``train.formulation: time_dependent`` each map's own fit,
which the key names, :data:`TIMEDEP_TOROIDS`).
Beside each saved case ``cr<N>.nc`` a ``cr<N>.key.json`` records these parts and their hash; a case without
one, or with another hash, is recomputed (the hindcast warns once, naming the first difference). The key
file is written after the case, so a run killed between the two recomputes that case.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from pinn.chain.case import CASE_FORMAT
from pinn.config.schema import Config, to_dict, training_inputs
from pinn.io import file_sha256, write_json

# forecast.* and emergence.* keys that change a saved case (the rest only change how saved cases are scored, or
# where caches live)
CASE_FORECAST_KEYS = ("weeks", "snapshot_days", "output_nlat", "output_nlon", "ridge_lat_limit_deg", "start")
CASE_EMERGENCE_KEYS = ("hemisphere_weight",)
# What the time-dependent PINN of a case is trained on (train.formulation = time_dependent only): each map of the
# window fitted alone (pinn.chain.inputs.map_series). Cases saved before it were trained on the window fit at each
# map time and have no such part, so they are recomputed; steady cases keep their keys.
TIMEDEP_TOROIDS = "each map fitted alone"


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a file's content; cached per (path, size, mtime) so each map is read once per run."""
    p = Path(path)
    st = p.stat()
    return _digest(str(p.resolve()), st.st_size, st.st_mtime_ns)


def file_digest_or_none(path: str | Path) -> str | None:
    """:func:`file_digest`, or None where the file cannot be read at all (it then never matches a saved key)."""
    try:
        return file_digest(path)
    except OSError:
        return None


@functools.lru_cache(maxsize=4096)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def case_config(config: Config, strength_kG: float) -> dict:
    """The parts of ``config`` (plain dicts), the field strength (kG) and the case format that a case depends on."""
    forecast, emergence = to_dict(config.forecast), to_dict(config.emergence)
    return {**training_inputs(config), "observations": to_dict(config.observations),
            "toroids": to_dict(config.toroids), "solver": to_dict(config.solver),
            "forecast": {k: forecast[k] for k in CASE_FORECAST_KEYS} | _leads_part(forecast["leads"]),
            "emergence": {k: emergence[k] for k in CASE_EMERGENCE_KEYS}, "strength_kG": float(strength_kG),
            "case_format": CASE_FORMAT, **_timedep_part(config)}


def _timedep_part(config: Config) -> dict:
    """What the time-dependent PINN is trained on (:data:`TIMEDEP_TOROIDS`); nothing for the steady one."""
    return {"pinn_toroids": TIMEDEP_TOROIDS} if config.train.formulation == "time_dependent" else {}


def _leads_part(leads: list[int]) -> dict:
    """``forecast.leads`` in a case's key where a case holds further leads' ridges; nothing for the default [1],
    so cases saved before leads existed keep their key."""
    return {} if list(leads) == [1] else {"leads": list(leads)}


def key_path(cases_dir: Path, n: int) -> Path:
    """Where the key of the saved case of rotation N lives (beside ``cr<N>.nc``)."""
    return cases_dir / f"cr{n}.key.json"


class CaseKeys:
    """The expected key of each case of a hindcast: its config parts and the map files of its window."""

    def __init__(self, cases_dir: Path, maps: Mapping[int, Path], config: Config, strength_kG: float):
        self.cases_dir = Path(cases_dir)
        self.maps = maps  # read when asked: the map pool drops unreadable maps as it goes
        self.config = config
        self.parts_config = case_config(config, strength_kG)

    def parts(self, n: int) -> dict:
        """What the case of rotation N is made from now: the config parts and the digests of its window's maps."""
        crs = []
        cr = n
        while cr in self.maps and len(crs) < self.config.toroids.window:
            crs.append(cr)
            cr -= 1
        return {"config": self.parts_config, "maps": {str(c): file_digest_or_none(self.maps[c]) for c in sorted(crs)}}

    def mismatch(self, n: int) -> str | None:
        """None if the saved case of N was made from what it would be made from now, else the first difference."""
        path = key_path(self.cases_dir, n)
        if not path.exists():
            return "no key saved with it"
        try:
            saved = json.loads(path.read_text())["parts"]
        except (OSError, ValueError, KeyError, TypeError):
            return "its key file is unreadable"
        return first_difference(saved, self.parts(n))

    def write(self, n: int) -> None:
        """Record the key of the case of N, just saved."""
        parts = self.parts(n)
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
        write_json(key_path(self.cases_dir, n), {"key": digest, "parts": parts})


def first_difference(saved: object, now: object, prefix: str = "") -> str | None:
    """The first dotted key where two nested dicts differ, as 'key: saved -> now' (None if equal)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        for k in sorted(set(saved) | set(now), key=str):
            if k not in saved or k not in now:
                if prefix == "maps.":
                    return f"the map of CR {k} is {'now' if k in now else 'no longer'} in the window"
                return f"{prefix.removeprefix('config.')}{k}: {'new' if k in now else 'gone'}"
            diff = first_difference(saved[k], now[k], f"{prefix}{k}.")
            if diff is not None:
                return diff
        return None
    if saved != now:
        name = prefix.rstrip(".")
        if name.startswith("maps."):
            return f"the file of CR {name[5:]} changed"
        return f"{name.removeprefix('config.')}: {saved!r} -> {now!r}"
    return None
