"""Does a synoptic map look like the solar magnetic field? A plausibility check on its structure.

Header checks cannot tell a magnetogram from a file of noise with a correct header. The photospheric
field has two properties that noise lacks, and this module measures both on the native map:

* **Intermittency (a heavy tail).** Flux is concentrated in the network, plage and active regions, far
  above the measurement noise, while most of the surface is near zero. The noise scale ``sigma`` is
  taken from the core of the distribution, ``1.4826 x`` the median absolute deviation from the median
  (the standard deviation for a Gaussian core: HMI 720x360 maps give 3.1-4.1 G). A pixel is *strong*
  when ``|Br - median| > STRONG_SIGMAS * sigma`` (5 sigma: a Gaussian gives a fraction 5.7e-7 of such
  pixels). The map must have at least :data:`MIN_STRONG_FRACTION` = 0.1 % of its finite pixels strong,
  about 2000 micro-hemispheres of the sphere, the area of one large active region; real HMI maps of
  CR 2240-2282 (from the minimum of cycle 24/25 to near the maximum of cycle 25) have 5.2-10.0 %.
* **Coherence.** Magnetic elements are resolved structures: network patches and active regions are at
  least as large as a 0.5 deg pixel (6 Mm) after synoptic averaging, so a strong pixel's neighbours are
  mostly strong with the same sign. ``coherence`` is the fraction of strong pixels with a strong
  same-sign 4-neighbour (longitude wraps), in excess of what spatially independent pixels with the same
  strong fractions would give (``chance``), scaled to [.., 1]: ``(observed - chance) / (1 - chance)``.
  The map must reach :data:`MIN_COHERENCE` = 0.5 (most strong pixels belong to multi-pixel regions);
  real HMI maps give 0.72-0.87, uncorrelated heavy-tailed noise about 0.

A constant map (all finite pixels equal) has no structure at all and fails the first test. Thresholds
are constants of the physics above, not tuned to the data: the real maps lie far inside both bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MIN_COHERENCE", "MIN_STRONG_FRACTION", "STRONG_SIGMAS", "FieldStructure", "field_structure"]

STRONG_SIGMAS = 5.0  # a strong pixel: this many noise sigmas from the median (Gaussian tail 5.7e-7)
MIN_STRONG_FRACTION = 1.0e-3  # of the finite pixels (~2000 micro-hemispheres of the sphere: one large AR)
MIN_COHERENCE = 0.5  # strong pixels with a same-sign strong neighbour, beyond chance, scaled to [.., 1]
_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation of a Gaussian


@dataclass(frozen=True)
class FieldStructure:
    """Structure statistics of one map (fractions of finite pixels; field in the map's unit, G)."""

    n_finite: int
    sigma: float  # noise scale of the distribution's core, 1.4826 x MAD (G)
    strong_fraction: float  # finite pixels more than STRONG_SIGMAS * sigma from the median
    coherence: float  # strong pixels with a strong same-sign 4-neighbour, beyond chance (<= 1; 0 if none)

    def problem(self) -> str | None:
        """One line saying why the map does not look solar, or None when it passes both tests."""
        if self.strong_fraction < MIN_STRONG_FRACTION:
            return (
                f"no magnetic structure: {100 * self.strong_fraction:.3g} % of pixels lie more than "
                f"{STRONG_SIGMAS:g} sigma (sigma = {self.sigma:.3g} G from the median absolute deviation) from the "
                f"median, fewer than {100 * MIN_STRONG_FRACTION:g} % (real maps: 5-10 %); noise or a fill value, "
                "not a magnetogram"
            )
        if self.coherence < MIN_COHERENCE:
            return (
                f"no coherent magnetic structure: strong-field pixels ({100 * self.strong_fraction:.3g} % of the map) "
                f"do not form regions (coherence {self.coherence:.2f} < {MIN_COHERENCE:g}; real maps: 0.7-0.9); "
                "spatially uncorrelated noise, not a magnetogram"
            )
        return None


def field_structure(br: np.ndarray) -> FieldStructure:
    """Structure statistics of ``br[lat, lon]`` (G, NaN = missing; equal-area pixels, longitude wraps)."""
    br = np.asarray(br, dtype=np.float64)
    finite = np.isfinite(br)
    values = br[finite]
    n = int(values.size)
    if n == 0:
        return FieldStructure(0, 0.0, 0.0, 0.0)
    median = float(np.median(values))
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
    deviation = np.where(finite, br - median, 0.0)
    strong = finite & (np.abs(deviation) > STRONG_SIGMAS * sigma)
    n_strong = int(np.count_nonzero(strong))
    if n_strong == 0:
        return FieldStructure(n, sigma, 0.0, 0.0)
    observed, chance = 0.0, 0.0
    for mask in (strong & (deviation > 0), strong & (deviation < 0)):
        count = int(np.count_nonzero(mask))
        if count == 0:
            continue
        observed += np.count_nonzero(mask & _has_neighbour(mask))
        chance += count * (1.0 - (1.0 - count / n) ** 4)
    observed /= n_strong
    chance /= n_strong
    coherence = (observed - chance) / (1.0 - chance) if chance < 1.0 else 0.0
    return FieldStructure(n, sigma, n_strong / n, float(coherence))


def _has_neighbour(mask: np.ndarray) -> np.ndarray:
    """True where one of the 4 neighbours is in ``mask`` (longitude, axis 1, wraps; latitude does not)."""
    out = np.roll(mask, 1, axis=1) | np.roll(mask, -1, axis=1)
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    return out
