"""`fabless cost CHIP_OR_DESIGN.yaml`: area, yield, unit cost, power, NRE, chip-hour."""

from __future__ import annotations

from pathlib import Path

import typer

from fabless import bounds
from fabless.bounds import finite_number, whole_number
from fabless.errors import FablessError
from fabless.hardware.presets import load_chip
from fabless.hardware.schema import DTYPES
from fabless.report import output_cli
from fabless.report.console import console, print_json, print_table
from fabless.report.format import Num, num, pct

from .area import chip_area
from .nre import nre_lines
from fabless.hardware.prices import check_tier

from .ownership import chip_hour
from .params import load_params
from .power import chip_power, power_at_tdp_load, power_dtype, tdp_load
from .unit_cost import Line, chip_unit_cost

JSON = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")
MAX_SAMPLES = 2_000_000  # ~20 float arrays of this length: a few hundred MB at most
PRICE_TIER_HELP = ("Which price: on-demand, 1-yr, 3-yr (rental) or list, street (purchase); the other kind keeps "
                   "its default (rent on-demand; buy list, else street). See docs/economics.md, Prices.")

cost_app = typer.Typer(help="What a chip costs: area, yield, unit cost, power, NRE and cost per chip-hour.")


@cost_app.command("cost")
def cost(
    chip: str = typer.Argument(..., help="A chip preset name (see `fabless chips list`) or a chip/design YAML file."),
    params: str = typer.Option(None, "--params", help="YAML overriding economics defaults (sections: silicon, package, partner, power, nre, ownership)."),
    partner: bool = typer.Option(False, "--partner", help="Buy the finished chip from a design partner (adds its per-unit margin)."),
    physical_cores: int = typer.Option(None, "--physical-cores", help="Cores on the die, if more than are enabled (harvesting), e.g. 144 for H100."),
    dtype: str = typer.Option("bf16", "--dtype", help="Datatype whose peak sets the power at full load."),
    utilisation: float = typer.Option(1.0, "--utilisation", help="Matrix-unit utilisation for the power line (0-1)."),
    price_tier: str = typer.Option(None, "--price-tier", help=PRICE_TIER_HELP),
    json: bool = JSON,
    html: str = output_cli.HTML,
    plot: str = output_cli.PLOT,
) -> None:
    """Area, yield, unit cost, power, NRE and cost per chip-hour, each line explained.

    Example: fabless cost h100-sxm --partner --json
    """
    if physical_cores is not None:
        whole_number(physical_cores, "--physical-cores", hi=bounds.MAX_UNITS, unit="cores")
    finite_number(utilisation, "--utilisation", lo=0, hi=1, lo_open=True, unit="(a fraction of peak)")
    if dtype not in DTYPES:
        raise FablessError(f"--dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    p = load_params(params)
    check_tier(price_tier)
    output_cli.check(html, plot)
    c = load_chip(chip)
    area = chip_area(c, p, cores_physical=physical_cores)
    uc = chip_unit_cost(c, p, partner=partner, cores_physical=physical_cores)
    # A shipped chip whose published TDP the model overshoots is reported, not rejected;
    # a design file's TDP is its power budget and must be met.
    is_design = Path(chip).suffix.lower() in (".yaml", ".yml")
    pw = chip_power(c, p, dtype=dtype, matrix_util=utilisation, die_area_mm2_total=area.total_mm2, enforce_budget=is_design)
    lines: list[Line] = []
    for part, mm2 in area.parts_mm2.items():
        if mm2:
            lines.append(Line(f"area: {part.replace('_', ' ')}", mm2, "mm2", "model, whole package", "silicon.yaml"))
    lines.append(Line("area: model total", area.model_per_die_mm2 * area.dies, "mm2",
                      f"{area.dies} die(s) of {num(round(area.model_per_die_mm2))} mm2; reticle {num(p.silicon.reticle_limit_mm2)} mm2",
                      p.cite("silicon.reticle_limit_mm2")))
    lines += uc.lines
    lines.append(Line("unit cost", uc.unit_usd, "USD", "package + board" + (" + partner margin" if partner else ""), ""))
    for term in ("static", "active", "matrix", "memory", "links"):
        lines.append(Line(f"power: {term}", pw.terms_w[term], "W", _power_how(term, pw.dtype, utilisation, pw.clock_mhz), _power_src(term, p)))
    tdp_note = (f"TDP {pw.tdp_w:g} W" if pw.tdp_w else "no published TDP: this modelled figure is used below")
    if pw.tdp_w and pw.sustained_clock_mhz is None:
        tdp_note += " (the model exceeds it)"
    lines.append(Line("power: total", pw.total_w, "W", f"modelled at {num(round(pw.clock_mhz))} MHz; {tdp_note}", ""))
    if pw.sustained_clock_mhz is not None:
        lines.append(Line("sustained clock", pw.sustained_clock_mhz, "MHz", "highest clock within the TDP (matrix power ~ f^(1+gamma))", p.cite("power.energy_clock_exponent")))
    if c.physical.tdp_w and not is_design:
        # The model's check against a shipped chip's TDP: the load the TDP is set for (docs/economics.md, Power).
        f_load, u_load, basis = tdp_load(c, p)
        at = power_at_tdp_load(c, p)
        lines.append(Line("power at the TDP load", at.total_w, "W",
                          f"{basis}: {num(round(f_load))} MHz, {u_load:.0%} of units busy; {at.total_w / c.physical.tdp_w - 1:+.0%} vs TDP",
                          "power_sustained.yaml" if basis != "peak clock" else ""))
    lines += nre_lines(c.physical.process_node, p)
    pw_own = None if c.physical.tdp_w is not None else _full_load_w(c, p, area.total_mm2)
    ch = chip_hour(c, p, power_w=pw_own, power_basis="modelled (no published TDP)", price_tier=price_tier)
    if ch.owned_usd is None:
        # nobody sells it (or not in this tier): own it at the modelled unit cost, and say so
        console_note = f"{c.name}: {ch.price_basis}; owned chip-hour at the modelled unit cost"
        ch = chip_hour(c, p, price_usd=uc.unit_usd, price_basis=f"unit cost ({ch.price_basis})",
                       power_w=pw_own, power_basis="modelled (no published TDP)", price_tier=price_tier)
    else:
        console_note = ""
    r = p.ownership.cost_of_capital
    for term, v in ch.terms.items():
        how = (f"price ${num(round(ch.price_usd))} ({ch.price_basis}) x CRF({r:.0%}, {p.ownership.depreciation_years:g} y)" if term == "hardware" else
               f"at {num(round(ch.power_w))} W chip power ({ch.power_basis})" if term in ("energy", "datacenter") else "")
        src = ch.buy_record.source if term == "hardware" and ch.buy_record and ch.price_basis == ch.buy_record.label() else "ownership.yaml"
        lines.append(Line(f"chip-hour owned: {term}", v, "USD/h", how, src))
    if ch.rented_usd is not None:
        lines.append(Line("chip-hour rented", ch.rented_usd, "USD/h", f"{ch.rent_basis}: {ch.rent_record.offer}", ch.rent_record.source))
    else:
        lines.append(Line("chip-hour rented", None, "USD/h", ch.rent_basis, "prices.yaml"))
    payload = {"chip": c.name, "partner": partner, "lines": [l.__dict__ for l in lines],
                    "summary": {"die_area_mm2": uc.area.per_die_mm2, "model_die_area_mm2": area.model_per_die_mm2,
                                "yield": uc.yield_fraction, "package_usd": uc.package_usd, "unit_usd": uc.unit_usd,
                                "power_w": pw.total_w, "tdp_w": pw.tdp_w, "ownership_power_w": ch.power_w,
                                "ownership_power_basis": ch.power_basis, "sustained_clock_mhz": pw.sustained_clock_mhz,
                                "nre_usd": next(l.value for l in lines if l.name == "NRE total"),
                                "owned_chip_hour_usd": ch.owned_usd, "rented_chip_hour_usd": ch.rented_usd,
                                "buy_price_basis": ch.price_basis, "rent_price_basis": ch.rent_basis,
                                "cost_of_capital": p.ownership.cost_of_capital}}
    output_cli.emit("cost", payload, html, plot, inputs={"chip": chip, "params": params, "partner": partner, "dtype": dtype,
                                                         "price_tier": price_tier})
    if json:
        print_json(payload)
        return
    print_table(["item", "value", "unit", "how", "source"],
                [[l.name, *((pct(l.value), "") if l.unit == "fraction" else (l.value, l.unit)), l.how, _short(l.source)]
                 for l in lines],
                title=f"{c.display_name}: cost" + (" (via a design partner)" if partner else ""))
    if console_note:
        console.print(console_note)
    console.print("Defaults and their sources: src/fabless/data/economics/*.yaml; override with --params FILE.yaml.")


def _full_load_w(c, p, area_mm2: float) -> float:
    return chip_power(c, p, dtype=power_dtype(c), die_area_mm2_total=area_mm2).total_w


def _short(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _power_how(term: str, dtype: str, util: float, clock: float) -> str:
    return {"static": "leakage W/mm2 x die area", "active": f"x matrix power at full rate (clock {num(round(clock))} MHz)",
            "matrix": f"{dtype} peak x {util:g} x pJ/FLOP (node, clock {num(round(clock))} MHz, MACs per unit)",
            "memory": "bandwidth x pJ/bit (HBM: DRAM + I/O)", "links": "SerDes bandwidth x pJ/bit"}[term]


def _power_src(term: str, p) -> str:
    return {"static": "power.leakage_w_per_mm2 (assumed)", "active": p.cite("power.active_rel_to_matrix"),
            "matrix": p.cite("power.bf16_flop_energy_pj"),
            "memory": "power.memory_pj_per_bit", "links": p.cite("power.serdes_pj_per_bit")}[term]


# ---------------------------------------------------------------- with a scenario


def _read_scenario(path: str) -> dict:
    from fabless.errors import FablessError
    from fabless.loading import read_yaml

    from fabless.estimate.scenario import require_language_model

    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise FablessError(f"{path}: expected a mapping of fields at the top level")
    require_language_model(raw.get("model"), "tco and breakeven")
    return dict(raw)


@cost_app.command("tco")
def tco(
    scenario: str = typer.Argument(..., help="A scenario YAML (model, system, precision, parallel, inference|training)."),
    compare: str = typer.Option(None, "--compare", help="Comma-separated chips (presets or chip YAMLs) or system YAMLs; default: the scenario's own chip."),
    params: str = typer.Option(None, "--params", help="YAML overriding economics defaults."),
    partner: bool = typer.Option(False, "--partner", help="Price design files (chips nobody sells) at unit cost + design-partner margin."),
    price_tier: str = typer.Option(None, "--price-tier", help=PRICE_TIER_HELP),
    json: bool = JSON,
    html: str = output_cli.HTML,
    plot: str = output_cli.PLOT,
) -> None:
    """$/Mtoken (inference: input and output) or $/run (training), tokens/J, bought and rented, per chip.

    The scenario is re-run on each chip at the same chip count; the engine picks the
    smallest system preset of that chip. Buy = owned cost per chip-hour (the purchase price
    in the tier, with the cost of capital); rent = the rental price in the tier. Each row
    names the price it used (provider, tier, date); a chip with no price in the tier shows
    '-' and says so. A design file without a price is bought at its modelled unit cost.

    Example: fabless tco examples/scenarios/llama-70b-serving-dgx-h100.yaml --compare h100-sxm,b200,tpu-v5p,trainium2
    """
    from .tco import check_refs, tco_rows

    from fabless.estimate.scenario import require_servable, scenario_from_dict

    check_tier(price_tier)
    output_cli.check(html, plot)
    base = _read_scenario(scenario)
    require_servable(scenario_from_dict(base, scenario), "fabless tco", training_ok=True)
    p = load_params(params)
    if compare:
        refs = [r.strip() for r in compare.split(",") if r.strip()]
        if not refs:
            raise FablessError(f"--compare: give chips or system files separated by commas, got '{compare}'")
        check_refs(refs)  # a misspelt chip is an error (exit 2), not a row of the comparison
    else:
        from fabless.estimate.engine import resolve_system

        refs = [resolve_system(scenario_from_dict(base, scenario)).chip.name]
    rows = tco_rows(base, refs, p, partner=partner, price_tier=price_tier)
    phase = "training" if "training" in base else "inference"
    payload = {"scenario": scenario, "phase": phase, "price_tier": price_tier, "rows": rows}
    output_cli.emit("tco", payload, html, plot, inputs={"compare": compare, "params": params, "partner": partner})
    if json:
        print_json(payload)
        return
    if phase == "inference":
        head = ["chip", "chips", "out tok/s/chip", "W/chip", "tok/J", "buy $/h", "buy $/M in", "buy $/M out",
                "rent $/h", "rent $/M in", "rent $/M out"]
        keys = ["buy_usd_per_mtoken_input", "buy_usd_per_mtoken_output", "rent_chip_hour_usd",
                "rent_usd_per_mtoken_input", "rent_usd_per_mtoken_output"]
    else:
        run = any("buy_usd_per_run" in r or "rent_usd_per_run" in r for r in rows)
        head = ["chip", "chips", "tok/s/chip", "W/chip", "tok/J", "buy $/h", "buy $/Mtok", "buy $/run" if run else "",
                "rent $/h", "rent $/Mtok", "rent $/run" if run else ""]
        keys = ["buy_usd_per_mtoken", "buy_usd_per_run", "rent_chip_hour_usd", "rent_usd_per_mtoken", "rent_usd_per_run"]
    table = []
    for r in rows:
        if "error" in r:
            table.append([r["chip"]] + [None] * (len(head) - 1))
            continue
        cells = [r["chip"], r["chips"], r["tokens_per_s_per_chip"], r["power_w"], r["tokens_per_joule"], r["buy_chip_hour_usd"]]
        cells += [r.get(k) for k in keys]
        table.append(cells)
    keep = [i for i, h in enumerate(head) if h]
    print_table([head[i] for i in keep], [[row[i] for i in keep] for row in table],
                title=f"{scenario}: cost of {phase}")
    notes = {r["chip"]: (f"buy at ${num(round(r['buy_price_usd']))} ({r['buy_price_basis']})" if r["buy_price_usd"] is not None
                         else f"buy: {r['buy_price_basis']}, not priced")
             + (f"; rent ${num(r['rent_chip_hour_usd'])}/h ({r['rent_price_basis']})" if r["rent_chip_hour_usd"] is not None
                else f"; rent: {r['rent_price_basis']}, not priced")
             + f"; power {r['power_basis']}"
             + (f"; charged on {num(round(r['ownership_power_w']))} W, {r['ownership_power_basis']}" if "no published" in r["ownership_power_basis"] else "")
             for r in rows if "error" not in r}
    for r in rows:
        console.print(f"{r['chip']}: {r['error'] if 'error' in r else notes[r['chip']]}")
        if r.get("system_note"):
            console.print(f"  {r['system_note']}")
    console.print("$/M in and out split the chip time between prefill (TTFT) and decode; --json has all-in output figures."
                  if phase == "inference" else "$/run = $/Mtoken x training.tokens / 1e6.")


@cost_app.command("breakeven")
def breakeven_cmd(
    scenario: str = typer.Argument(..., help="A scenario YAML; both chips run it at its chip count."),
    custom: str = typer.Option(..., "--custom", help="The custom chip: a chip YAML with a system preset, or a system YAML built on it."),
    against: str = typer.Option("h100-sxm", "--against", help="The purchased GPU (a chip preset with a purchase price on record)."),
    years: float = typer.Option(4.0, "--years", help="Payback horizon for the tornado and the Monte Carlo (years)."),
    fleet: float = typer.Option(None, "--fleet", help="GPUs the custom chips would replace: gives the payback years and P(pays back)."),
    partner: bool = typer.Option(True, "--partner/--no-partner", help="Buy the custom chip from a design partner (its margin per unit)."),
    gpu_price: float = typer.Option(None, "--gpu-price", help="GPU price in USD, instead of its price on record."),
    price_tier: str = typer.Option(None, "--price-tier", help="Which purchase price of the GPU: list or street (default: list, else street)."),
    samples: int = typer.Option(20000, "--samples", help="Monte Carlo draws."),
    seed: int = typer.Option(0, "--seed", help="Monte Carlo seed (the same seed repeats the same draws)."),
    params: str = typer.Option(None, "--params", help="YAML overriding economics defaults."),
    json: bool = JSON,
    html: str = output_cli.HTML,
    plot: str = output_cli.PLOT,
) -> None:
    """Build versus buy at equal delivered throughput: the fleet that repays the NRE in 1-5 years,
    a tornado, and a Monte Carlo of the break-even fleet (quantiles; P(pays back) at --fleet).

    Example: fabless breakeven examples/scenarios/llama-70b-serving-dgx-h100.yaml --custom examples/scenarios/hardware/my-chip-system.yaml --against h100-sxm --fleet 20000
    """
    from fabless.errors import FablessError

    from .tco import breakeven_report

    import math

    if not (years > 0 and math.isfinite(years)):
        raise FablessError(f"--years must be a positive number of years, got {years}")
    if fleet is not None and not (fleet > 0 and math.isfinite(fleet)):
        raise FablessError(f"--fleet must be a positive number of GPUs, got {fleet}")
    if gpu_price is not None and not (gpu_price > 0 and math.isfinite(gpu_price)):
        raise FablessError(f"--gpu-price must be a positive USD amount, got {gpu_price}")
    # Upper bounds too: 1e308 passes the checks above and overflows the ownership arithmetic.
    finite_number(years, "--years", hi=100, unit="years")
    if fleet is not None:
        finite_number(fleet, "--fleet", hi=bounds.MAX_CHIPS, unit="GPUs")
    if gpu_price is not None:
        finite_number(gpu_price, "--gpu-price", hi=1e9, unit="USD")
    if not 1 <= samples <= MAX_SAMPLES:
        raise FablessError(f"--samples must be between 1 and {MAX_SAMPLES:,}, got {samples}")
    check_tier(price_tier)
    if price_tier is not None and price_tier not in ("list", "street"):
        raise FablessError(f"--price-tier: breakeven buys the GPU, so the tier is list or street, got '{price_tier}'")
    output_cli.check(html, plot)
    base = _read_scenario(scenario)
    rep = breakeven_report(base, custom, against, load_params(params), tornado_years=years, fleet=fleet,
                           partner=partner, gpu_price_usd=gpu_price, price_tier=price_tier, samples=samples, seed=seed)
    output_cli.emit("breakeven", rep, html, plot, inputs={"scenario": scenario, "years": years, "fleet": fleet,
                                                          "samples": samples, "seed": seed, "params": params})
    if json:
        print_json(rep)
        return
    c, g = rep["custom"], rep["gpu"]
    head = [
        ["tokens/s per chip", rep["custom_tokens_per_s_per_chip"], rep["gpu_tokens_per_s_per_chip"]],
        ["owned $ per chip-hour", rep["custom_chip_hour_usd"], rep["gpu_chip_hour_usd"]],
        ["unit price $", Num(num(round(rep["custom_unit_usd"])) + (" (partner)" if rep["partner"] else " (at cost)")),
         Num(f"{num(round(rep['gpu_price_usd']))} ({rep['gpu_price_basis']})")],
        ["NRE $", round(rep["nre_usd"]), None],
    ]
    print_table(["", c, g], head, title=f"{scenario}: {c} vs {g} at {rep['chips_per_estimate']} chips")
    for note in rep.get("notes", []):
        console.print(note)
    console.print(f"1 {c} delivers {num(rep['throughput_ratio'])} x a {g}; each {g} replaced saves "
                  f"${num(rep['saving_per_gpu_hour_usd'])}/h (cost of capital {rep['cost_of_capital']:.0%}).")
    rows = [[f"{r['years']:g}", _fleet(r["breakeven_fleet_gpus"]), _fleet(r["breakeven_fleet_custom_chips"])] for r in rep["breakeven"]]
    print_table(["years to repay NRE", f"fleet ({g})", f"fleet ({c})"], rows, title="break-even fleet (base case)")
    if "payback_years" in rep:
        pb = rep["payback_years"]
        console.print(f"Replacing {num(round(rep['fleet_gpus']))} {g}: NRE paid back in "
                      + ("never (no saving)" if pb == float("inf") else f"{num(pb, 3)} years") + " (base case).")
    tor = [[t["input"], f"{t['low']:.3g} / {t['high']:.3g}", f"{t['base']:.3g}", _fleet(t["result_low"]),
            _fleet(t["result_high"]), _fleet(t["swing"])] for t in rep["tornado"]]
    base_fleet = rep["tornado"][0]["base_result"] if rep["tornado"] else float("nan")
    print_table(["input", "low / high", "base", "fleet at low", "fleet at high", "swing"], tor,
                title=f"tornado: break-even fleet ({g} equivalents) over {rep['tornado_years']:g} years, base {_fleet(base_fleet)}")
    mc = rep["monte_carlo"]
    q = mc["quantiles"]
    print_table(["quantile", f"break-even fleet ({g} equivalents)"], [[k, _fleet(v)] for k, v in q.items()],
                title=f"Monte Carlo: {num(mc['samples'])} draws (seed {mc['seed']}) over {mc['years']:g} years")
    console.print(f"Never pays back within {mc['years']:g} years in {mc['p_never']:.1%} of draws.")
    if "p_pays_back" in mc:
        console.print(f"P(pays back with {num(round(mc['fleet_gpus']))} {g} equivalents) = {mc['p_pays_back']:.1%}.")
    console.print("Inputs and their distributions: docs/economics.md, Break-even; --json lists them with their reasons.")


def _fleet(v: float) -> Num:
    return Num("never" if v == float("inf") else num(round(v)))
