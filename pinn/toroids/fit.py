"""Toroids: the per-hemisphere warped bands of active regions on a synoptic magnetogram (docs/science.md section 3).

Model, per hemisphere: the band's central latitude ``lam_c(phi) = lam_0 + sum_m A_m cos(m phi + Phi_m)``
(m = 1..M; canonical form A_m >= 0, Phi_m in (-180, 180] degrees) and its latitudinal profile
``exp(-((lam - lam_c(phi)) / w)^2)`` of width ``w``. All angles in degrees.

Fitting objective: a model of the |Br|-weighted pixel distribution
-------------------------------------------------------------------
Keep the pixels with ``|Br| > threshold_G`` and ``|lat| <= lat_limit_deg`` in the hemisphere (NaN pixels
drop out). Each kept pixel ``i`` is a sample of the band's latitude profile at its own longitude, weighted
by its unsigned flux ``W_i = |Br_i| * area_i`` (area from the row's latitude extent, so native sine-latitude
and uniform-latitude grids agree), times the rotation weight when rotations are combined. Under the
profile, latitude at longitude ``phi`` is normal with standard deviation ``w / sqrt(2)``, so the weighted
maximum-likelihood fit is:

* centre line: weighted least squares ``min sum_i W_i (lam_i - lam_c(phi_i))^2`` over ``(lam_0, A_m,
  Phi_m)`` by ``scipy.optimize.least_squares(method='trf')`` with bounds (``lam_0`` within the
  hemisphere, ``0 <= A_m <= amplitude_bound_deg``, phases in [-2 pi, 2 pi], then wrapped), started from the
  exact linear least-squares solution in the (cos, sin) harmonic basis (whose M = 0 solution is the
  flux-weighted mean latitude). Pixels of one longitude column share ``phi``, so the sum is evaluated
  exactly from per-column sufficient statistics (flux, flux-weighted mean and variance of latitude):
  at most one residual per column, which makes full-resolution maps cheap;
* width: the bounded least-squares fit of the profile's second moment to the squared residuals,
  ``min_w sum_i W_i (r_i^2 - w^2 / 2)^2``, i.e. ``w = sqrt(2 sum W r^2 / sum W)`` (also the ML width),
  clipped to ``width_bounds_deg``. It is the width of the strong-flux distribution, so it includes the
  active regions' own latitudinal extent (about 1 deg rms; +5-15 % on a 4-deg band, less on wider ones).

With ``M = 0``, ``lam_0`` is exactly the flux-weighted mean latitude of the strong pixels
(:func:`flux_weighted_mean_lat`, the baseline).

Uncertainties: longitude strips as independent units
----------------------------------------------------
Pixels are not independent samples of the band: all pixels of an active region share its position, and a
few regions carry most of the flux. Longitude strips of ``strip_deg`` (default 20 deg, wider than an
active region; shared by all rotations of a window, so recurrent regions count once) are taken as the
independent units. Covariance of the centre-line parameters: the delete-one-strip jackknife, linearised at
the TRF solution: ``cov = (G-1)/G sum_c (d_c - mean d)(d_c - mean d)^T`` with ``d_c = (H - H_c)^-1 u_c``,
``H = J^T J`` from the Jacobian ``J`` of the weighted residuals, ``H_c`` and ``u_c = J_c^T rho_c`` the
contributions of strip ``c`` (a cluster-robust sandwich with leverage correction). Width: delete-one-strip
jackknife of ``sum W r^2 / sum W``, propagated as ``sd(w) = (w / 2) sd(s2) / s2``. On synthetic maps with
randomly scattered regions the standardised errors of lam_0, A_m and Phi_m have a spread of 1.0-1.2 (the
width error is about 1.5x optimistic with 60 regions per hemisphere). A mode fitted at zero amplitude has an undefined
phase, reported with an error of 180 deg.

Choice of M
-----------
``config.modes`` fixes M. Otherwise M in 0..max_modes minimises the Bayesian information criterion
computed with the effective number of independent samples, ``BIC(M) = n_eff ln(s2_M) + (2M + 2) ln
n_eff``, with ``s2_M = sum W r^2 / sum W`` and ``n_eff = s2_0 / var(lam_0 | M = 0)`` (the jackknife
variance of the weighted mean: how many independent samples the flux is worth; Kish-like). With the
pixel count (or the count of connected fragments) in its place the BIC takes M = 3 for most single real
rotations, which puts lam_0 within 3 deg of the ARISE AR latitude in only 74 % of the real pairs
(experiments/toroids/summary.json, "ablation", modes=3). Eligible are M = 0 and any M
with ``2M + 2 < min(n_eff, occupied strips)`` whose modes inflate the variance of ``lam_0`` by at most
``max_vif`` (``[(B^T W B)^-1]_00 * sum W`` for the harmonic basis ``B``; 1 when the flux covers all
longitudes evenly). The last condition keeps ``lam_0`` a measured quantity: when the flux of a rotation
sits in a few longitudes, mean and modes trade off and ``lam_0`` becomes the centre line extrapolated into
empty longitudes, which on real maps moved it 3-5 deg from where the active regions are (without it:
89 % instead of 94 % of pairs within 3 deg, "ablation").

Toroidal-field sign (Hale's law, docs/science.md section 2)
-----------------------------------------------
``sign(a) = -sign(leading polarity)``, leading = at larger Carrington longitude. Per rotation, the
east-west signed-flux moment ``D = sum_i Br_i area_i cos(lat_i) (lon_i - c_i)``, with ``c_i`` the
unsigned-flux centroid longitude of the strong pixels within ``hale_window_deg`` of pixel ``i``, is
``flux x separation`` for a bipole whose positive polarity leads and about zero for unipolar patches;
large bipoles dominate the vote. ``sign = -sgn(sum of D over the window's rotations)``. A hemisphere with
D = 0 (no strong pixels) takes the opposite of the other's sign; if both are 0, ``hale_sign_north_fallback``.

Strength along the band
-----------------------
After the fit, each hemisphere's strength profile s(lon) (mean 1, with a jackknife sd) is measured from the
same maps, weights and frame along the fitted centre line (:mod:`pinn.toroids.strength`): the band-profile
weighted unsigned strong flux per longitude, smoothed by ``strength_smoothing_deg``. It is stored on the
toroid (``strength_profile``, ``strength_profile_err``; samples every 5 deg from longitude 0) and is used by
the physics only where ``physics.strength_profile: observed`` asks for it.

Combining rotations
-------------------
:func:`fit_toroids_window` stacks the strong pixels of several rotations (each in its own Carrington frame;
optionally shifted by ``drift_deg_per_rotation`` per rotation of offset), multiplies each rotation's pixel
weights by its window weight (a weighted stack of the maps: a more active rotation counts more), and fits
the stack like one map. Centred: ``combine_weights`` over offsets ``-(n-1)/2 .. (n-1)/2`` around the
estimated rotation; causal: ``causal_weights`` over offsets ``-(n-1) .. 0``, so no rotation after the
estimated one is ever read. Missing rotations are skipped (the other weights are used as they are).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy import ndimage, optimize

from pinn.config.schema import ToroidsConfig
from pinn.data.grid import row_edges_deg
from pinn.errors import ConfigError, InputError
from pinn.physics.bands import Band, wrap_phase_deg
from pinn.toroids import strength as st

__all__ = [
    "HemisphereToroid",
    "Toroids",
    "fit_toroids",
    "fit_toroids_window",
    "flux_weighted_mean_lat",
    "format_table",
    "plot_toroids",
    "window_weights",
    "wrap_phase_deg",
]


@dataclass(frozen=True)
class HemisphereToroid(Band):
    """One hemisphere's fitted toroid: a :class:`pinn.physics.bands.Band` (centre line, width, sign of a)
    with 1-sigma errors (degrees).

    ``modes`` is M (= number of amplitudes). ``n_pixels`` (strong pixels used) and ``n_eff`` (effective
    number of independent samples behind the fit) are information only: not part of equality and not in
    the JSON form. ``strength_profile_err``: 1-sigma of each sample of ``strength_profile`` (s(lon), mean 1).
    """

    lat0_err_deg: float = 0.0
    width_err_deg: float = 0.0
    amplitudes_err_deg: tuple[float, ...] = ()
    phases_err_deg: tuple[float, ...] = ()
    n_pixels: int = field(default=0, compare=False)
    modes: int = -1
    n_eff: float = field(default=0.0, compare=False)
    strength_profile_err: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(self.amplitudes_deg)
        amp_err = tuple(float(a) for a in self.amplitudes_err_deg) or (0.0,) * n
        ph_err = tuple(float(p) for p in self.phases_err_deg) or (0.0,) * n
        if len(amp_err) != n or len(ph_err) != n:
            raise ValueError("error tuples must match the number of modes")
        if self.modes not in (-1, n):
            raise ValueError(f"modes={self.modes} but {n} amplitudes given")
        set_ = object.__setattr__
        set_(self, "amplitudes_err_deg", amp_err)
        set_(self, "phases_err_deg", ph_err)
        set_(self, "lat0_err_deg", float(self.lat0_err_deg))
        set_(self, "width_err_deg", float(self.width_err_deg))
        set_(self, "n_pixels", int(self.n_pixels))
        set_(self, "n_eff", float(self.n_eff))
        set_(self, "modes", n)
        s_err = tuple(float(x) for x in self.strength_profile_err)
        if s_err and len(s_err) != len(self.strength_profile):
            raise ValueError("strength_profile_err must match strength_profile")
        set_(self, "strength_profile_err", s_err)

    def to_json_dict(self) -> dict:
        return {
            "lat0_deg": self.lat0_deg,
            "width_deg": self.width_deg,
            "amplitudes_deg": list(self.amplitudes_deg),
            "phases_deg": list(self.phases_deg),
            "sign": self.sign,
            "lat0_deg_err": self.lat0_err_deg,
            "width_deg_err": self.width_err_deg,
            "amplitudes_deg_err": list(self.amplitudes_err_deg),
            "phases_deg_err": list(self.phases_err_deg),
            "strength_profile": list(self.strength_profile),
            "strength_profile_err": list(self.strength_profile_err),
        }

    @classmethod
    def from_json_dict(cls, d: dict) -> HemisphereToroid:
        return cls(
            lat0_deg=d["lat0_deg"],
            width_deg=d["width_deg"],
            amplitudes_deg=tuple(d["amplitudes_deg"]),
            phases_deg=tuple(d["phases_deg"]),
            sign=int(d["sign"]),
            lat0_err_deg=d.get("lat0_deg_err", 0.0),
            width_err_deg=d.get("width_deg_err", 0.0),
            amplitudes_err_deg=tuple(d.get("amplitudes_deg_err", ())),
            phases_err_deg=tuple(d.get("phases_deg_err", ())),
            strength_profile=tuple(d.get("strength_profile", ())),
            strength_profile_err=tuple(d.get("strength_profile_err", ())),
        )


@dataclass(frozen=True)
class Toroids:
    """Both hemispheres' toroids for rotation ``cr`` (a hemisphere is None when it had too few pixels)."""

    cr: int
    threshold_G: float
    north: HemisphereToroid | None
    south: HemisphereToroid | None

    def to_json_dict(self) -> dict:
        return {
            "cr": int(self.cr),
            "threshold_G": float(self.threshold_G),
            "north": None if self.north is None else self.north.to_json_dict(),
            "south": None if self.south is None else self.south.to_json_dict(),
        }

    @classmethod
    def from_json_dict(cls, d: dict) -> Toroids:
        def hemi(x):
            return None if x is None else HemisphereToroid.from_json_dict(x)

        return cls(
            cr=int(d["cr"]),
            threshold_G=float(d["threshold_G"]),
            north=hemi(d["north"]),
            south=hemi(d["south"]),
        )

    def hemispheres(self) -> dict[str, HemisphereToroid | None]:
        return {"north": self.north, "south": self.south}


# ---------------------------------------------------------------------------------------------
# Strong-pixel samples


@dataclass
class _Samples:
    """Strong pixels of one hemisphere, aggregated per longitude column (per rotation when stacked).

    Exact sufficient statistics of the weighted least-squares problem: for column j, total weight
    ``W_j``, weighted mean latitude ``ybar_j`` and weighted within-column variance ``v_j``.
    """

    phi: np.ndarray  # radians, Carrington longitude of the column (shifted into the target frame)
    W: np.ndarray  # sum of pixel weights |Br| * area * rotation weight
    ybar: np.ndarray  # weighted mean latitude, degrees
    v: np.ndarray  # weighted latitude variance within the column, deg^2
    strip: np.ndarray  # longitude strip id (independent units of the error estimate; shared by rotations)
    n_pixels: int
    hale_moment: float  # east-west signed flux moment D summed over rotations (> 0: positive leads)

    @staticmethod
    def concat(parts: list[_Samples]) -> _Samples:
        if not parts:
            e = np.zeros(0)
            return _Samples(e, e, e, e, np.zeros(0, dtype=np.int64), 0, 0.0)
        return _Samples(
            phi=np.concatenate([p.phi for p in parts]),
            W=np.concatenate([p.W for p in parts]),
            ybar=np.concatenate([p.ybar for p in parts]),
            v=np.concatenate([p.v for p in parts]),
            strip=np.concatenate([p.strip for p in parts]),
            n_pixels=int(sum(p.n_pixels for p in parts)),
            hale_moment=float(sum(p.hale_moment for p in parts)),
        )


def _br_lat_lon(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if "Br" not in ds:
        raise InputError(None, "dataset has no 'Br' variable (expected Br(lat, lon))")
    br = ds["Br"]
    if set(br.dims) != {"lat", "lon"}:
        hint = " (a rotation sequence: use fit_toroids_window)" if "cr" in br.dims else ""
        raise InputError(None, f"Br must have dims (lat, lon), got {br.dims}{hint}")
    br = br.transpose("lat", "lon")
    lat = np.asarray(ds["lat"].values, dtype=float)
    lon = np.asarray(ds["lon"].values, dtype=float)
    return np.asarray(br.values, dtype=float), lat, lon


def _row_areas(lat: np.ndarray) -> np.ndarray:
    """Relative pixel area of each latitude row (d sin(lat) between the rows' edges), mean 1, in the given order."""
    if len(lat) < 2:
        return np.ones(len(lat))
    order = np.argsort(lat)
    area = np.empty(len(lat))
    area[order] = np.diff(np.sin(np.radians(row_edges_deg(np.asarray(lat, float)[order]))))
    return area / area.mean()


_HALE_CELL_DEG = 1.0  # grid cell of the local flux centroids in the Hale moment


def _leading_moment(
    lat: np.ndarray, lon: np.ndarray, signed: np.ndarray, unsigned: np.ndarray, window_deg: float
) -> float:
    """East-west signed flux moment ``D = sum_i Br_i a_i cos(lat_i) (lon_i - c_i)`` of one rotation's pixels.

    ``c_i`` is the unsigned-flux centroid longitude of the strong pixels within ``+-window_deg`` of pixel i
    (latitude and longitude; periodic in longitude), so a bipole contributes ``flux x separation`` with the
    sign of its eastern polarity, a unipolar patch about nothing, and no region labelling is needed.
    D > 0: the positive polarity leads (lies at larger Carrington longitude).
    """
    if lat.size == 0:
        return 0.0
    cell = _HALE_CELL_DEG
    nlat_c, nlon_c = round(180.0 / cell), round(360.0 / cell)
    iy = np.clip(((lat + 90.0) / cell).astype(np.int64), 0, nlat_c - 1)
    ix = np.clip((lon / cell).astype(np.int64), 0, nlon_c - 1)
    off = lon - (ix + 0.5) * cell  # offset from the cell centre, degrees
    flat = iy * nlon_c + ix
    W = np.bincount(flat, weights=unsigned, minlength=nlat_c * nlon_c).reshape(nlat_c, nlon_c)
    Wo = np.bincount(flat, weights=unsigned * off, minlength=nlat_c * nlon_c).reshape(nlat_c, nlon_c)
    k = max(1, round(window_deg / cell))
    box = np.ones(2 * k + 1)
    ramp = np.arange(-k, k + 1) * cell  # longitude of the neighbour cell relative to this one

    def lat_box(a):
        return ndimage.correlate1d(a, box, axis=0, mode="constant")

    S0 = lat_box(ndimage.correlate1d(W, box, axis=1, mode="wrap"))
    S1 = lat_box(
        ndimage.correlate1d(W, ramp, axis=1, mode="wrap") + ndimage.correlate1d(Wo, box, axis=1, mode="wrap")
    )
    s0 = S0[iy, ix]
    centre_off = S1[iy, ix] / np.where(s0 > 0, s0, 1.0)
    return float(np.sum(signed * np.cos(np.radians(lat)) * (off - centre_off)))


def _samples(
    br: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    north: bool,
    cfg: ToroidsConfig,
    rot_weight: float = 1.0,
    lon_shift_deg: float = 0.0,
) -> _Samples:
    """Strong pixels of one hemisphere of one map, as per-column statistics."""
    area = _row_areas(lat)
    hemi_rows = (lat > 0) if north else (lat < 0)
    rows = np.nonzero(hemi_rows & (np.abs(lat) <= cfg.lat_limit_deg))[0]
    sub = br[rows]
    with np.errstate(invalid="ignore"):
        mask = np.abs(sub) > cfg.threshold_G  # NaN compares False
    iy, ix = np.nonzero(mask)
    b = sub[iy, ix]
    la = lat[rows][iy]
    weight = np.abs(b) * area[rows][iy] * rot_weight
    col_lon = np.mod(lon + lon_shift_deg, 360.0)
    nlon = lon.size
    W = np.bincount(ix, weights=weight, minlength=nlon)
    Y = np.bincount(ix, weights=weight * la, minlength=nlon)
    YY = np.bincount(ix, weights=weight * la * la, minlength=nlon)
    keep = W > 0
    W, Y, YY, lo = W[keep], Y[keep], YY[keep], col_lon[keep]
    ybar = Y / W
    n_strips = math.ceil(360.0 / cfg.strip_deg)
    return _Samples(
        phi=np.radians(lo),
        W=W,
        ybar=ybar,
        v=np.clip(YY / W - ybar * ybar, 0.0, None),
        strip=np.minimum((lo / cfg.strip_deg).astype(np.int64), n_strips - 1),
        n_pixels=int(iy.size),
        hale_moment=_leading_moment(la, col_lon[ix], np.sign(b) * weight, weight, cfg.hale_window_deg),
    )


# ---------------------------------------------------------------------------------------------
# Fitting


def _basis(phi: np.ndarray, M: int) -> np.ndarray:
    cols = [np.ones_like(phi)]
    for m in range(1, M + 1):
        cols += [np.cos(m * phi), np.sin(m * phi)]
    return np.stack(cols, axis=1)


def _centre(params: np.ndarray, phi: np.ndarray, M: int) -> np.ndarray:
    lam = np.full(phi.shape, params[0])
    for m in range(1, M + 1):
        lam = lam + params[2 * m - 1] * np.cos(m * phi + params[2 * m])
    return lam


def _jac_centre(params: np.ndarray, phi: np.ndarray, M: int) -> np.ndarray:
    """d lam_c / d (lam_0, A_1, Phi_1, ...) with phases in radians."""
    J = np.empty((phi.size, 2 * M + 1))
    J[:, 0] = 1.0
    for m in range(1, M + 1):
        arg = m * phi + params[2 * m]
        J[:, 2 * m - 1] = np.cos(arg)
        J[:, 2 * m] = -params[2 * m - 1] * np.sin(arg)
    return J


@dataclass
class _Fit:
    M: int
    params: np.ndarray  # lam_0, A_1, Phi_1 (rad), ...
    resid: np.ndarray  # ybar_j - lam_c(phi_j), per column
    X: np.ndarray  # d lam_c / d params at the solution, per column
    v: np.ndarray  # within-column latitude variance (from the samples)
    s2: float  # weighted residual variance over pixels, sum w (r^2 + v) (w normalised)
    bic: float = math.nan


def _fit_centre(s: _Samples, w: np.ndarray, M: int, cfg: ToroidsConfig, north: bool) -> _Fit:
    """Bounded weighted least squares (TRF) of the centre line with M modes; ``w`` (per column) sums to 1."""
    sw = np.sqrt(w)
    y = s.ybar
    # Linear least squares in the (cos, sin) basis: the exact optimum when no bound is active.
    B = _basis(s.phi, M)
    coef, *_ = np.linalg.lstsq(B * sw[:, None], y * sw, rcond=None)
    lim = cfg.lat_limit_deg
    lo_b = [0.0 if north else -lim]
    hi_b = [lim if north else 0.0]
    x0 = [float(np.clip(coef[0], lo_b[0] + 1e-6, hi_b[0] - 1e-6))]
    amax = cfg.amplitude_bound_deg
    for m in range(1, M + 1):
        a, b = coef[2 * m - 1], coef[2 * m]
        # a cos + b sin = A cos(m phi + Phi) with A cos Phi = a, A sin Phi = -b
        x0 += [float(np.clip(np.hypot(a, b), 1e-3 * amax, amax * (1 - 1e-6))), float(math.atan2(-b, a))]
        lo_b += [0.0, -2 * math.pi]
        hi_b += [amax, 2 * math.pi]

    def fun(p):
        return sw * (_centre(p, s.phi, M) - y)

    def jac(p):
        return sw[:, None] * _jac_centre(p, s.phi, M)

    res = optimize.least_squares(
        fun,
        np.array(x0),
        jac=jac,
        bounds=(lo_b, hi_b),
        method="trf",
        x_scale="jac",
        xtol=1e-10,
        ftol=1e-12,
        gtol=1e-10,
        max_nfev=200,
    )
    p = res.x
    r = y - _centre(p, s.phi, M)
    return _Fit(
        M=M, params=p, resid=r, X=_jac_centre(p, s.phi, M), v=s.v, s2=float(np.sum(w * (r * r + s.v)))
    )


def _strip_index(strip: np.ndarray) -> tuple[np.ndarray, int]:
    uniq, inv = np.unique(strip, return_inverse=True)
    return inv, int(uniq.size)


def _covariance(fit: _Fit, w: np.ndarray, strip: np.ndarray) -> np.ndarray:
    """Delete-one-strip jackknife covariance of the centre-line parameters, linearised at the solution.

    Leaving strip ``c`` out moves the weighted least-squares solution by ``d_c = -(H - H_c)^-1 u_c`` with
    ``H = sum w x x^T`` (``x``: Jacobian row at the solution), ``H_c`` its strip-``c`` part and
    ``u_c = sum_{j in c} w_j r_j x_j``; ``cov = (G-1)/G sum_c (d_c - mean d)(d_c - mean d)^T`` over the
    ``G`` occupied strips.
    """
    X = fit.X
    p = X.shape[1]
    H = X.T @ (w[:, None] * X)
    inv, G = _strip_index(strip)
    if G < 2:  # one strip: no spread to measure; fall back to one effective sample
        return np.linalg.pinv(H) * fit.s2
    U = np.zeros((G, p))
    np.add.at(U, inv, (w * fit.resid)[:, None] * X)
    Hc = np.zeros((G, p * p))
    np.add.at(Hc, inv, (w[:, None, None] * X[:, :, None] * X[:, None, :]).reshape(-1, p * p))
    Hc = Hc.reshape(G, p, p)
    D = np.stack([np.linalg.pinv(H - Hc[c]) @ U[c] for c in range(G)])
    D -= D.mean(axis=0)
    return D.T @ D * ((G - 1.0) / G)


def _jackknife_var_s2(fit: _Fit, w: np.ndarray, strip: np.ndarray) -> float:
    """Delete-one-strip jackknife variance of the weighted residual variance s2."""
    inv, G = _strip_index(strip)
    if G < 2:
        return fit.s2**2
    part = np.bincount(inv, weights=w * (fit.resid**2 + fit.v), minlength=G)
    wc = np.bincount(inv, weights=w, minlength=G)
    keep = 1.0 - wc
    s2_c = np.where(keep > 1e-12, (fit.s2 - part) / np.where(keep > 1e-12, keep, 1.0), fit.s2)
    return float(np.sum((s2_c - s2_c.mean()) ** 2) * (G - 1.0) / G)


def _lat0_vif(phi: np.ndarray, w: np.ndarray, M: int) -> float:
    """Variance inflation of lam_0 by modes 1..M: ``[(B^T W B)^-1]_00 * sum w``, harmonic basis B."""
    B = _basis(phi, M)
    H = B.T @ (w[:, None] * B)
    return float(np.linalg.pinv(H)[0, 0] * w.sum())


def _n_eff(fit0: _Fit, w: np.ndarray, strip: np.ndarray, n_pixels: int) -> float:
    """Effective number of independent samples: s2 / var(lam_0) of the M = 0 fit (weighted mean)."""
    var0 = float(_covariance(fit0, w, strip)[0, 0])
    if not var0 > 0:
        return 1.0
    return float(np.clip(fit0.s2 / var0, 1.0, max(n_pixels, 1)))


def _fit_hemisphere(s: _Samples, cfg: ToroidsConfig, north: bool) -> tuple[HemisphereToroid | None, float]:
    """Fit one hemisphere; returns (toroid or None, leading-polarity moment D). The sign is set later."""
    D = s.hale_moment
    total = float(s.W.sum())
    if s.n_pixels < max(cfg.min_pixels, 1) or not np.isfinite(s.W).all() or not total > 0:
        return None, D
    w = s.W / total
    fit0 = _fit_centre(s, w, 0, cfg, north)
    n_eff = _n_eff(fit0, w, s.strip, s.n_pixels)
    n_strips = _strip_index(s.strip)[1]
    if cfg.modes is not None:
        fit = fit0 if cfg.modes == 0 else _fit_centre(s, w, cfg.modes, cfg, north)
    else:
        # Eligible: fewer parameters (2M + 2) than effective samples and than strips, and a longitude
        # coverage that keeps lam_0 determined (variance inflation <= max_vif). M = 0 always is.
        fits = [fit0] + [
            _fit_centre(s, w, M, cfg, north)
            for M in range(1, cfg.max_modes + 1)
            if 2 * M + 2 < min(n_eff, n_strips) and _lat0_vif(s.phi, w, M) <= cfg.max_vif
        ]
        for f in fits:
            f.bic = n_eff * math.log(max(f.s2, 1e-12)) + (2 * f.M + 2) * math.log(n_eff)
        fit = min(fits, key=lambda f: f.bic)
    fit.v = s.v
    M, p = fit.M, fit.params
    err = np.sqrt(np.clip(np.diag(_covariance(fit, w, s.strip)), 0.0, None))
    amps = tuple(float(p[2 * m - 1]) for m in range(1, M + 1))
    phases = tuple(wrap_phase_deg(math.degrees(p[2 * m])) for m in range(1, M + 1))
    amp_err = tuple(float(err[2 * m - 1]) for m in range(1, M + 1))
    ph_err = tuple(
        180.0
        if amps[m - 1] <= 1e-9 * cfg.amplitude_bound_deg
        else float(min(180.0, math.degrees(err[2 * m])))
        for m in range(1, M + 1)
    )
    # Width: w^2 / 2 = sum W r^2 / sum W (bounded least squares of the second moment, clipped).
    lo_w, hi_w = cfg.width_bounds_deg
    width = float(np.clip(math.sqrt(2.0 * fit.s2), lo_w, hi_w))
    width_err = 0.5 * width * math.sqrt(_jackknife_var_s2(fit, w, s.strip)) / max(fit.s2, 1e-12)
    tor = HemisphereToroid(
        lat0_deg=float(p[0]),
        width_deg=width,
        amplitudes_deg=amps,
        phases_deg=phases,
        sign=1,
        lat0_err_deg=float(err[0]),
        width_err_deg=width_err,
        amplitudes_err_deg=amp_err,
        phases_err_deg=ph_err,
        n_pixels=s.n_pixels,
        n_eff=n_eff,
    )
    return tor, D


def _assign_signs(
    north: HemisphereToroid | None, dn: float, south: HemisphereToroid | None, ds_: float, cfg: ToroidsConfig
) -> tuple[HemisphereToroid | None, HemisphereToroid | None]:
    # sign(a) = -sign(leading polarity) (docs/science.md section 2); D > 0 means positive leading.
    sn = -int(np.sign(dn))
    ss = -int(np.sign(ds_))
    if sn == 0 and ss == 0:
        sn = cfg.hale_sign_north_fallback
        ss = -sn
    elif sn == 0:
        sn = -ss
    elif ss == 0:
        ss = -sn
    north = None if north is None else dataclasses.replace(north, sign=sn)
    south = None if south is None else dataclasses.replace(south, sign=ss)
    return north, south


def _check_config(cfg: ToroidsConfig) -> None:
    if cfg.threshold_G <= 0:
        raise ConfigError("config key 'toroids.threshold_G' must be > 0")
    if cfg.max_modes < 0 or (cfg.modes is not None and cfg.modes < 0):
        raise ConfigError("config keys 'toroids.max_modes' / 'toroids.modes' must be >= 0")
    lo, hi = cfg.width_bounds_deg
    if not 0 < lo < hi:
        raise ConfigError("config key 'toroids.width_bounds_deg' must be 0 < low < high")
    if cfg.hale_window_deg <= 0 or cfg.strip_deg <= 0:
        raise ConfigError("config keys 'toroids.hale_window_deg' and 'toroids.strip_deg' must be > 0")
    if not cfg.max_vif >= 1.0 or not cfg.amplitude_bound_deg > 0:
        raise ConfigError(
            "config keys 'toroids.max_vif' (>= 1) / 'toroids.amplitude_bound_deg' (> 0) out of range"
        )
    if cfg.hale_sign_north_fallback not in (1, -1):
        raise ConfigError("config key 'toroids.hale_sign_north_fallback' must be +1 or -1")


def _fit_samples(sn: _Samples, ss: _Samples, cr: int, cfg: ToroidsConfig) -> Toroids:
    north, dn = _fit_hemisphere(sn, cfg, north=True)
    south, ds_ = _fit_hemisphere(ss, cfg, north=False)
    north, south = _assign_signs(north, dn, south, ds_, cfg)
    return Toroids(cr=int(cr), threshold_G=float(cfg.threshold_G), north=north, south=south)


def fit_toroids(ds: xr.Dataset, config: ToroidsConfig | None = None) -> Toroids:
    """Fit both hemispheres' toroids to one synoptic map ``ds`` (``Br(lat, lon)`` in gauss, attr ``cr``)."""
    cfg = config or ToroidsConfig()
    _check_config(cfg)
    br, lat, lon = _br_lat_lon(ds)
    sn = _samples(br, lat, lon, True, cfg)
    ss = _samples(br, lat, lon, False, cfg)
    cr = ds.attrs.get("cr")
    if cr is None and "cr" in ds.coords and ds["cr"].ndim == 0:  # one rotation selected from a sequence
        cr = ds["cr"].item()
    return _with_strength(_fit_samples(sn, ss, -1 if cr is None else int(cr), cfg), [(br, lat, lon, 1.0, 0.0)], cfg)


def flux_weighted_mean_lat(ds: xr.Dataset, config: ToroidsConfig | None = None) -> dict[str, float | None]:
    """Baseline: per hemisphere, the |Br|-weighted mean latitude of the strong pixels a fit would use."""
    cfg = config or ToroidsConfig()
    br, lat, lon = _br_lat_lon(ds)
    out: dict[str, float | None] = {}
    for name, north in (("north", True), ("south", False)):
        s = _samples(br, lat, lon, north, cfg)
        out[name] = float(np.sum(s.W * s.ybar) / np.sum(s.W)) if s.W.sum() > 0 else None
    return out


def window_weights(
    crs: list[int], config: ToroidsConfig, causal: bool = False, target_cr: int | None = None
) -> tuple[int, dict[int, float]]:
    """Target rotation and the weight of each available rotation of ``crs`` in its window.

    Centred: the target defaults to the middle rotation of ``crs`` and ``combine_weights`` spans offsets
    ``-(n-1)/2 .. (n-1)/2``. Causal: the target defaults to the latest rotation and ``causal_weights``
    (oldest first) spans offsets ``-(n-1) .. 0``. Rotations outside the window get no entry.
    """
    weights = tuple(config.causal_weights if causal else config.combine_weights)
    name = "causal_weights" if causal else "combine_weights"
    if len(weights) != config.window:
        raise ConfigError(
            f"config key 'toroids.{name}' has {len(weights)} values but toroids.window is {config.window}"
        )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"config key 'toroids.{name}' must be >= 0 with a positive sum")
    n = len(weights)
    if not causal and n % 2 == 0:
        raise ConfigError(f"config key 'toroids.{name}' needs an odd number of weights to be centred")
    crs = sorted(int(c) for c in crs)
    if not crs:
        raise InputError(None, "no rotations to combine")
    if target_cr is None:
        target_cr = crs[-1] if causal else crs[(len(crs) - 1) // 2]
    first = -(n - 1) if causal else -(n - 1) // 2
    out = {}
    for c in crs:
        k = c - target_cr - first
        if 0 <= k < n and weights[k] > 0:
            out[c] = float(weights[k])
    if not out:
        raise InputError(None, f"no rotation of {crs} falls in the window of CR {target_cr}")
    return int(target_cr), out


def fit_toroids_window(
    ds_seq: xr.Dataset,
    config: ToroidsConfig | None = None,
    causal: bool = False,
    target_cr: int | None = None,
) -> Toroids:
    """Toroids of one rotation from a weighted stack of consecutive rotations (``Br(cr, lat, lon)``).

    ``causal=False``: the published centred window, estimating the middle rotation of ``ds_seq`` (or
    ``target_cr``). ``causal=True``: a trailing window estimating the latest rotation (or ``target_cr``)
    from it and earlier rotations only; maps after the target are never read.
    """
    cfg = config or ToroidsConfig()
    _check_config(cfg)
    if "cr" not in ds_seq.dims:
        raise InputError(None, "a rotation sequence needs a 'cr' dimension")
    crs = [int(c) for c in ds_seq["cr"].values]
    if len(set(crs)) != len(crs):
        raise InputError(None, f"duplicate rotations in the sequence: {crs}")
    target, weights = window_weights(crs, cfg, causal=causal, target_cr=target_cr)
    parts_n, parts_s, maps = [], [], []
    for c, wt in sorted(weights.items()):
        one = ds_seq.sel(cr=c)
        br, lat, lon = _br_lat_lon(one)
        shift = cfg.drift_deg_per_rotation * (target - c)
        parts_n.append(_samples(br, lat, lon, True, cfg, wt, shift))
        parts_s.append(_samples(br, lat, lon, False, cfg, wt, shift))
        maps.append((br, lat, lon, wt, shift))
    fitted = _fit_samples(_Samples.concat(parts_n), _Samples.concat(parts_s), target, cfg)
    return _with_strength(fitted, maps, cfg)


def _with_strength(toroids: Toroids, maps: list[tuple], cfg: ToroidsConfig) -> Toroids:
    """``toroids`` with each hemisphere's s(lon) and its sd measured on ``maps`` ((br, lat, lon, window weight,
    longitude shift) per rotation, as stacked by the fit; module docstring 'Strength along the band')."""
    out = {}
    for name, h in toroids.hemispheres().items():
        if h is None:
            out[name] = None
            continue
        flux = [
            wt * st.map_band_flux(br, lat, lon, _row_areas(lat), h, cfg.threshold_G, cfg.lat_limit_deg, shift)
            for br, lat, lon, wt, shift in maps
        ]
        units = flux if len(flux) > 1 else st.strip_units(flux[0], cfg.strip_deg)
        s, sd = st.strength_profile(units, cfg.strength_smoothing_deg)
        out[name] = dataclasses.replace(h, strength_profile=tuple(s), strength_profile_err=tuple(sd))
    return dataclasses.replace(toroids, **out)


# ---------------------------------------------------------------------------------------------
# Presentation


def format_table(toroids: Toroids) -> str:
    """Human-readable table of both hemispheres (what the CLI prints)."""
    header = (
        f"{'hemi':<6} {'sign':>4} {'pixels':>7} {'lat0 (deg)':>14} {'width (deg)':>14}  "
        f"{'m':>1} {'A_m (deg)':>13} {'Phi_m (deg)':>14}  {'s(lon) min-max':>14}"
    )
    lines = [f"Toroids of CR {toroids.cr} (|Br| > {toroids.threshold_G:g} G)", header]
    for name, h in toroids.hemispheres().items():
        if h is None:
            lines.append(f"{name:<6} {'-':>4} {'-':>7}  too few strong pixels: no fit")
            continue
        pixels = str(h.n_pixels) if h.n_pixels else "-"
        head = (
            f"{name:<6} {h.sign:>+4d} {pixels:>7} {h.lat0_deg:>7.2f} ± {h.lat0_err_deg:<4.2f} "
            f"{h.width_deg:>7.2f} ± {h.width_err_deg:<4.2f}"
        )
        s = np.asarray(h.strength_profile) if h.strength_profile else np.ones(1)
        span = f"  {s.min():>6.2f}-{s.max():<6.2f}"
        if h.modes == 0:
            lines.append(f"{head}  0 {'(no modes)':>13} {'':>14}{span}")
        for m in range(1, h.modes + 1):
            a, ae = h.amplitudes_deg[m - 1], h.amplitudes_err_deg[m - 1]
            p, pe = h.phases_deg[m - 1], h.phases_err_deg[m - 1]
            prefix = head if m == 1 else " " * len(head)
            lines.append(f"{prefix}  {m} {a:>6.2f} ± {ae:<4.2f} {p:>7.1f} ± {pe:<5.1f}" + (span if m == 1 else ""))
    return "\n".join(lines)


def plot_toroids(ds: xr.Dataset, toroids: Toroids, ax=None):
    """Magnetogram (grey, saturated at 3x the threshold) with each toroid's centre line and +-w band."""
    import matplotlib.pyplot as plt

    br, lat, lon = _br_lat_lon(ds)
    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 5.2))
    else:
        fig = ax.figure
    vmax = 3.0 * toroids.threshold_G
    im = ax.pcolormesh(lon, lat, br, cmap="gray", vmin=-vmax, vmax=vmax, shading="nearest", rasterized=True)
    fig.colorbar(im, ax=ax, label="Br (G)", fraction=0.03, pad=0.01)
    grid = np.linspace(0.0, 360.0, 721)
    for name, h in toroids.hemispheres().items():
        if h is None:
            continue
        color = "tab:red" if h.sign > 0 else "tab:blue"
        c = h.centre_lat_deg(grid)
        label = (
            f"{name}: lat0 {h.lat0_deg:.1f}°, w {h.width_deg:.1f}°, M={h.modes}, "
            f"sign(a) {'+' if h.sign > 0 else '-'}"
        )
        ax.plot(grid, c, color=color, lw=2, label=label)
        ax.plot(grid, c + h.width_deg, color=color, lw=1, ls="--")
        ax.plot(grid, c - h.width_deg, color=color, lw=1, ls="--")
    ax.set_xlim(0, 360)
    ax.set_ylim(-90, 90)
    ax.set_xlabel("Carrington longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_title(f"CR {toroids.cr}: toroids (|Br| > {toroids.threshold_G:g} G; dashed: ±w)")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.8)
    return fig
