"""Emergence models: one interface, one registry.

Every model turns what may be known when rotation ``target`` is forecast (:class:`ModelInputs`: the
predicted and static toroid ridges of the case, the hemisphere weights, the ARISE rows before ``target``,
the causal data-only prior) into a probability density of new-AR emergence per steradian on the forecast
grid. A model with parameters says how to fit them on earlier rotations (:meth:`EmergenceModel.fit`, given
rotations scored strictly before the target only: the caller guarantees it) and how to write them to and
read them from the fit artifact (JSON) that the hindcast writes and the forecast reads.

The registry (:data:`MODELS`, :func:`register`) is the one list the forecast picks from
(``emergence.model``) and the hindcast scores (one ``bits_<name>`` column each). A new model or feature
is one entry here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import xarray as xr

from pinn.config.schema import Config
from pinn.emergence import data_only as do
from pinn.emergence import density as dn
from pinn.emergence import hybrid as hy
from pinn.emergence import map_channel
from pinn.emergence.ridge_model import EmergenceParams, emergence_density, fit_emergence_params

FIT_THREADS = max(1, min(8, os.cpu_count() or 1))  # threads for independent fits (numpy array work releases the GIL)


def map_fits(fit: Callable[[Any], Any], items: Sequence[Any]) -> list:
    """``[fit(x) for x in items]`` on :data:`FIT_THREADS` threads, in order: the causal fits of a hindcast are
    independent, and their time is spent in numpy array operations that release the GIL."""
    if FIT_THREADS == 1 or len(items) < 2:
        return [fit(x) for x in items]
    with ThreadPoolExecutor(max_workers=FIT_THREADS) as pool:
        return list(pool.map(fit, items))


@dataclass(frozen=True)
class ModelInputs:
    """What an emergence model may know when it forecasts rotation ``target`` (nothing from ``target`` on)."""

    target: int  # the forecast rotation N+lead
    lat: np.ndarray  # density grid: cell-centre latitudes (deg)
    lon: np.ndarray  # and Carrington longitudes (deg)
    ridge: xr.Dataset  # predicted toroids at the observation times of the target (pinn.emergence.ridges)
    static_ridge: xr.Dataset  # the current toroids, unchanged, in the same form
    hemisphere_weights: Mapping[str, float]
    history: pd.DataFrame  # ARISE new ARs of rotations before the target
    prior: xr.DataArray  # the prior the hybrids tilt: emergence.prior, data_only or data_only_stack (pinn.emergence.data_only)
    reference: Callable[[str], xr.DataArray] | None = None  # a data-only method's density with its causal choice
    latest_br: Callable[[], xr.DataArray] | None = None  # the latest map's Br(lat, lon), G, read on demand
    lead: int = 1  # rotations ahead: the target is N+lead, and nothing after N is known (history: cr <= N)


@dataclass(frozen=True)
class Example:
    """A scored rotation for a fit: the model's prepared inputs and the new ARs that emerged (deg)."""

    inputs: ModelInputs
    prepared: Any
    ar_lat: np.ndarray
    ar_lon: np.ndarray


class EmergenceModel(Protocol):
    """The interface every registered model follows."""

    name: str
    description: str
    fitted: bool  # True: parameters fitted on earlier rotations (fit / unfitted / to_json / from_json)

    def prepare(self, inputs: ModelInputs) -> Any:
        """Per-case work that does not depend on the parameters (features), done once per case."""

    def unfitted(self, config: Config) -> Any:
        """The parameters before enough rotations have been scored (or with no fit artifact)."""

    def fit(self, examples: Sequence[Example], config: Config) -> Any:
        """Parameters fitted on ``examples`` (rotations scored before the target only). A model may also define
        ``fit_subsets(examples, subsets, config)``: ``fit`` on each list of indices, sharing per-case work across
        the causal fits (the hindcast then uses it; the answers must be those of ``fit``)."""

    def density(self, inputs: ModelInputs, prepared: Any, params: Any) -> xr.DataArray:
        """The emergence density (per sr, integrating to 1) on (inputs.lat, inputs.lon)."""

    def to_json(self, params: Any) -> dict:
        """Parameters as JSON-able values (the fit artifact)."""

    def from_json(self, record: Mapping) -> Any:
        """Parameters from :meth:`to_json`'s record."""

    def columns(self, params: Any) -> dict:
        """per_rotation.csv columns that report the parameters used for a rotation."""


@dataclass(frozen=True)
class FixedModel:
    """A model without fitted parameters: a function of the inputs alone (baselines, the data-only prior)."""

    name: str
    description: str
    make: Callable[[ModelInputs], xr.DataArray]
    fitted: bool = False

    def prepare(self, inputs: ModelInputs) -> None:
        return None

    def unfitted(self, config: Config) -> None:
        return None

    def fit(self, examples: Sequence[Example], config: Config) -> None:
        return None

    def density(self, inputs: ModelInputs, prepared: Any, params: Any) -> xr.DataArray:
        return self.make(inputs)

    def to_json(self, params: Any) -> dict:
        return {}

    def from_json(self, record: Mapping) -> None:
        return None

    def columns(self, params: Any) -> dict:
        return {}


def _ridge_of(inputs: ModelInputs, source: str) -> xr.Dataset:
    """The predicted ridge (``source`` 'predicted') or the current toroids ('static')."""
    return inputs.ridge if source == "predicted" else inputs.static_ridge


@dataclass(frozen=True)
class RidgeModel:
    """Gaussian bands about a ridge, weighted along it by strength (:mod:`pinn.emergence.ridge_model`)."""

    name: str
    description: str
    source: str = "predicted"  # 'predicted': the integrated toroids; 'static': the current ones (no physics)
    params_from: str | None = None  # score with the parameters fitted for this other model (an ablation of inputs only)
    fitted: bool = True

    def prepare(self, inputs: ModelInputs) -> xr.Dataset:
        return _ridge_of(inputs, self.source)

    def unfitted(self, config: Config) -> EmergenceParams:
        return EmergenceParams.from_config(config.emergence)

    def fit(self, examples: Sequence[Example], config: Config) -> EmergenceParams:
        cases = [(e.prepared, e.inputs.hemisphere_weights, e.ar_lat, e.ar_lon) for e in examples]
        return fit_emergence_params(cases, examples[0].inputs.lat, self.unfitted(config))

    def density(self, inputs: ModelInputs, prepared: xr.Dataset, params: EmergenceParams) -> xr.DataArray:
        return emergence_density(prepared, inputs.lat, dict(inputs.hemisphere_weights), params)

    def to_json(self, params: EmergenceParams) -> dict:
        return asdict(params)

    def from_json(self, record: Mapping) -> EmergenceParams:
        return EmergenceParams(**{k: float(record[k]) for k in ("floor", "width_scale", "strength_power",
                                                                  "min_sigma_deg")})

    def columns(self, params: EmergenceParams) -> dict:
        return {f"{self.name}_{k}": v for k, v in asdict(params).items()}


@dataclass(frozen=True)
class HybridModel:
    """The data-only prior tilted by ridge features, log-linear (:mod:`pinn.emergence.hybrid`)."""

    name: str
    description: str
    features: tuple[str, ...]
    source: str = "predicted"  # the ridge the features are measured on ('static': the current toroids)
    fitted: bool = True

    def prepare(self, inputs: ModelInputs) -> np.ndarray:
        ridge = _ridge_of(inputs, self.source)
        return np.stack([MAP_FEATURES[f](inputs) if f in MAP_FEATURES else
                         hy.ridge_features(ridge, inputs.static_ridge, inputs.lat, (f,))[0] for f in self.features])

    def unfitted(self, config: Config) -> hy.HybridFit:
        return hy.zero_fit(self.features)

    def fit(self, examples: Sequence[Example], config: Config) -> hy.HybridFit:
        cases = [hy.make_fit_case(e.inputs.target, e.inputs.prior, e.prepared, e.ar_lat, e.ar_lon) for e in examples]
        return hy.fit_hybrid(cases, self.features)

    def fit_subsets(self, examples: Sequence[Example], subsets: Sequence[Sequence[int]], config: Config
                    ) -> list[hy.HybridFit]:
        """:meth:`fit` on each subset of ``examples`` (indices), each case prepared once for all the fits."""
        cases = [hy.make_fit_case(e.inputs.target, e.inputs.prior, e.prepared, e.ar_lat, e.ar_lon) for e in examples]
        for c in cases:
            c.distinct  # noqa: B018 (computed once here, before the fits share it across threads)
        return map_fits(lambda s: hy.fit_hybrid([cases[j] for j in s], self.features), subsets)

    def density(self, inputs: ModelInputs, prepared: np.ndarray, params: hy.HybridFit) -> xr.DataArray:
        return hy.hybrid_density(inputs.prior, prepared, params)

    def to_json(self, params: hy.HybridFit) -> dict:
        return {"features": list(params.names), "betas": [float(b) for b in params.beta],
                "beta_sd": [float(s) for s in params.beta_sd], "scales": [float(s) for s in params.scale],
                "prior_sd": float(params.prior_sd)}

    def from_json(self, record: Mapping) -> hy.HybridFit:
        names = tuple(record["features"])
        if names != self.features:
            raise ValueError(f"fit of {self.name!r} has features {list(names)}, the model {list(self.features)}")
        return hy.HybridFit(names, np.asarray(record["betas"], float), np.asarray(record.get("beta_sd", [0.0] * len(names)),
                            float), np.asarray(record["scales"], float), (), float(record.get("prior_sd", hy.PRIOR_SD)))

    def columns(self, params: hy.HybridFit) -> dict:
        out = {}
        for f, d in params.as_dict().items():
            if isinstance(d, dict):
                out.update({f"{self.name}_beta_{f}": d["beta"], f"{self.name}_low_{f}": d["low"],
                            f"{self.name}_high_{f}": d["high"]})
        return out


def _map_flux(inputs: ModelInputs) -> np.ndarray:
    """log strong-field flux of the latest map carried to the target (:mod:`pinn.emergence.map_channel`)."""
    if inputs.latest_br is None:
        raise ValueError("the map channel needs the latest map (ModelInputs.latest_br)")
    return map_channel.log_flux_feature(inputs.latest_br(), inputs.lat, inputs.lon, inputs.lead)


# Features that are not read off a ridge (pinn.emergence.hybrid.ridge_features reads the others), by name.
MAP_FEATURES: dict[str, Callable[[ModelInputs], np.ndarray]] = {"map_flux": _map_flux}


def _persistence(inputs: ModelInputs) -> xr.DataArray:
    if inputs.latest_br is None:
        raise ValueError("the persistence baseline needs the latest map (ModelInputs.latest_br)")
    return dn.persistence_density(inputs.latest_br())


def _band(inputs: ModelInputs) -> xr.DataArray:
    """The latitude band of the ARs of the last 5 known rotations N-4..N (docs/science.md section 5)."""
    basis = do.issue_basis(inputs.target, inputs.lead)
    recent = inputs.history[(inputs.history["cr"] >= basis - 5) & (inputs.history["cr"] < basis)]
    return dn.band_density(recent, inputs.lat, inputs.lon)


def _reference(method: str) -> Callable[[ModelInputs], xr.DataArray]:
    def make(inputs: ModelInputs) -> xr.DataArray:
        if inputs.reference is None:
            raise ValueError(f"the data-only method {method!r} needs the causal data-only record")
        return inputs.reference(method)
    return make


@dataclass
class Registry:
    """Emergence models by name, in the order the hindcast scores them."""

    models: dict[str, EmergenceModel] = field(default_factory=dict)

    def register(self, model: EmergenceModel) -> EmergenceModel:
        if model.name in self.models:
            raise ValueError(f"emergence model {model.name!r} is registered already")
        self.models[model.name] = model
        return model

    def unregister(self, name: str) -> None:
        self.models.pop(name)

    def get(self, name: str) -> EmergenceModel:
        if name not in self.models:
            raise KeyError(name)
        return self.models[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self.models)


MODELS = Registry()
register = MODELS.register
register_model = register  # the public name (pinn.register_model)

# The reference forecasts every model is compared with (paired bootstrap in the hindcast summary).
REFERENCES = ("band", "data_only", "data_only_stack")

register(RidgeModel("ridge", "Gaussian bands about the predicted (integrated) toroids"))
register(RidgeModel("ridge_static", "the ridge model on the current toroids with the ridge model's parameters, no "
                    "integration (what the physics adds)", source="static", params_from="ridge"))
register(FixedModel("uniform", "uniform on the sphere: log2(1/(4 pi)) = -3.651 bits per AR",
                    lambda i: dn.uniform_density(i.lat, i.lon)))
register(FixedModel("persistence", "the latest map's smoothed |Br|", _persistence))
register(FixedModel("band", "latitude band of the last 5 rotations' ARs, per hemisphere", _band))
DATA_ONLY_FAMILIES = {  # what each data-only family is (pinn.emergence.data_only); each with its causal choice
    "band_floor": "data-only family: latitude bands of recent ARs plus a uniform floor",
    "band_hemi": "data-only family: band_floor with a per-hemisphere share",
    "nests": "data-only family: activity nests, a kernel density of recent ARs carried at the surface rate",
    "nests_hemi": "data-only family: nests with a per-hemisphere share",
    "climatology": "data-only family: the long-term ARISE distribution of AR positions",
    "nests_clim": "data-only family: nests over the climatology",
}
for _method in do.FAMILIES:
    register(FixedModel(_method, DATA_ONLY_FAMILIES.get(_method, f"data-only family {_method}") +
                        " (candidate chosen causally)", _reference(_method)))
register(FixedModel("data_only", "the causal data-only forecast: the method that scored best before the target "
                    "(pinn.emergence.data_only)", _reference("data_only")))
register(FixedModel(do.STACK, "the data-only stack: the linear pool of every data-only method's causal forecast, "
                    "weights fitted on their scores before the target (pinn.emergence.stacking)", _reference(do.STACK)))
register(HybridModel("hybrid", "data-only prior tilted by the predicted ridge and its change",
                     ("d2", "log_strength", "d2_change", "warp")))
register(HybridModel("hybrid_static", "data-only prior tilted by the current toroids only", ("d2", "warp"),
                     source="static"))
register(HybridModel("hybrid_pinn", "data-only prior tilted by the predicted ridge only",
                     ("d2", "log_strength", "warp")))
register(HybridModel("hybrid_map", "data-only prior tilted by the latest map's strong flux carried at the surface rate "
                     "(the map channel, no physics)", ("map_flux",), source="static"))
register(HybridModel("hybrid_map_ridge", "the hybrid's predicted-ridge features and the map channel",
                     ("d2", "log_strength", "d2_change", "warp", "map_flux")))
# The dynamics ablation (issue 21): the same observed s(lon) of the toroids, integrated or carried rigidly.
register(HybridModel("hybrid_physics_strength", "data-only prior tilted by d2 to the predicted ridge and its strength "
                     "along longitude (the integrated s(lon); the row hybrid_kinematic is compared with)",
                     ("d2", "log_strength")))
register(HybridModel("hybrid_kinematic", "data-only prior tilted by d2 to the current toroids and their observed "
                     "s(lon) carried at the surface magnetic-feature rate to the lead time (no dynamics: what the "
                     "integration adds over it)", ("d2", "log_kinematic_strength"), source="static"))


CHOSEN = "chosen"  # emergence.model: the model the hindcast chose causally (the fit artifact's chosen_model)


def forecastable(names: Sequence[str]) -> list[str]:
    """The models of ``names`` a forecast can make from a fit artifact: all but the data-only families (whose causal
    choices only the data-only record holds)."""
    return [n for n in names if n not in do.FAMILIES]


def causal_model_choice(per_ar: pd.DataFrame, names: Sequence[str], lead: int, min_rotations: int, default: str
                        ) -> tuple[np.ndarray, pd.Series, str]:
    """Per scored target, the model of ``names`` whose causal forecasts scored the most bits over the targets <= it -
    ``lead`` (``default`` until ``min_rotations`` are scored: the rule of :func:`pinn.emergence.data_only.prequential`
    applied to the models themselves): the bits of following that choice at every AR of ``per_ar``, the choice per
    target, and the choice for the target after the last one (all scored targets known)."""
    columns = [f"bits_{n}" for n in names]
    following, chosen = do.prequential(per_ar, columns, f"bits_{default}", min_rotations, lead)
    totals = per_ar[columns].sum()
    after = totals.idxmax() if per_ar["cr"].nunique() >= min_rotations else f"bits_{default}"
    return following, chosen.str.removeprefix("bits_"), after.removeprefix("bits_")

