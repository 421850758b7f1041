"""Cost of work on a scenario: the performance engine's delivered throughput priced at
owned (buy) and rented cost per chip-hour; and build versus buy driven by the same
estimates.

Inference (per chip, from one estimate; ``e2e = TTFT + (out - 1) x TPOT``)::

    output tok/s/chip  = engine's output_tokens_per_s_per_chip
    input tok/s/chip   = output tok/s/chip x input_tokens / output_tokens
    prefill share s    = TTFT / e2e        (chip time spent on the prompt)
    $/M input          = chip-hour x s       / (3600 x input tok/s/chip)  x 1e6
    $/M output         = chip-hour x (1 - s) / (3600 x output tok/s/chip) x 1e6
    $/M output all-in  = chip-hour           / (3600 x output tok/s/chip) x 1e6

Training: ``$/Mtoken = chip-hour / (3600 x tok/s/chip) x 1e6`` and ``$/run = $/Mtoken x
run tokens / 1e6`` (the scenario's ``training.tokens``).

Tokens per joule at the chip: tok/s/chip / P, with P from the power model at the
estimate's matrix utilisation (training: HFU; inference: 2 x active parameters x
(input + output) tok/s/chip / peak), memory and links at full rate, capped at the
published TDP when there is one (the chip's power manager holds it there).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fabless.errors import FablessError, InfeasibleDesign, NoSystemPreset
from fabless.estimate.engine import estimate, resolve_system
from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware.presets import all_systems, load_chip, load_system
from fabless.hardware.schema import Chip
from fabless.loading import read_yaml
from fabless.workload import load_model

from .breakeven import breakeven_tornado, case_from_chips, fleet_terms, monte_carlo
from .ownership import breakeven, chip_hour
from .params import EconomicsParams, default_params
from .power import chip_power, power_dtype
from .unit_cost import chip_unit_cost


def _is_system_file(ref: str) -> bool:
    path = Path(ref)
    if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
        return False
    raw = read_yaml(path)
    return isinstance(raw, dict) and "scale_up" in raw and "chip" in raw


def check_refs(refs: list[str]) -> None:
    """Raise the one-line FablessError of the first ref that is no chip preset, chip YAML or
    system YAML. The CLI's ``tco --compare`` and ``fleet --chips`` call it first: a misspelt name
    is the user's mistake (exit 2), while :func:`tco_rows` (the API) reports it as a row."""
    for ref in refs:
        load_system(ref) if _is_system_file(ref) else load_chip(ref)


def host_system(base: dict, ref: str) -> str | None:
    """For a chip (preset or YAML) that no system preset is built from, the system of the
    scenario ``base`` to place it in (its scale-up topology, latencies and network, the chip's
    own links); None for a system file or a chip with a system preset of its own."""
    if _is_system_file(ref):
        return None
    name = load_chip(ref).name
    if any(s.chip.name == name for s in all_systems()):
        return None
    spec = base.get("system")
    own = spec.get("name") if isinstance(spec, dict) else None
    return own or resolve_system(scenario_from_dict(base)).name


def placement_note(base: dict, ref: str) -> str | None:
    """One line saying where a chip without a system of its own was placed, or None."""
    host = host_system(base, ref)
    if host is None:
        return None
    return (f"{ref} has no system of its own: placed in the scenario's {host} (its scale-up topology, latencies "
            f"and network) with its own link bandwidth; give a system YAML to set its own")


def scenario_for(base: dict, ref: str, count: int | None):
    """The scenario ``base`` (a raw dict) on another chip: ``ref`` is a chip preset or
    chip YAML (the engine picks the smallest system preset of that chip; a chip with none is
    placed in the scenario's own system, :func:`host_system`) or a system YAML."""
    raw = dict(base)
    host = host_system(base, ref)
    system = {"name": ref} if _is_system_file(ref) else ({"name": host, "chip": ref} if host else {"chip": ref})
    if count:
        system["count"] = count
    raw["system"] = system
    return scenario_from_dict(raw, f"scenario on {ref}")


def base_count(base: dict) -> int:
    """Chips in the scenario as written (its system's own count when none is given)."""
    return resolve_system(scenario_from_dict(base)).chips


def _matrix_util(est, scn, chip: Chip, dtype: str) -> float:
    m = est.metrics
    if est.phase == "training":
        return float(min(1.0, m.get("hfu") or m["mfu"]))
    return serving_matrix_util(float(m["output_tokens_per_s_per_chip"]), scn, chip, dtype)


def serving_matrix_util(output_tokens_per_s_per_chip: float, scn, chip: Chip, dtype: str) -> float:
    """Matrix utilisation of a chip that serves ``output_tokens_per_s_per_chip`` with the scenario's
    request lengths: 2 x active parameters FLOPs for every token served (prompt and answer), over
    the chip's peak in ``dtype``."""
    inf = scn.inference
    served = output_tokens_per_s_per_chip * (inf.input_tokens + inf.output_tokens) / inf.output_tokens
    return float(min(1.0, 2.0 * load_model(scn.model).params_active * served / chip.peak_flops(dtype)))


def _power_at_util(util: float, scn, chip: Chip, dtype: str, params: EconomicsParams) -> tuple[float, float, str]:
    pw = chip_power(chip, params, dtype=dtype, matrix_util=util, enforce_budget=False)
    if chip.physical.tdp_w is not None and pw.total_w > chip.physical.tdp_w:
        return float(chip.physical.tdp_w), util, "capped at TDP"
    return pw.total_w, util, "modelled" if chip.physical.tdp_w is not None else "modelled (no published TDP)"


def _power_dtype_of(scn, chip: Chip) -> str:
    return scn.precision.compute if chip.peak_flops(scn.precision.compute) else power_dtype(chip)


def work_power_w(est, scn, chip: Chip, params: EconomicsParams) -> tuple[float, float, str]:
    """(watts per chip, matrix utilisation, basis) while running the estimated work."""
    dtype = _power_dtype_of(scn, chip)
    return _power_at_util(_matrix_util(est, scn, chip, dtype), scn, chip, dtype, params)


def serving_power_w(output_tokens_per_s_per_chip: float, scn, chip: Chip, params: EconomicsParams) -> tuple[float, float, str]:
    """(watts per chip, matrix utilisation, basis) of a chip serving ``output_tokens_per_s_per_chip``
    (e.g. a serving simulation's throughput) with the inference scenario's request lengths: the same
    power model as :func:`work_power_w`, at :func:`serving_matrix_util`."""
    dtype = _power_dtype_of(scn, chip)
    return _power_at_util(serving_matrix_util(output_tokens_per_s_per_chip, scn, chip, dtype), scn, chip, dtype, params)


def price_work(est, scn, chip: Chip, params: EconomicsParams | None = None, *, partner: bool = False,
               price_tier: str | None = None, unit_cost_fallback: bool = False) -> dict:
    """One tco row from an estimate: owned and rented cost per chip-hour and per unit of work.

    Prices come from the chip's records in ``price_tier`` (:mod:`fabless.hardware.prices`);
    ``buy_price_basis`` and ``rent_price_basis`` name each record (provider, tier, date) or
    say there is none, and that column is then None. Only with ``unit_cost_fallback`` (a
    design file: a chip nobody sells) is a missing purchase price replaced by the modelled
    unit cost, and the basis says so."""
    p = params or default_params()
    ch = chip_hour(chip, p, price_tier=price_tier)
    if ch.owned_usd is None and unit_cost_fallback:
        ch = chip_hour(chip, p, price_usd=chip_unit_cost(chip, p, partner=partner).unit_usd,
                       price_basis="unit cost" + (" + partner margin" if partner else "") + ", no NRE", price_tier=price_tier)
    watts, util, wbasis = work_power_w(est, scn, chip, p)
    m = est.metrics
    row = {"chip": chip.name, "system": est.system, "chips": est.chips, "plan": est.plan.as_dict(), "fits": est.fits,
           "buy_chip_hour_usd": ch.owned_usd, "buy_price_usd": ch.price_usd, "buy_price_basis": ch.price_basis,
           "ownership_power_w": ch.power_w, "ownership_power_basis": ch.power_basis,
           "rent_chip_hour_usd": ch.rented_usd, "rent_price_basis": ch.rent_basis,
           "buy_price_source": ch.buy_record.source if ch.buy_record else None,
           "rent_price_source": ch.rent_record.source if ch.rent_record else None,
           "power_w": watts, "power_basis": wbasis, "matrix_util": util}
    hours = {"buy": ch.owned_usd, "rent": ch.rented_usd}
    if est.phase == "inference":
        inf = scn.inference
        out = float(m["output_tokens_per_s_per_chip"])
        inp = out * inf.input_tokens / inf.output_tokens
        share = float(m["ttft_s"]) / float(m["e2e_latency_s"])
        row.update(tokens_per_s_per_chip=out, input_tokens_per_s_per_chip=inp, prefill_share=share,
                   tokens_per_joule=out / watts, joules_per_output_token=watts / out)
        for k, h in hours.items():
            row[f"{k}_usd_per_mtoken_input"] = None if h is None else h * share / (3600 * inp) * 1e6
            row[f"{k}_usd_per_mtoken_output"] = None if h is None else h * (1 - share) / (3600 * out) * 1e6
            row[f"{k}_usd_per_mtoken_output_all_in"] = None if h is None else h / (3600 * out) * 1e6
    else:
        rate = float(m["tokens_per_s_per_chip"])
        row.update(tokens_per_s_per_chip=rate, tokens_per_joule=rate / watts, joules_per_token=watts / rate, mfu=m["mfu"])
        tokens = scn.training.tokens
        if tokens:
            row["run_tokens"] = tokens
            row["training_time_days"] = float(m["training_time_s"]) / 86400
        for k, h in hours.items():
            row[f"{k}_usd_per_mtoken"] = None if h is None else h / (3600 * rate) * 1e6
            if tokens:
                row[f"{k}_usd_per_run"] = None if h is None else h / (3600 * rate) * tokens
    return row


def tco_rows(base: dict, refs: list[str], params: EconomicsParams | None = None, *, partner: bool = False,
             price_tier: str | None = None) -> list[dict]:
    """One row per chip (or system file) in ``refs``, the scenario re-run on each. A chip
    that cannot run it (no system preset, does not fit, no plan) gives a row with ``error``."""
    count = base_count(base)
    rows = []
    for ref in refs:
        try:
            scn = scenario_for(base, ref, count)
            est = estimate(scn)
            chip = resolve_system(scn).chip
            is_file = Path(ref).suffix.lower() in (".yaml", ".yml")
            row = price_work(est, scn, chip, params, partner=partner, price_tier=price_tier, unit_cost_fallback=is_file)
            if Path(ref).suffix.lower() in (".yaml", ".yml"):
                # a file: name the row by it (two files may hold chips of one name)
                row.update(chip=ref, chip_name=chip.name)
            note = placement_note(base, ref)
            if note:
                row["system_note"] = note
            rows.append(row)
        except NoSystemPreset:
            rows.append({"chip": ref, "error": "no system preset (give a system YAML with its scale-up domain)"})
        except (FablessError, InfeasibleDesign) as exc:
            rows.append({"chip": ref, "error": str(exc) or type(exc).__name__})
    return rows


def breakeven_report(base: dict, custom_ref: str, gpu_ref: str, params: EconomicsParams | None = None, *,
                     years: list[float] = (1, 2, 3, 4, 5), tornado_years: float = 4.0, fleet: float | None = None,
                     partner: bool = True, gpu_price_usd: float | None = None, spread: float = 0.3,
                     price_tier: str | None = None, samples: int = 20000, seed: int = 0) -> dict:
    """Build versus buy on a scenario: both chips estimated at the same chip count, the
    throughput ratio from their delivered tokens/s per chip; the break-even fleet by
    horizon (base case), its tornado and its Monte Carlo distribution (``samples`` draws,
    ``seed``) over ``tornado_years``; given ``fleet``, the payback years and P(pays back)."""
    p = params or default_params()
    count = base_count(base)
    out: dict = {}
    for role, ref in (("custom", custom_ref), ("gpu", gpu_ref)):
        scn = scenario_for(base, ref, count)
        try:
            est = estimate(scn)
        except NoSystemPreset:
            raise NoSystemPreset(f"breakeven ({role}): {ref}: no system preset; give a system YAML (chip: {ref}) "
                                 "with its scale-up domain") from None
        except (FablessError, InfeasibleDesign) as exc:
            raise type(exc)(f"breakeven ({role}): {exc}") from None
        out[role] = {"ref": ref, "chip": resolve_system(scn).chip, "estimate": est, "note": placement_note(base, ref)}
    custom, gpu = out["custom"]["chip"], out["gpu"]["chip"]
    rate = lambda e: float(e.metrics["output_tokens_per_s_per_chip" if e.phase == "inference" else "tokens_per_s_per_chip"])  # noqa: E731
    r_custom, r_gpu = rate(out["custom"]["estimate"]), rate(out["gpu"]["estimate"])
    ratio = r_custom / r_gpu
    case, gpu_basis = case_from_chips(custom, gpu, throughput_ratio=ratio, years=tornado_years, params=p,
                                      partner=partner, gpu_price_usd=gpu_price_usd, price_tier=price_tier)
    t0 = fleet_terms(case, {})
    table = []
    for y in years:
        f = float(fleet_terms(replace(case, years=float(y)), {})["fleet"])
        table.append({"years": float(y), "breakeven_fleet_gpus": f, "breakeven_fleet_custom_chips": f / ratio})
    tor = breakeven_tornado(custom, gpu, throughput_ratio=ratio, years=tornado_years, params=p, partner=partner,
                            spread=spread, gpu_price_usd=case.gpu_price_usd)
    mc = monte_carlo(case, samples=samples, seed=seed, fleet=fleet)
    report = {
        "custom": custom.name, "gpu": gpu.name, "chips_per_estimate": count,
        "custom_tokens_per_s_per_chip": r_custom, "gpu_tokens_per_s_per_chip": r_gpu, "throughput_ratio": ratio,
        "custom_unit_usd": float(t0["custom_unit_usd"]), "custom_chip_hour_usd": float(t0["custom_chip_hour_usd"]),
        "gpu_price_usd": case.gpu_price_usd, "gpu_price_basis": gpu_basis,
        "gpu_chip_hour_usd": float(t0["gpu_chip_hour_usd"]), "nre_usd": float(t0["nre_usd"]), "partner": partner,
        "cost_of_capital": p.ownership.cost_of_capital,
        "saving_per_gpu_hour_usd": float(t0["saving_per_gpu_hour_usd"]), "breakeven": table,
        "tornado_years": tornado_years, "tornado_spread": spread, "tornado": tor, "monte_carlo": mc,
        "notes": [n for n in (out["custom"]["note"], out["gpu"]["note"]) if n],
    }
    if fleet is not None:
        be = breakeven(custom_chip_hour_usd=report["custom_chip_hour_usd"], gpu_chip_hour_usd=report["gpu_chip_hour_usd"],
                       throughput_ratio=ratio, nre_usd=report["nre_usd"], fleet_gpu_equivalents=fleet,
                       hours_per_year=p.ownership.hours_per_year, cost_of_capital=p.ownership.cost_of_capital)
        report["fleet_gpus"] = fleet
        report["payback_years"] = float(be["payback_years"])
    return report
