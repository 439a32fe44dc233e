"""Per-equation residual scales of the PINN loss (``loss.residual_scales`` and the per-group overrides).

Each of the six MHD-SWT residuals (mom_u, mom_v, mass, ind_a, ind_b, div; :data:`pinn.training.losses.TERM_NAMES`)
is divided by a scale, in model units, before it is squared, so that O(1) means 'as large as that equation's
own terms'. Two rules, then the per-group overrides:

* ``single`` (default, the behaviour before this key existed): every equation by R = ``loss.residual_scale``
  (default max(U, a0)).
* ``natural``: each equation by the magnitude of its own largest terms for flow scale U, band strength a0
  and undisturbed thickness H = 1 (frame rotation Omega = 1):
    - momentum (mom_u, mom_v): 2 Omega U + U^2 + a0^2 (Coriolis, advection/curvature, hoop stress: the
      pressure gradient G dh that balances them, as the network's h scale);
    - continuity (mass): H U (h div u);
    - induction (ind_a, ind_b): a0 U (advection of a by u and stretching of u by a);
    - div (div(h B) = 0): H a0.
  The induction terms scale with a0 U, not with U or a0: with one scale R = max(U, a0) its residual is
  weighted (a0 U / R)^2 relative to its own size, i.e. almost not at all for a weak band
  (experiments/timedep/README.md).
* ``loss.residual_scale_momentum``, ``_continuity``, ``_induction`` (model units) replace the scale of that
  group (induction: ind_a, ind_b and div) whichever rule is chosen.
"""

from __future__ import annotations

import numpy as np

from pinn.config.schema import LossConfig
from pinn.errors import ConfigError

EQUATIONS = ("mom_u", "mom_v", "mass", "ind_a", "ind_b", "div")
GROUPS = {"momentum": (0, 1), "continuity": (2,), "induction": (3, 4, 5)}


def natural_scales(U: float, a0: float, H: float = 1.0, omega: float = 1.0) -> np.ndarray:
    """(6,) natural magnitude of each equation's terms (model units), ordered as :data:`EQUATIONS`."""
    mom = 2.0 * omega * U + U * U + a0 * a0
    return np.array([mom, mom, H * U, a0 * U, a0 * U, H * a0], np.float64)


def residual_scales(loss: LossConfig, U: float, a0: float) -> np.ndarray:
    """(6,) scale of each residual (model units) for flow scale ``U`` and band strength ``a0`` as ``loss`` says."""
    if loss.residual_scales == "natural":
        if loss.residual_scale is not None:
            raise ConfigError("config key 'loss.residual_scale' applies to loss.residual_scales = single; with "
                              "natural set the per-group keys loss.residual_scale_momentum/_continuity/_induction")
        scales = natural_scales(U, a0)
    else:
        scales = np.full(6, loss.residual_scale or max(U, a0), np.float64)
    for group, idx in GROUPS.items():
        value = getattr(loss, f"residual_scale_{group}")
        if value is not None:
            scales[list(idx)] = value
    if not np.all(np.isfinite(scales) & (scales > 0)):
        raise ConfigError(f"config keys 'loss.residual_scales' give non-positive residual scales {scales.tolist()} "
                          f"(U = {U}, a0 = {a0}): set loss.residual_scale_momentum/_continuity/_induction")
    return scales


__all__ = ["EQUATIONS", "GROUPS", "natural_scales", "residual_scales"]
