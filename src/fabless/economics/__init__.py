"""Economics: silicon area and yield, unit cost, power, NRE, cost per chip-hour,
and the prices of work given a delivered throughput (``tco_rows``,
``breakeven_report``: driven by the estimate engine).

    from fabless.economics import chip_area, chip_unit_cost, chip_power, nre_usd, chip_hour
    from fabless.economics import cost_per_mtoken_usd, breakeven, build_vs_buy, monte_carlo

Every default is in ``fabless/data/economics/*.yaml`` with its source; see docs/economics.md.
"""

from .area import DieInventory, area_errors, chip_area, die_area, die_area_terms_mm2, inventory_from_chip
from .breakeven import BreakevenCase, breakeven_tornado, build_vs_buy, case_from_chips, monte_carlo
from .nre import nre_usd
from .ownership import (breakeven, capital_recovery_factor, chip_hour, chip_hour_terms_usd, cost_per_mtoken_usd,
                        cost_per_run_usd, owned_chip_hour_usd, tokens_per_joule, tornado)
from .params import EconomicsParams, default_params, load_params, with_overrides
from .power import chip_power, flop_energy_pj, ownership_power_w, power_dtype, sustained_clock_mhz
from .tco import breakeven_report, price_work, tco_rows
from .unit_cost import chip_unit_cost, good_die_cost_usd, unit_cost
from .wafer import cost_per_good_die_usd, dies_per_wafer, harvested_yield, negative_binomial_yield

__all__ = [
    "BreakevenCase", "DieInventory", "EconomicsParams", "area_errors", "breakeven", "breakeven_tornado", "build_vs_buy",
    "capital_recovery_factor", "case_from_chips", "chip_area", "monte_carlo",
    "chip_hour", "chip_hour_terms_usd", "chip_power", "chip_unit_cost", "cost_per_good_die_usd", "cost_per_mtoken_usd",
    "cost_per_run_usd", "default_params", "die_area", "die_area_terms_mm2", "dies_per_wafer", "flop_energy_pj",
    "good_die_cost_usd", "harvested_yield", "inventory_from_chip", "load_params", "negative_binomial_yield", "nre_usd",
    "owned_chip_hour_usd", "ownership_power_w", "power_dtype", "price_work", "breakeven_report", "tco_rows", "sustained_clock_mhz", "tokens_per_joule", "tornado", "unit_cost", "with_overrides",
]
