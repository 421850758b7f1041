"""`fabless cost CHIP_OR_DESIGN.yaml`: area, yield, unit cost, power, NRE, chip-hour."""

from __future__ import annotations

import typer

from fabless.hardware.presets import load_chip
from fabless.report.console import console, print_json, print_table

from .area import chip_area
from .nre import nre_lines
from .ownership import chip_hour
from .params import load_params
from .power import chip_power
from .unit_cost import Line, chip_unit_cost

JSON = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")

cost_app = typer.Typer(help="What a chip costs: area, yield, unit cost, power, NRE and cost per chip-hour.")


@cost_app.command("cost")
def cost(
    chip: str = typer.Argument(..., help="A chip preset name (see `fabless chips list`) or a chip/design YAML file."),
    params: str = typer.Option(None, "--params", help="YAML overriding economics defaults (sections: silicon, package, partner, power, nre, ownership)."),
    partner: bool = typer.Option(False, "--partner", help="Buy the finished chip from a design partner (adds its per-unit margin)."),
    physical_cores: int = typer.Option(None, "--physical-cores", help="Cores on the die, if more than are enabled (harvesting), e.g. 144 for H100."),
    dtype: str = typer.Option("bf16", "--dtype", help="Datatype whose peak sets the power at full load."),
    utilisation: float = typer.Option(1.0, "--utilisation", help="Matrix-unit utilisation for the power line (0-1)."),
    json: bool = JSON,
) -> None:
    """Area, yield, unit cost, power, NRE and cost per chip-hour, each line explained.

    Example: fabless cost h100-sxm --partner --json
    """
    p = load_params(params)
    c = load_chip(chip)
    area = chip_area(c, p, cores_physical=physical_cores)
    uc = chip_unit_cost(c, p, partner=partner, cores_physical=physical_cores)
    pw = chip_power(c, p, dtype=dtype, matrix_util=utilisation, die_area_mm2_total=area.total_mm2)
    lines: list[Line] = []
    for part, mm2 in area.parts_mm2.items():
        if mm2:
            lines.append(Line(f"area: {part.replace('_', ' ')}", mm2, "mm2", "model, whole package", "silicon.yaml"))
    lines.append(Line("area: model total", area.model_per_die_mm2 * area.dies, "mm2",
                      f"{area.dies} die(s) of {area.model_per_die_mm2:.0f} mm2; reticle {p.silicon.reticle_limit_mm2:g} mm2",
                      p.cite("silicon.reticle_limit_mm2")))
    lines += uc.lines
    lines.append(Line("unit cost", uc.unit_usd, "USD", "package + board" + (" + partner margin" if partner else ""), ""))
    for term in ("static", "matrix", "memory", "links"):
        lines.append(Line(f"power: {term}", pw.terms_w[term], "W", _power_how(term, pw.dtype, utilisation, pw.clock_mhz), _power_src(term, p)))
    lines.append(Line("power: total", pw.total_w, "W", f"at {pw.clock_mhz:.0f} MHz; TDP {pw.tdp_w or '-'} W", ""))
    if pw.sustained_clock_mhz is not None:
        lines.append(Line("sustained clock", pw.sustained_clock_mhz, "MHz", "highest clock within the TDP (matrix power ~ f^(1+gamma))", p.cite("power.energy_clock_exponent")))
    lines += nre_lines(c.physical.process_node, p)
    ch = chip_hour(c, p, price_usd=uc.unit_usd if (c.price.list_usd is None) else None,
                   price_basis="unit cost" if c.price.list_usd is None else None)
    for term, v in ch.terms.items():
        lines.append(Line(f"chip-hour owned: {term}", v, "USD/h", f"price ${ch.price_usd:,.0f} ({ch.price_basis})" if term == "hardware" else "", f"ownership.yaml"))
    if ch.rented_usd is not None:
        lines.append(Line("chip-hour rented", ch.rented_usd, "USD/h", c.price.cloud_offer or "cloud price", "chip preset"))
    if json:
        print_json({"chip": c.name, "partner": partner, "lines": [l.__dict__ for l in lines],
                    "summary": {"die_area_mm2": uc.area.per_die_mm2, "model_die_area_mm2": area.model_per_die_mm2,
                                "yield": uc.yield_fraction, "package_usd": uc.package_usd, "unit_usd": uc.unit_usd,
                                "power_w": pw.total_w, "tdp_w": pw.tdp_w, "sustained_clock_mhz": pw.sustained_clock_mhz,
                                "nre_usd": next(l.value for l in lines if l.name == "NRE total"),
                                "owned_chip_hour_usd": ch.owned_usd, "rented_chip_hour_usd": ch.rented_usd}})
        return
    print_table(["item", "value", "unit", "how", "source"], [[l.name, l.value, l.unit, l.how, _short(l.source)] for l in lines],
                title=f"{c.display_name}: cost" + (" (via a design partner)" if partner else ""))
    console.print("Defaults and their sources: src/fabless/data/economics/*.yaml; override with --params FILE.yaml.")


def _short(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _power_how(term: str, dtype: str, util: float, clock: float) -> str:
    return {"static": "leakage W/mm2 x die area", "matrix": f"{dtype} peak x {util:g} x pJ/FLOP (node, clock {clock:.0f} MHz)",
            "memory": "bandwidth x pJ/bit (HBM: DRAM + I/O)", "links": "SerDes bandwidth x pJ/bit"}[term]


def _power_src(term: str, p) -> str:
    return {"static": "power.leakage_w_per_mm2 (assumed)", "matrix": p.cite("power.bf16_flop_energy_pj"),
            "memory": "power.memory_pj_per_bit", "links": p.cite("power.serdes_pj_per_bit")}[term]
