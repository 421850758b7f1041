"""Build versus buy: a custom chip (bought from a design partner, or at cost)
against a purchased GPU at equal delivered throughput, and a tornado of the
break-even fleet over the most uncertain inputs.

The delivered throughput is an input (``throughput_ratio`` = tokens/s of one
custom chip / one GPU), so the performance engine plugs in here.
"""

from __future__ import annotations

from fabless.hardware.schema import Chip

from .nre import nre_usd
from .ownership import breakeven, chip_hour_terms_usd, tornado
from .power import ownership_power_w
from .params import EconomicsParams, default_params, with_overrides
from .unit_cost import chip_unit_cost


def build_vs_buy(custom: Chip, gpu: Chip, *, throughput_ratio: float, years: float = 4.0,
                 params: EconomicsParams | None = None, partner: bool = True,
                 gpu_price_usd: float | None = None) -> dict:
    """Break-even fleet (GPU equivalents) that repays the custom chip's NRE in ``years``."""
    p = params or default_params()
    uc = chip_unit_cost(custom, p, partner=partner)
    price_gpu = gpu_price_usd if gpu_price_usd is not None else gpu.price.list_usd
    if price_gpu is None:
        from fabless.errors import FablessError

        raise FablessError(f"{gpu.name} has no list price; pass gpu_price_usd")
    w_custom, _ = ownership_power_w(custom, p)
    w_gpu, _ = ownership_power_w(gpu, p)
    h_custom = float(chip_hour_terms_usd(uc.unit_usd, w_custom, p)["total"])
    h_gpu = float(chip_hour_terms_usd(price_gpu, w_gpu, p)["total"])
    nre = nre_usd(custom.physical.process_node, p)["total"]
    be = breakeven(custom_chip_hour_usd=h_custom, gpu_chip_hour_usd=h_gpu, throughput_ratio=throughput_ratio,
                   nre_usd=nre, years=years, hours_per_year=p.ownership.hours_per_year)
    return {"custom_unit_usd": uc.unit_usd, "custom_chip_hour_usd": h_custom, "gpu_chip_hour_usd": h_gpu,
            "nre_usd": nre, "throughput_ratio": throughput_ratio, "years": years,
            "saving_per_gpu_hour_usd": float(be["saving_per_gpu_hour_usd"]),
            "breakeven_fleet": float(be["breakeven_fleet"])}


def breakeven_tornado(custom: Chip, gpu: Chip, *, throughput_ratio: float, years: float = 4.0,
                      params: EconomicsParams | None = None, partner: bool = True, spread: float = 0.3,
                      gpu_price_usd: float | None = None) -> list[dict]:
    """Tornado of the break-even fleet over wafer price, defect density (yield), HBM
    price and achieved utilisation (the throughput ratio), each moved by +-``spread``."""
    p = params or default_params()
    node = custom.physical.process_node
    gen = custom.memory.hbm.generation.strip().lower()

    def model(x: dict) -> float:
        sil = p.silicon
        q = with_overrides(
            p,
            silicon={"wafer_price_usd": {**sil.wafer_price_usd, node: sil.wafer_price_usd[node] * x["wafer_price"]},
                     "defect_density_per_cm2": {**sil.defect_density_per_cm2, node: sil.defect_density_per_cm2[node] * x["defect_density"]}},
            package={"memory_usd_per_gb": {**p.package.memory_usd_per_gb, gen: p.package.memory_usd_per_gb[gen] * x["memory_price"]}},
        )
        return build_vs_buy(custom, gpu, throughput_ratio=throughput_ratio * x["utilisation"], years=years,
                            params=q, partner=partner, gpu_price_usd=gpu_price_usd)["breakeven_fleet"]

    base = {"wafer_price": 1.0, "defect_density": 1.0, "memory_price": 1.0, "utilisation": 1.0}
    lo, hi = 1 - spread, 1 + spread
    return tornado(model, base, {k: (lo, hi) for k in base})
