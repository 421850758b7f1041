"""Dies per wafer, yield (negative binomial, with harvesting), cost per good die.

All functions take numpy arrays (or floats) and broadcast.

- Gross dies per wafer (de Vries 2005): ``pi (d/2)^2 / S - pi d / sqrt(2 S)``, with
  ``d`` the usable diameter (wafer minus twice the edge exclusion) and ``S`` the die
  area grown by the scribe lane on each side.
- Yield, negative binomial: ``Y = (1 + A D0 / alpha)^-alpha`` (A in cm2). It is the
  Poisson yield ``exp(-A D)`` averaged over a defect density D that varies from
  wafer to wafer as a gamma distribution with mean D0 and shape alpha (clustering).
- Harvesting: a die with ``n`` identical cores sells if at most ``n - k`` cores are
  hit and the rest of the die is clean. Given D, cores fail independently
  (Poisson), so the sellable yield is the binomial tail averaged over the same
  gamma distribution of D. With no spare cores it reduces exactly to the
  negative-binomial yield.
"""

from __future__ import annotations

from functools import lru_cache
from math import lgamma

import numpy as np

from fabless.errors import FablessError


def _positive(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
        raise FablessError(f"{name} must be a positive number, got {value!r}")
    return arr


def dies_per_wafer(die_area_mm2, *, wafer_diameter_mm=300.0, edge_exclusion_mm=0.0, scribe_lane_mm=0.0):
    """Gross (whole, uncut-by-the-edge) dies per wafer, de Vries' approximation; fractional."""
    area = _positive("die_area_mm2", die_area_mm2)
    d = float(wafer_diameter_mm) - 2.0 * float(edge_exclusion_mm)
    if d <= 0:
        raise FablessError(f"edge exclusion ({edge_exclusion_mm} mm) leaves no wafer of {wafer_diameter_mm} mm")
    side = np.sqrt(area) + float(scribe_lane_mm)
    s = side * side
    return np.maximum(np.pi * (d / 2) ** 2 / s - np.pi * d / np.sqrt(2 * s), 0.0)


def negative_binomial_yield(area_mm2, defect_density_per_cm2, alpha):
    """Share of dies with no killer defect: ``(1 + A D0 / alpha)^-alpha``."""
    a_cm2 = np.asarray(area_mm2, dtype=float) / 100.0
    d0 = np.asarray(defect_density_per_cm2, dtype=float)
    if np.any(d0 < 0):
        raise FablessError(f"defect density must not be negative, got {defect_density_per_cm2!r}")
    alpha = float(alpha)
    if alpha <= 0:
        raise FablessError(f"yield clustering alpha must be positive, got {alpha}")
    return (1.0 + a_cm2 * d0 / alpha) ** (-alpha)


def poisson_yield(area_mm2, defect_density_per_cm2):
    return np.exp(-np.asarray(area_mm2, dtype=float) / 100.0 * np.asarray(defect_density_per_cm2, dtype=float))


@lru_cache(maxsize=32)
def _gamma_quadrature(alpha: float, n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Nodes x and weights w (summing to 1) with sum w f(x) = E[f(X)], X ~ Gamma(alpha, 1):
    generalized Gauss-Laguerre by Golub-Welsch."""
    a = alpha - 1.0
    k = np.arange(n, dtype=float)
    diag = 2 * k + a + 1
    off = np.sqrt((k[1:]) * (k[1:] + a))
    jac = np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)
    x, v = np.linalg.eigh(jac)
    w = v[0, :] ** 2
    return x, w / w.sum()


def harvested_yield(area_mm2, defect_density_per_cm2, alpha, *, repairable_fraction=0.0, cores=1, spare_cores=0):
    """Share of dies that can be sold with at least ``cores - spare_cores`` good cores.

    ``repairable_fraction`` of the die is split into ``cores`` identical cores; a
    defect anywhere else kills the die. Arrays broadcast."""
    area = np.asarray(area_mm2, dtype=float)
    d0 = np.asarray(defect_density_per_cm2, dtype=float)
    if np.any(d0 < 0):
        raise FablessError(f"defect density must not be negative, got {defect_density_per_cm2!r}")
    frac = np.asarray(repairable_fraction, dtype=float)
    if np.any((frac < 0) | (frac >= 1)):
        raise FablessError(f"repairable_fraction must be in [0, 1), got {repairable_fraction!r}")
    n = np.asarray(cores, dtype=float)
    s = np.asarray(spare_cores, dtype=float)
    if np.any(s < 0) or np.any(s > n) or np.any(n < 1):
        raise FablessError(f"spare cores ({spare_cores!r}) must be between 0 and the core count ({cores!r})")
    x, w = _gamma_quadrature(float(alpha))
    # D = D0 / alpha * x, broadcast over a trailing quadrature axis
    dens = (d0 / float(alpha))[..., None] * x
    a_cm2 = area / 100.0
    rest = np.exp(-(a_cm2 * (1 - frac))[..., None] * dens)
    q = 1.0 - np.exp(-(a_cm2 * frac / n)[..., None] * dens)  # one core hit
    p = 1.0 - q
    n_ = n[..., None] if n.ndim else n
    s_ = s[..., None] if s.ndim else s
    tail = np.zeros(np.broadcast_shapes(np.shape(rest), np.shape(q)))
    s_max = int(np.max(s)) if np.size(s) else 0
    with np.errstate(divide="ignore"):
        logq, logp = np.log(q), np.log(p)
    for j in range(s_max + 1):
        log_c = _lchoose(n_, j)
        term = np.exp(log_c + j * np.where(q > 0, logq, -np.inf) + (n_ - j) * logp) if j else p ** n_
        tail = tail + np.where(j <= s_, term, 0.0)
    return np.sum(rest * np.minimum(tail, 1.0) * w, axis=-1)


def _lchoose(n, j: int):
    n = np.asarray(n, dtype=float)
    vec = np.vectorize(lambda m: lgamma(m + 1) - lgamma(j + 1) - lgamma(m - j + 1) if m >= j else -np.inf)
    return vec(n)


def cost_per_good_die_usd(wafer_price_usd, die_area_mm2, yield_fraction, *, wafer_diameter_mm=300.0,
                          edge_exclusion_mm=0.0, scribe_lane_mm=0.0):
    """Wafer price / (whole dies per wafer x yield)."""
    price = np.asarray(wafer_price_usd, dtype=float)
    if np.any(price < 0):
        raise FablessError(f"wafer price must not be negative, got {wafer_price_usd!r}")
    dpw = np.floor(dies_per_wafer(die_area_mm2, wafer_diameter_mm=wafer_diameter_mm,
                                  edge_exclusion_mm=edge_exclusion_mm, scribe_lane_mm=scribe_lane_mm))
    good = dpw * np.asarray(yield_fraction, dtype=float)
    if np.any(good <= 0):
        raise FablessError("no good die per wafer: the die is too large or the yield is zero")
    return price / good
