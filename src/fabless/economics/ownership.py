"""Cost per chip-hour, owned or rented; and the prices of work that follow from a
delivered throughput (which the performance engine supplies).

Owned, per chip and hour (H = hours per year, r = cost_of_capital, the WACC):

    CRF(r, n)       = r / (1 - (1 + r)^-n)       (capital recovery factor; 1/n at r = 0)
    hardware capex  = chip price x server_cost_over_accelerator / (1 - network_fraction)
    capex / h       = hardware capex x CRF(r, depreciation_years) / H
    operations / h  = hardware capex x operations_fraction_per_year / H
    power (kW)      = TDP x server_power_over_tdp / 1000
    energy / h      = power x average_power_fraction x PUE x electricity_usd_per_kwh
    datacenter / h  = power / 1000 x datacenter_usd_per_mw x CRF(r, datacenter_life_years) / H

The CRF is the level yearly payment that repays a capital sum with interest at r over n
years, so capex carries its cost of capital (straight-line depreciation at r = 0).
Rented: the cloud price per chip-hour (:mod:`fabless.hardware.prices`). All functions
accept numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fabless.errors import FablessError
from fabless.hardware.prices import BUY_TIERS, RENT_TIERS, PriceRecord, buy_price, check_tier, rent_price
from fabless.hardware.schema import Chip

from .params import EconomicsParams, default_params
from .power import ownership_power_w


def _nonneg(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise FablessError(f"{name} must be a non-negative number, got {value!r}")
    return arr


def capital_recovery_factor(rate, years):
    """Yearly payment per dollar of capital repaid over ``years`` at interest ``rate`` per
    year: r / (1 - (1 + r)^-n), and 1/n at r = 0. Arrays broadcast."""
    r = np.asarray(rate, dtype=float)
    n = np.asarray(years, dtype=float)
    if np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(r >= 1):
        raise FablessError(f"cost of capital must be a yearly rate in [0, 1), got {rate!r}")
    if np.any(~(n > 0)):
        raise FablessError(f"recovery period must be positive years, got {years!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        crf = r / (1.0 - (1.0 + r) ** -n)
    return np.where(r > 0, crf, 1.0 / n)


def chip_hour_terms_usd(chip_price_usd, tdp_w, params: EconomicsParams | None = None, *, cost_of_capital=None,
                        electricity_usd_per_kwh=None, average_power_fraction=None) -> dict[str, np.ndarray]:
    """Owned cost per chip-hour (USD) by term, and ``total``. The keyword arguments replace
    the params' values (arrays allowed: the Monte Carlo passes one value per sample)."""
    o = (params or default_params()).ownership
    price = _nonneg("chip price", chip_price_usd)
    tdp = _nonneg("TDP", tdp_w)
    r = o.cost_of_capital if cost_of_capital is None else cost_of_capital
    kwh = o.electricity_usd_per_kwh if electricity_usd_per_kwh is None else _nonneg("electricity price", electricity_usd_per_kwh)
    apf = o.average_power_fraction if average_power_fraction is None else _nonneg("average power fraction", average_power_fraction)
    capex = price * o.server_cost_over_accelerator / (1 - o.network_fraction_of_hardware)
    hours = o.hours_per_year
    power_kw = tdp * o.server_power_over_tdp / 1000
    terms = {
        "hardware": capex * capital_recovery_factor(r, o.depreciation_years) / hours,
        "operations": capex * o.operations_fraction_per_year / hours,
        "energy": power_kw * apf * o.pue * kwh,
        "datacenter": power_kw / 1000 * o.datacenter_usd_per_mw * capital_recovery_factor(r, o.datacenter_life_years) / hours,
    }
    terms["total"] = sum(terms.values())
    return terms


def owned_chip_hour_usd(chip_price_usd, tdp_w, params: EconomicsParams | None = None):
    return chip_hour_terms_usd(chip_price_usd, tdp_w, params)["total"]


@dataclass(frozen=True)
class ChipHour:
    owned_usd: float | None
    rented_usd: float | None
    terms: dict[str, float]
    price_usd: float | None
    price_basis: str
    power_w: float | None = None
    power_basis: str = ""
    rent_basis: str = ""
    buy_record: PriceRecord | None = None
    rent_record: PriceRecord | None = None


def chip_hour(chip: Chip, params: EconomicsParams | None = None, *, price_usd: float | None = None,
              price_basis: str | None = None, power_w: float | None = None,
              power_basis: str | None = None, price_tier: str | None = None) -> ChipHour:
    """Owned (from ``price_usd``, else the chip's purchase price in ``price_tier``) and rented
    (its rental price in ``price_tier``) cost per chip-hour; :mod:`fabless.hardware.prices`
    says which record a tier selects. ``price_basis``/``rent_basis`` name the record
    (provider, tier, date) or say that the chip has none in that tier.

    The energy and data-centre terms are charged on ``power_w``, else the chip's TDP,
    else (no published TDP) the power model's full-load figure, marked as modelled."""
    check_tier(price_tier)
    buy = None if price_usd is not None else buy_price(chip, price_tier)
    price = price_usd if price_usd is not None else (buy.usd if buy else None)
    if price_usd is not None:
        basis = price_basis or "given"
    elif buy is not None:
        basis = buy.label()
    else:
        basis = f"no {price_tier if price_tier in BUY_TIERS else 'list or street'} price"
    rent = rent_price(chip, price_tier)
    rent_basis = rent.label() if rent else f"no {price_tier if price_tier in RENT_TIERS else 'on-demand'} price"
    owned, terms = None, {}
    power_basis = power_basis or "given"
    if power_w is None:
        power_w, power_basis = ownership_power_w(chip, params)
    if price is not None:
        terms = {k: float(v) for k, v in chip_hour_terms_usd(price, power_w, params).items()}
        owned = terms["total"]
    return ChipHour(owned, rent.usd if rent else None, terms, price, basis, float(power_w), power_basis,
                    rent_basis, buy, rent)


# ---------------------------------------------------------------- with a throughput


def cost_per_mtoken_usd(chip_hour_usd, tokens_per_s_per_chip):
    """$ per million tokens from the cost of a chip-hour and the tokens/s one chip delivers."""
    rate = np.asarray(tokens_per_s_per_chip, dtype=float)
    if np.any(rate <= 0):
        raise FablessError(f"tokens per second per chip must be positive, got {tokens_per_s_per_chip!r}")
    return _nonneg("chip-hour cost", chip_hour_usd) / (rate * 3600.0) * 1e6


def cost_per_run_usd(chip_hour_usd, tokens_per_s_per_chip, run_tokens):
    """$ for a training run of ``run_tokens`` tokens (any number of chips: the chip-hours are the same)."""
    return cost_per_mtoken_usd(chip_hour_usd, tokens_per_s_per_chip) * _nonneg("run tokens", run_tokens) / 1e6


def tokens_per_joule(tokens_per_s_per_chip, power_w, pue=1.0):
    """Tokens per joule at the chip (``pue`` 1) or at the meter (the facility's PUE)."""
    p = np.asarray(power_w, dtype=float) * float(pue)
    if np.any(p <= 0):
        raise FablessError(f"power must be positive, got {power_w!r}")
    return _nonneg("tokens per second", tokens_per_s_per_chip) / p


# ---------------------------------------------------------------- build versus buy


def breakeven(*, custom_chip_hour_usd, gpu_chip_hour_usd, throughput_ratio, nre_usd, fleet_gpu_equivalents=None,
              years=None, hours_per_year: float = 8760.0, cost_of_capital=0.0) -> dict[str, np.ndarray]:
    """Build versus buy at equal delivered throughput.

    ``throughput_ratio`` = delivered tokens/s of one custom chip / one GPU, so a fleet
    of F GPUs is replaced by F / ratio custom chips. The hourly saving per GPU
    replaced is ``gpu_chip_hour - custom_chip_hour / ratio`` (all-in owned costs,
    capex amortised). Returns the saving per GPU-equivalent-hour and, given a
    fleet, the ``payback_years`` (inf when the custom chip never saves); given
    ``years``, the ``breakeven_fleet`` (GPU equivalents) that repays the NRE in that
    time. With a ``cost_of_capital`` r the NRE, spent up front, is repaid as an annuity:
    the yearly saving must reach NRE x CRF(r, years) (``payback_years`` then solves
    CRF(r, T) = yearly saving / NRE; inf when the saving never covers the interest).
    Arrays broadcast."""
    ratio = np.asarray(throughput_ratio, dtype=float)
    if np.any(ratio <= 0):
        raise FablessError(f"throughput ratio must be positive, got {throughput_ratio!r}")
    nre = _nonneg("NRE", nre_usd)
    saving = _nonneg("GPU chip-hour", gpu_chip_hour_usd) - _nonneg("custom chip-hour", custom_chip_hour_usd) / ratio
    out = {"saving_per_gpu_hour_usd": saving}
    r = np.asarray(cost_of_capital, dtype=float)
    capital_recovery_factor(r, 1.0)  # validates r
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if fleet_gpu_equivalents is not None:
            fleet = _nonneg("fleet size", fleet_gpu_equivalents)
            # CRF(r, T) = x  <=>  T = -ln(1 - r / x) / ln(1 + r)  (x > r); T = 1 / x at r = 0
            x = fleet * saving * hours_per_year / nre
            t_r = -np.log1p(-r / x) / np.log1p(r)
            t = np.where(r > 0, np.where(x > r, t_r, np.inf), 1.0 / x)
            out["payback_years"] = np.where(saving > 0, t, np.inf)
        if years is not None:
            yrs = _nonneg("years", years)
            crf = capital_recovery_factor(np.broadcast_to(r, np.broadcast(r, yrs).shape), np.where(yrs > 0, yrs, np.inf))
            out["breakeven_fleet"] = np.where((saving > 0) & (yrs > 0), nre * crf / (saving * hours_per_year), np.inf)
    return out


def tornado(model: Callable[[dict], float], base: dict, ranges: dict[str, tuple]) -> list[dict]:
    """One-at-a-time sensitivity: ``model(inputs)`` at ``base``, then with each input
    set to its low and high value. Rows sorted by swing, largest first (a tornado)."""
    y0 = float(model(dict(base)))
    rows = []
    for name, (lo, hi) in ranges.items():
        if name not in base:
            raise FablessError(f"tornado input '{name}' is not one of the model's inputs: {', '.join(base)}")
        y_lo = float(model({**base, name: lo}))
        y_hi = float(model({**base, name: hi}))
        rows.append({"input": name, "low": lo, "high": hi, "base": base[name], "result_low": y_lo,
                     "result_high": y_hi, "swing": abs(y_hi - y_lo)})
    rows.sort(key=lambda r: -r["swing"] if np.isfinite(r["swing"]) else -np.inf)
    return [{"base_result": y0, **r} for r in rows]
