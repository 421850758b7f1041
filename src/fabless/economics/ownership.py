"""Cost per chip-hour, owned or rented; and the prices of work that follow from a
delivered throughput (which the performance engine supplies).

Owned, per chip and hour (H = hours per year):

    hardware capex  = chip price x server_cost_over_accelerator / (1 - network_fraction)
    capex / h       = hardware capex / (depreciation_years x H)
    operations / h  = hardware capex x operations_fraction_per_year / H
    power (kW)      = TDP x server_power_over_tdp / 1000
    energy / h      = power x average_power_fraction x PUE x electricity_usd_per_kwh
    datacenter / h  = power / 1000 x datacenter_usd_per_mw / (datacenter_life_years x H)

Rented: the cloud price per chip-hour. All functions accept numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fabless.errors import FablessError
from fabless.hardware.schema import Chip

from .params import EconomicsParams, default_params


def _nonneg(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise FablessError(f"{name} must be a non-negative number, got {value!r}")
    return arr


def chip_hour_terms_usd(chip_price_usd, tdp_w, params: EconomicsParams | None = None) -> dict[str, np.ndarray]:
    """Owned cost per chip-hour by term, and ``total``."""
    o = (params or default_params()).ownership
    price = _nonneg("chip price", chip_price_usd)
    tdp = _nonneg("TDP", tdp_w)
    capex = price * o.server_cost_over_accelerator / (1 - o.network_fraction_of_hardware)
    hours = o.hours_per_year
    power_kw = tdp * o.server_power_over_tdp / 1000
    terms = {
        "hardware": capex / (o.depreciation_years * hours),
        "operations": capex * o.operations_fraction_per_year / hours,
        "energy": power_kw * o.average_power_fraction * o.pue * o.electricity_usd_per_kwh,
        "datacenter": power_kw / 1000 * o.datacenter_usd_per_mw / (o.datacenter_life_years * hours),
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


def chip_hour(chip: Chip, params: EconomicsParams | None = None, *, price_usd: float | None = None,
              price_basis: str | None = None, power_w: float | None = None,
              power_basis: str | None = None) -> ChipHour:
    """Owned (from ``price_usd`` or the chip's list price) and rented cost per chip-hour.

    The energy and data-centre terms are charged on ``power_w``, else the chip's TDP,
    else (no published TDP) the power model's full-load figure, marked as modelled."""
    from .power import ownership_power_w

    price = price_usd if price_usd is not None else chip.price.list_usd
    basis = price_basis or ("list price" if price_usd is None and price is not None else "given")
    owned, terms = None, {}
    power_basis = power_basis or "given"
    if power_w is None:
        power_w, power_basis = ownership_power_w(chip, params)
    if price is not None:
        terms = {k: float(v) for k, v in chip_hour_terms_usd(price, power_w, params).items()}
        owned = terms["total"]
    return ChipHour(owned, chip.price.cloud_usd_per_hr, terms, price, basis, float(power_w), power_basis)


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
              years=None, hours_per_year: float = 8760.0) -> dict[str, np.ndarray]:
    """Build versus buy at equal delivered throughput.

    ``throughput_ratio`` = delivered tokens/s of one custom chip / one GPU, so a fleet
    of F GPUs is replaced by F / ratio custom chips. The hourly saving per GPU
    replaced is ``gpu_chip_hour - custom_chip_hour / ratio`` (all-in owned costs,
    capex amortised). Returns the saving per GPU-equivalent-hour and, given a
    fleet, the ``payback_years`` (inf when the custom chip never saves); given
    ``years``, the ``breakeven_fleet`` (GPU equivalents) that repays the NRE in that
    time. Arrays broadcast."""
    ratio = np.asarray(throughput_ratio, dtype=float)
    if np.any(ratio <= 0):
        raise FablessError(f"throughput ratio must be positive, got {throughput_ratio!r}")
    nre = _nonneg("NRE", nre_usd)
    saving = _nonneg("GPU chip-hour", gpu_chip_hour_usd) - _nonneg("custom chip-hour", custom_chip_hour_usd) / ratio
    out = {"saving_per_gpu_hour_usd": saving}
    with np.errstate(divide="ignore", invalid="ignore"):
        if fleet_gpu_equivalents is not None:
            fleet = _nonneg("fleet size", fleet_gpu_equivalents)
            out["payback_years"] = np.where(saving > 0, nre / (fleet * saving * hours_per_year), np.inf)
        if years is not None:
            yrs = _nonneg("years", years)
            out["breakeven_fleet"] = np.where(saving > 0, nre / (saving * yrs * hours_per_year), np.inf)
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
