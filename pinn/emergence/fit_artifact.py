"""The fit artifact: emergence-model parameters fitted causally by the hindcast, read by the forecast.

``pinn hindcast`` writes ``fit.json``: every fitted model's parameters (:meth:`EmergenceModel.to_json`)
fitted on all the rotations it scored, the causal data-only candidate for the rotation after them, and
those rotations (and the causal data-only stack's components for that rotation), so the fit is valid for forecasting ``for_rotation`` and later. The forecast config names it
(``emergence.fit``); a forecast of a rotation the fit has seen is refused before any work. Nothing is copied
by hand: the artifact is the record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pinn.errors import ConfigError
from pinn.io import write_json

FORMAT = "pinn emergence fit v1"


@dataclass(frozen=True)
class FitArtifact:
    """Fitted emergence-model parameters and the rotations they were fitted on."""

    for_rotation: int  # the first rotation this fit may forecast (after every rotation it saw)
    fitted_on: tuple[int, ...]  # the scored rotations N+1 the fit used
    data_only_candidate: str  # the causal data-only choice for ``for_rotation`` (pinn.emergence.data_only label)
    models: Mapping[str, dict]  # model name -> EmergenceModel.to_json(parameters)
    made_by: Mapping[str, str] = field(default_factory=dict)  # what made it (command, ARISE table hash, ...)
    # the data-only stack for ``for_rotation``: (candidate label or 'band', weight) pairs (pinn.emergence.data_only);
    # () in artifacts written before the stack existed
    data_only_stack: tuple[tuple[str, float], ...] = ()
    # the model the hindcast chose causally for ``for_rotation`` (pinn.emergence.models.causal_model_choice): what
    # emergence.model: chosen forecasts with; None in artifacts written before the choice existed
    chosen_model: str | None = None

    def stack_of(self, path: str | Path = "emergence.fit") -> tuple[tuple[str, float], ...]:
        """The data-only stack's components; a one-line error when the artifact predates the stack."""
        if not self.data_only_stack:
            raise ConfigError(f"config key 'emergence.fit' = {path}: no data-only stack (written before it existed; "
                              f"rerun `pinn hindcast` to write one, or set emergence.prior: data_only)")
        return self.data_only_stack

    def check_causal(self, target: int, path: str | Path = "emergence.fit") -> None:
        """Refuse forecasting ``target`` with a fit that saw ``target`` or later."""
        if self.fitted_on and max(self.fitted_on) >= target:
            raise ConfigError(f"config key 'emergence.fit' = {path}: the fit saw CR {max(self.fitted_on)}, not "
                              f"before the forecast rotation CR {target}")

    def params_of(self, name: str, path: str | Path = "emergence.fit") -> dict:
        """The record of model ``name``; a one-line error when the artifact has none."""
        if name not in self.models:
            raise ConfigError(f"config key 'emergence.fit' = {path}: no parameters for model {name!r} "
                              f"(it has {', '.join(sorted(self.models)) or 'none'})")
        return dict(self.models[name])


def write_fit(path: str | Path, artifact: FitArtifact) -> Path:
    """Write the artifact as JSON (atomically)."""
    record = {"format": FORMAT, **asdict(artifact)}
    record["fitted_on"] = list(artifact.fitted_on)
    return write_json(Path(path), record)


def read_fit(path: str | Path) -> FitArtifact:
    """Read a fit artifact; a one-line error naming the file when it is missing or malformed."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config key 'emergence.fit' = {path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"config key 'emergence.fit' = {path}: not a JSON fit artifact") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ConfigError(f"config key 'emergence.fit' = {path}: not a pinn fit artifact (format {FORMAT!r})")
    try:
        return FitArtifact(int(record["for_rotation"]), tuple(int(c) for c in record["fitted_on"]),
                           str(record["data_only_candidate"]), dict(record["models"]), dict(record.get("made_by", {})),
                           tuple((str(c), float(w)) for c, w in record.get("data_only_stack", [])),
                           record.get("chosen_model"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"config key 'emergence.fit' = {path}: malformed fit artifact ({exc!r})") from None
