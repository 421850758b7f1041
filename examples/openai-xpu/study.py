"""The OpenAI-XPU study: read a finished search, choose a design, price it, and compare it
with buying B200s and renting TPU v6e: $/Mtoken per scenario and the break-even fleet.

    fabless explore examples/openai-xpu/space.yaml --out xpu-results
    python examples/openai-xpu/study.py xpu-results [--json]
    python examples/openai-xpu/make_readme.py     # re-runs both and rewrites README.md

The chosen design is the front design with the most tokens per dollar (the front's first
row). Break-even uses fabless.economics.breakeven: the fleet, in B200 (or TPU v6e)
equivalents, whose saving repays the NRE, with the cost of capital, within the depreciation
period; against the bought B200 also at other B200 prices and as a Monte Carlo over the
inputs that decide it (GPU price, partner margin, NRE, software maturity, cost of capital,
respin, delay, generations, utilisation, power price; docs/economics.md).
"""

from __future__ import annotations

import json
import sys

from dataclasses import replace

from fabless.economics import breakeven, default_params
from fabless.economics.breakeven import BreakevenCase, fleet_terms, monte_carlo
from fabless.economics.params import node_value
from fabless.hardware.presets import load_chip
from fabless.hardware.prices import buy_price
from fabless.explore import front, space_from_dict
from fabless.explore.analysis import reference_points
from fabless.explore.cli import design_summary
from fabless.explore.store import Store


#: B200 prices at which the break-even is also shown (issue #15: $25-30k paid by large buyers).
GPU_PRICES_USD = (30000.0, 25000.0)
SAMPLES, SEED = 20000, 0
#: Fleets (reference-chip equivalents) at which the probability of paying back is shown.
FLEETS = (5000.0, 20000.0, 100000.0)


def _case(best, space, ref_name: str, ratio: float, years: float) -> BreakevenCase:
    """The design against a bought reference chip, as the break-even model's base case."""
    p = default_params()
    chip = load_chip(ref_name)
    rec = buy_price(chip)
    gm = p.partner.gross_margin if space.economics.partner else 0.0
    node = str(best["process_node"])
    return BreakevenCase(gpu_price_usd=rec.usd, gpu_power_w=float(chip.physical.tdp_w),
                         custom_cost_usd=float(best["unit_cost_usd"]) * (1 - gm), custom_power_w=float(best["tdp_w"]),
                         throughput_ratio=ratio, nre_usd=float(best["nre_usd"]),
                         respin_nre_usd=node_value(p.nre.mask_set_usd, node, "mask set price"), years=years,
                         partner=space.economics.partner, params=p)


def main(results: str = "xpu-results", as_json: bool = False) -> dict:
    store = Store(results, read_only=True)
    space = space_from_dict(json.loads(store.meta()["space"]), results)
    df = store.frame()
    fr = front(df, space.objective_list)
    best = fr.iloc[0]
    refs = {r["name"]: r for r in reference_points(space, ("b200", "tpu-v6e"))}
    own = default_params().ownership
    years, wacc = own.depreciation_years, own.cost_of_capital
    scen = [s.name for s in space.workload]
    out = {"designs": len(df), "feasible": int(df["feasible"].sum()), "front": len(fr),
           "chosen": {"id": int(best["id"]), "design": design_summary(best, space),
                      **{k: float(best[k]) for k in ("unit_cost_usd", "chip_hour_usd", "nre_usd", "tdp_w", "die_area_per_die_mm2",
                                                     "dies", "hbm_gb", "peak_bf16_tflops", "tokens_per_usd", "joules_per_token")}},
           "scenarios": {}, "breakeven": {}}
    for s in scen:
        row = {"design": {"tokens_per_s_per_chip": float(best[f"{s}.tokens_per_s_per_chip"]),
                          "usd_per_mtoken": float(best[f"{s}.usd_per_mtoken"]), "batch": float(best[f"{s}.batch"])}}
        for name, r in refs.items():
            ok = r[f"{s}.tokens_per_s_per_chip"] > 0
            row[name] = {"tokens_per_s_per_chip": float(r[f"{s}.tokens_per_s_per_chip"]) if ok else None,
                         "usd_per_mtoken": float(r[f"{s}.usd_per_mtoken"]) if ok else None,
                         "price_basis": r["price_basis"], "chip_hour_usd": float(r["chip_hour_usd"]),
                         "owned": r["price_basis"].startswith("owned"),
                         "note": "" if ok else r["reason"] or "cannot serve this scenario"}
            if ok:
                ratio = float(best[f"{s}.tokens_per_s_per_chip"] / r[f"{s}.tokens_per_s_per_chip"])
                be = breakeven(custom_chip_hour_usd=float(best["chip_hour_usd"]), gpu_chip_hour_usd=float(r["chip_hour_usd"]),
                               throughput_ratio=ratio, nre_usd=float(best["nre_usd"]), years=years, cost_of_capital=wacc)
                entry = {"throughput_ratio": ratio, "saving_per_ref_chip_hour_usd": float(be["saving_per_gpu_hour_usd"]),
                         "breakeven_fleet_ref_chips": float(be["breakeven_fleet"]), "years": years, "cost_of_capital": wacc,
                         "ref_price_basis": r["price_basis"]}
                if row[name]["owned"]:
                    case = _case(best, space, name, ratio, years)
                    entry["ref_price_usd"] = case.gpu_price_usd
                    entry["at_ref_price_usd"] = {f"{g:.0f}": float(fleet_terms(replace(case, gpu_price_usd=g), {})["fleet"])
                                                 for g in GPU_PRICES_USD}
                    entry["monte_carlo"] = monte_carlo(case, samples=SAMPLES, seed=SEED, fleet=None)
                    entry["monte_carlo"].pop("inputs")
                    # the same seed draws the same samples: P(pays back) at a small and a large fleet
                    entry["monte_carlo"]["p_pays_back_at"] = {
                        f"{n:.0f}": monte_carlo(case, samples=SAMPLES, seed=SEED, fleet=n)["p_pays_back"] for n in FLEETS}
                out["breakeven"][f"{s} vs {name}"] = entry
        out["scenarios"][s] = row
    store.close()
    if as_json:
        print(json.dumps(out, indent=2))
        return out
    c = out["chosen"]
    print(f"{out['designs']:,} designs, {out['feasible']:,} feasible, {out['front']} on the front")
    print(f"chosen design {c['id']}: {c['design']}")
    print(f"  {c['die_area_per_die_mm2']:.0f} mm2 x {c['dies']:.0f} die(s), {c['peak_bf16_tflops']:.0f} bf16 TFLOP/s, "
          f"{c['hbm_gb']:.0f} GB HBM, {c['tdp_w']:.0f} W")
    print(f"  unit cost ${c['unit_cost_usd']:,.0f} (partner price), owned ${c['chip_hour_usd']:.2f}/chip-hour, "
          f"NRE ${c['nre_usd'] / 1e6:,.0f}M")
    for s, row in out["scenarios"].items():
        print(f"{s}:")
        for who, v in row.items():
            if v["tokens_per_s_per_chip"] is None:
                print(f"  {who:8s} -  ({v['note']})")
            else:
                basis = f", {v['price_basis']} ${v['chip_hour_usd']:.2f}/h" if "price_basis" in v else ""
                print(f"  {who:8s} {v['tokens_per_s_per_chip']:8.0f} tokens/s/chip  ${v['usd_per_mtoken']:.3f}/Mtoken{basis}")
    for k, v in out["breakeven"].items():
        fleet = v["breakeven_fleet_ref_chips"]
        print(f"break-even {k}: throughput ratio {v['throughput_ratio']:.2f}, saves ${v['saving_per_ref_chip_hour_usd']:.2f} "
              f"per replaced chip-hour; NRE repaid in {v['years']:g} years at {v['cost_of_capital']:.0%} by a fleet of "
              f"{_fleet(fleet)} replaced chips")
        for g, f in v.get("at_ref_price_usd", {}).items():
            print(f"  at ${int(g):,} per reference chip: {_fleet(f)}")
        if "monte_carlo" in v:
            mc = v["monte_carlo"]
            q = mc["quantiles"]
            print(f"  Monte Carlo ({mc['samples']:,} draws, seed {mc['seed']}): median {_fleet(q['p50'])}, "
                  f"5-95% {_fleet(q['p05'])} to {_fleet(q['p95'])}; never pays back in {mc['p_never']:.1%} of draws")
    return out


def _fleet(v: float) -> str:
    return "never" if v == float("inf") else f"{v:,.0f}"


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args[0] if args else "xpu-results", "--json" in sys.argv)
