"""Hybrid emergence model: a data-only prior tilted by physics features of the predicted toroids.

log lambda(lat, lon) = log prior(lat, lon) + sum_i beta_i z_i(lat, lon), normalised over the sphere to a
density per steradian. The prior is the data-only baseline's density (:mod:`pinn.emergence.data_only`); the
features are read from a :class:`pinn.chain.case.Case`'s ridge datasets (each longitude at its lead time),
per hemisphere, and standardised (:func:`standardise`): centred under the prior of each case, divided by
their prior-weighted spread pooled over the training cases, so beta is in log-intensity per feature sd,
and clipped to +-``Z_CAP`` sd (:func:`standard_scores`), so that an out-of-range feature of one forecast
(a ridge that vanishes) cannot send the intensity to 0 at an AR; a non-finite feature counts as 0 sd.

beta is the maximum a posteriori estimate under independent Gaussian priors N(0, ``prior_sd``^2) on
every beta (an L2 penalty fixed a priori, not tuned), found with scipy; its interval is the Laplace
approximation (inverse Hessian of the penalised negative log-likelihood). A feature with no spread in
the training cases (e.g. the strength of the static toroids, uniform by construction) gets beta = 0.

Features (:func:`ridge_features`), each on the grid and from the hemisphere of the cell:

* ``d2``: squared distance in latitude to the ridge in units of the ridge's AR spread
  (sqrt(2) ridge_sigma, at least ``min_sigma_deg``), capped at ``d2_cap`` (beyond about 3 sigma the ridge
  says nothing more, and an uncapped quadratic would send the density at distant ARs to zero);
* ``log_strength``: log(ridge_strength / mean_strength) at the cell's longitude: where along the ridge the
  predicted toroidal field is strongest;
* ``d2_change``: d2 to the predicted ridge minus d2 to the static (current) toroids: where the integration
  moved the ridge towards (negative) or away from the cell;
* ``warp``: d2 to the ridge's zonal mean minus d2 to the ridge: positive where the non-axisymmetric part
  of the predicted ridge brings it closer to the cell than an axisymmetric band would;
* ``log_kinematic_strength``: log of the static ridge's ``kinematic_strength`` at the cell's longitude: the
  observed s(lon) of the current toroids carried at the surface magnetic-feature rate to the lead time, no
  dynamics (:mod:`pinn.emergence.kinematic`; read from the static ridge whatever ridge the others use).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import xarray as xr

from pinn.data import grid
from pinn.emergence import density as dn
from pinn.emergence.kinematic import kinematic_strength
from pinn.emergence.ridges import HEMISPHERES, lead_days
from pinn.scoring import scores as ev

FEATURES = ("d2", "log_strength", "d2_change", "warp")  # the hybrid's
KNOWN_FEATURES = FEATURES + ("log_kinematic_strength",)
PRIOR_SD = 1.0  # Gaussian prior sd of every beta, in log-intensity per feature sd (fixed a priori)
D2_CAP = 9.0
MIN_SIGMA_DEG = 2.0
Z_CAP = 4.0  # standardised features are clipped to +-Z_CAP sd (fixed a priori; see standard_scores)


def _per_hemisphere(ridge: xr.Dataset, name: str, lat: np.ndarray) -> np.ndarray:
    """A (hemisphere, lon) ridge field broadcast to (lat, lon) by the hemisphere of each row."""
    north = ridge[name].sel(hemisphere="north").values[None, :]
    south = ridge[name].sel(hemisphere="south").values[None, :]
    return np.where(lat[:, None] > 0, north, south)


def ridge_d2(ridge: xr.Dataset, lat_deg: np.ndarray, centre: np.ndarray | None = None,
             min_sigma_deg: float = MIN_SIGMA_DEG, cap: float = D2_CAP) -> np.ndarray:
    """Capped ((lat - centre) / (sqrt 2 sigma))^2 on (lat, lon); ``centre`` (lat, lon) defaults to the ridge."""
    lat = np.asarray(lat_deg, float)
    c = _per_hemisphere(ridge, "ridge_lat", lat) if centre is None else centre
    sigma = np.maximum(math.sqrt(2.0) * _per_hemisphere(ridge, "ridge_sigma", lat), min_sigma_deg)
    return np.minimum(((lat[:, None] - c) / sigma) ** 2, cap)


def ridge_features(ridge: xr.Dataset, static: xr.Dataset, lat_deg: np.ndarray,
                   names: Sequence[str] = FEATURES) -> np.ndarray:
    """Raw features (len(names), lat, lon) of a predicted ridge and the static toroids (module docstring)."""
    lat = np.asarray(lat_deg, float)
    out = []
    for name in names:
        if name == "d2":
            f = ridge_d2(ridge, lat)
        elif name == "log_strength":
            rel = ridge["ridge_strength"] / np.maximum(ridge["mean_strength"], 1e-30)
            f = np.log(np.maximum(_per_hemisphere(rel.to_dataset(name="r"), "r", lat), 1e-3))
        elif name == "d2_change":
            f = ridge_d2(ridge, lat) - ridge_d2(static, lat)
        elif name == "warp":
            zonal = ridge["ridge_lat"].mean("lon").broadcast_like(ridge["ridge_lat"])
            f = ridge_d2(ridge, lat, _per_hemisphere(zonal.to_dataset(name="z"), "z", lat)) - ridge_d2(ridge, lat)
        elif name == "log_kinematic_strength":
            if "kinematic_strength" not in static:
                raise ValueError("the static ridge has no 'kinematic_strength' (a case saved before it: rebuild it)")
            f = np.log(np.maximum(_per_hemisphere(static, "kinematic_strength", lat), 1e-3))
        else:
            raise ValueError(f"unknown feature {name!r}; known: {KNOWN_FEATURES}")
        out.append(np.broadcast_to(f, (lat.size, ridge["lon"].size)))
    return np.stack(out)


def static_ridge(toroids, lon_deg: np.ndarray) -> xr.Dataset:
    """The current toroids as a ridge dataset (centre line, sigma = width/2, uniform ``ridge_strength``), with
    ``kinematic_strength``: each toroid's s(lon) carried at the surface rate to each longitude's lead time
    (:mod:`pinn.emergence.kinematic`; 1 without s(lon))."""
    lat, sig, kin = [], [], []
    lead = lead_days(lon_deg)
    for hemi in HEMISPHERES:
        t = getattr(toroids, hemi)
        kin.append(kinematic_strength(t, lon_deg, lead))
        if t is None:
            lat.append(np.full(lon_deg.shape, 20.0 if hemi == "north" else -20.0))
            sig.append(np.full(lon_deg.shape, 10.0))
        else:
            lat.append(t.centre_lat_deg(lon_deg))
            sig.append(np.full(lon_deg.shape, t.width_deg / 2.0))  # a-band second moment for exp(-(x/w)^2)
    ones = np.ones((2, lon_deg.size))
    return xr.Dataset(
        {"ridge_lat": (("hemisphere", "lon"), np.stack(lat)), "ridge_sigma": (("hemisphere", "lon"), np.stack(sig)),
         "ridge_strength": (("hemisphere", "lon"), ones), "mean_strength": (("hemisphere", "lon"), ones),
         "kinematic_strength": (("hemisphere", "lon"), np.stack(kin))},
        coords={"hemisphere": list(HEMISPHERES), "lon": lon_deg},
    ).assign_coords(lead_days=("lon", lead))


@dataclass(frozen=True)
class FitCase:
    """One rotation for the fit: prior density (lat, lon), raw features (p, lat, lon), AR cell indices."""

    cr: int  # the scored rotation N+1
    prior: np.ndarray
    features: np.ndarray
    ar_cells: np.ndarray  # flat indices of the ARs' cells
    areas: np.ndarray

    @cached_property
    def weights(self) -> np.ndarray:
        """The prior's probability of each cell (flattened): computed once, used by every fit of the case."""
        return prior_weights(self.prior, self.areas)

    @cached_property
    def distinct(self) -> DistinctCells:
        """The case on its distinct feature vectors (:func:`distinct_cells`): computed once for all its fits."""
        return distinct_cells(centred_features(self.features, self.weights), self.weights, self.ar_cells)


@dataclass(frozen=True)
class DistinctCells:
    """A case's cells grouped by their (centred) feature vector: the fit's likelihood depends on a cell only through
    that vector and its prior weight, so cells that share a vector are one term with the summed weight (a band
    without warps gives features that depend on latitude only: 90 distinct vectors for 64 800 cells)."""

    z: np.ndarray  # (p, distinct) centred features
    weights: np.ndarray  # (distinct,) prior probability of each vector
    ar: np.ndarray  # per AR, the index of its cell's vector


def distinct_cells(centred: np.ndarray, weights: np.ndarray, ar_cells: np.ndarray) -> DistinctCells:
    """Group the cells of centred features (p, cells) by their vector (bytewise equal), summing the weights."""
    rows = np.ascontiguousarray(centred.T)
    keys = rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    return DistinctCells(centred[:, first], np.bincount(inverse, weights=weights, minlength=first.size),
                         inverse[np.asarray(ar_cells, int)])


def make_fit_case(cr: int, prior: xr.DataArray, features: np.ndarray, ar_lat, ar_lon) -> FitCase:
    """A :class:`FitCase` from a prior density, its features and the ARs of rotation ``cr``."""
    lat, lon = prior["lat"].values, prior["lon"].values
    index = dn.density_dataarray(np.arange(lat.size * lon.size, dtype=float).reshape(lat.size, lon.size), lat, lon)
    cells = ev.sample(index, ar_lat, ar_lon).astype(int) if len(ar_lat) else np.zeros(0, int)
    return FitCase(int(cr), np.asarray(prior.values, float), np.asarray(features, float), cells,
                   grid.cell_areas(lat, lon))


def prior_weights(prior: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """Probability of each cell (flattened) under a density per sr with cell areas ``areas`` (sr)."""
    w = (np.asarray(prior, float) * areas).ravel()
    return w / w.sum()


def centred_features(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Features (p, lat, lon) as (p, cells), centred at their ``weights``-mean (the prior's).

    A non-finite value (no ridge found in a hemisphere, say) carries no information: it is set to the
    mean, so its centred value is 0 and the intensity there is the prior's.
    """
    f = np.array(features, float).reshape(features.shape[0], -1)
    ok = np.isfinite(f)
    w = np.where(ok, weights[None, :], 0.0)
    mean = np.sum(np.where(ok, f, 0.0) * w, axis=1) / np.maximum(w.sum(axis=1), 1e-300)
    return np.where(ok, f - mean[:, None], 0.0)


def standard_scores(centred: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Centred features / scale, clipped to +-Z_CAP: a feature far outside what the fit saw (a ridge that
    all but vanishes gives log_strength hundreds of sd away) cannot drive the intensity to 0 or infinity."""
    return np.clip(centred / scale[:, None], -Z_CAP, Z_CAP)




def standardise(cases: Sequence[FitCase]) -> np.ndarray:
    """Pooled prior-weighted sd of each feature over ``cases`` (0 where a feature has no spread)."""
    var = np.zeros(cases[0].features.shape[0])
    for c in cases:
        var += (c.distinct.z ** 2) @ c.distinct.weights
    sd = np.sqrt(var / len(cases))
    return np.where(sd > 1e-9, sd, 0.0)


@dataclass(frozen=True)
class HybridFit:
    """MAP beta (per feature sd), Laplace sd, the scales used, and the rotations it was fitted on."""

    names: tuple[str, ...]
    beta: np.ndarray
    beta_sd: np.ndarray
    scale: np.ndarray
    fitted_on: tuple[int, ...]
    prior_sd: float = PRIOR_SD

    def interval(self, z: float = 1.96) -> np.ndarray:
        """(p, 2) approximate 95 % intervals of beta."""
        return np.stack([self.beta - z * self.beta_sd, self.beta + z * self.beta_sd], axis=1)

    def as_dict(self) -> dict:
        iv = self.interval()
        return {n: {"beta": float(b), "low": float(lo), "high": float(hi), "scale": float(s)}
                for n, b, (lo, hi), s in zip(self.names, self.beta, iv, self.scale)} | {
            "prior_sd": self.prior_sd, "n_rotations": len(self.fitted_on)}


def zero_fit(names: Sequence[str]) -> HybridFit:
    """beta = 0 (the prior itself), used until enough rotations have been scored."""
    p = len(names)
    return HybridFit(tuple(names), np.zeros(p), np.full(p, PRIOR_SD), np.zeros(p), ())


def _objective(beta, zs, cases, prior_sd):
    """Penalised negative log-likelihood (nats), its gradient and Hessian."""
    p = beta.size
    nll, grad, hess = 0.0, np.zeros(p), np.zeros((p, p))
    for z, c in zip(zs, cases):
        w, ar_cells = c.distinct.weights, c.distinct.ar
        eta = beta @ z
        m = eta.max()
        q = w * np.exp(eta - m)
        zq = q.sum()
        q /= zq
        n = ar_cells.size
        mean = z @ q
        cov = (z * q) @ z.T - np.outer(mean, mean)
        nll -= eta[ar_cells].sum() - n * (m + math.log(zq))
        grad -= z[:, ar_cells].sum(axis=1) - n * mean
        hess += n * cov
    nll += 0.5 * np.sum(beta**2) / prior_sd**2
    grad += beta / prior_sd**2
    hess += np.eye(p) / prior_sd**2
    return nll, grad, hess


def fit_hybrid(cases: Sequence[FitCase], names: Sequence[str] = FEATURES, prior_sd: float = PRIOR_SD) -> HybridFit:
    """MAP beta over ``cases`` (rotations scored BEFORE the one to forecast; the caller guarantees it), on each
    case's distinct feature vectors (:attr:`FitCase.distinct`, computed once per case for all the fits it is in)."""
    from scipy.optimize import minimize

    if not cases:
        return zero_fit(names)
    scale = standardise(cases)
    active = scale > 0
    zs = [standard_scores(c.distinct.z[active], scale[active]) for c in cases]
    beta = np.zeros(len(names))
    sd = np.full(len(names), prior_sd)
    if active.any():
        last: dict = {}

        def objective(b):  # trust-exact asks for value and gradient, then the Hessian, at the same beta: one pass
            if last.get("beta") is None or not np.array_equal(last["beta"], b):
                last.update(beta=np.array(b, copy=True), value=_objective(b, zs, cases, prior_sd))
            return last["value"]

        res = minimize(lambda b: objective(b)[:2], np.zeros(int(active.sum())), jac=True,
                       hess=lambda b: objective(b)[2], method="trust-exact")
        beta[active] = res.x
        sd[active] = np.sqrt(np.diag(np.linalg.inv(objective(res.x)[2])))  # the last pass, cached
    return HybridFit(tuple(names), beta, sd, scale, tuple(c.cr for c in cases), prior_sd)


def hybrid_density(prior: xr.DataArray, features: np.ndarray, fit: HybridFit) -> xr.DataArray:
    """prior * exp(sum beta_i z_i), normalised over the sphere (per sr); z as in the fit (centred under the
    prior, per feature sd, clipped: :func:`standard_scores`)."""
    lat, lon = prior["lat"].values, prior["lon"].values
    active = fit.scale > 0
    eta = np.zeros(prior.shape)
    if active.any():
        w = prior_weights(prior.values, grid.cell_areas(lat, lon))
        z = standard_scores(centred_features(np.asarray(features)[active], w), fit.scale[active])
        eta = (fit.beta[active] @ z).reshape(prior.shape)
    values = np.asarray(prior.values, float) * np.exp(eta - eta.max())
    return dn.density_dataarray(dn.normalise(values, lat, lon), lat, lon)


def causal_fits(cases: Sequence[FitCase], names: Sequence[str] = FEATURES, min_rotations: int = 5,
                prior_sd: float = PRIOR_SD) -> list[HybridFit]:
    """For each case, the fit on the cases scored strictly before it (zero fit until ``min_rotations``)."""
    out = []
    for case in cases:
        earlier = [c for c in cases if c.cr < case.cr]
        out.append(fit_hybrid(earlier, names, prior_sd) if len(earlier) >= min_rotations else zero_fit(names))
    return out
