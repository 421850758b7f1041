"""Prices with tier and date (data/economics/prices.yaml), --price-tier, and the break-even's
deterministic case and Monte Carlo, checked against hand arithmetic and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fabless.economics import default_params
from fabless.economics.breakeven import INPUTS, BreakevenCase, fleet_terms, mean_maturity, monte_carlo
from fabless.hardware.presets import chip_names, load_chip
from fabless.hardware.prices import TIERS, buy_price, price_records, rent_price, select_price
from tests.conftest import assert_one_line_error

SERVE = "examples/scenarios/llama-70b-serving-dgx-h100.yaml"
CUSTOM = "examples/scenarios/hardware/my-chip-system.yaml"
H = 8760.0


def crf(r, n):
    return r / (1 - (1 + r) ** -n)


# ---------------------------------------------------------------- the price file


def test_every_price_has_a_source_a_date_and_a_known_chip():
    names = set(chip_names())
    for r in price_records():
        assert r.chip in names, r.chip
        assert r.date is not None and r.source.strip(), r
        assert r.tier in TIERS


def test_chip_files_carry_no_price():
    # one place for a price: the price file
    for name in chip_names():
        p = load_chip(name).price
        assert p.list_usd is None and p.cloud_usd_per_hr is None, name


def test_issue_chips_are_filled_or_stated_missing():
    have = {r.chip for r in price_records()}
    for chip in ("b200", "gb200", "mi300x", "mi325x", "tpu-v5e", "tpu-v5p", "tpu-v6e", "trainium1", "inferentia2",
                 "trainium2", "graviton3", "graviton4", "xeon-8488c"):
        assert chip in have, chip
    # no public per-chip price found: the file's header says so, and selection returns none
    for chip in ("tpu-v7",):
        assert all(select_price(chip, t) is None for t in TIERS)
    # Trainium2: rented on demand only (no reserved, purchase or capacity-block price published)
    assert [t for t in TIERS if select_price("trainium2", t) is not None] == ["on-demand"]


def test_selection_rule_by_hand():
    # H100 on-demand quotes: Lambda 3.29 (2025-02-28), RunPod 2.99 (2025-03-03), AWS 12.29 and
    # Google 11.06 (2025-03-17, the newest); all within a year of the newest -> the cheapest, RunPod.
    r = select_price("h100-sxm", "on-demand")
    assert (r.provider, r.usd, r.date.isoformat()) == ("RunPod", 2.99, "2025-03-03")
    # 1-yr: only Google's committed-use price
    assert select_price("h100-sxm", "1-yr").usd == 7.67
    # H200: AWS's pre-cut 10.60 (2025-03-17) is over a year older than the newest (2026-06-01): out
    assert select_price("h200-sxm", "on-demand").usd == 2.25
    # purchase: list first, else street; H100 street quotes 31,119.50 (2023-09, over a year
    # before the newest, out), 31,904.63 (2025-01) and 31,250 (2025-03) -> 31,250
    h100 = load_chip("h100-sxm")
    assert buy_price(h100).usd == 31250 and buy_price(h100).tier == "street"
    assert buy_price(load_chip("gaudi3")).tier == "list" and buy_price(load_chip("gaudi3")).usd == 15625
    # a rental tier leaves the purchase at its default, and the other way round
    assert buy_price(h100, "3-yr").usd == 31250 and rent_price(h100, "street").usd == 2.99


# ---------------------------------------------------------------- CLI: tiers


@pytest.mark.parametrize("cmd", [("cost", "h100-sxm"), ("tco", SERVE), ("breakeven", SERVE, "--custom", CUSTOM)])
def test_unknown_tier_is_one_line_error(cli, cmd):
    assert_one_line_error(cli(*cmd, "--price-tier", "2-yr"), "--price-tier")


def test_tco_one_tier_across_chips_and_missing_prices_said(cli):
    r = cli("tco", SERVE, "--compare", "h100-sxm,tpu-v6e,b200", "--price-tier", "1-yr", "--json")
    assert r.code == 0, r.err
    rows = {row["chip"]: row for row in r.json()["rows"]}
    assert rows["h100-sxm"]["rent_chip_hour_usd"] == 7.67 and "1-yr" in rows["h100-sxm"]["rent_price_basis"]
    assert rows["tpu-v6e"]["rent_chip_hour_usd"] == 1.89
    assert rows["b200"]["rent_chip_hour_usd"] is None and rows["b200"]["rent_price_basis"] == "no 1-yr price"
    table = cli("tco", SERVE, "--compare", "h100-sxm,b200", "--price-tier", "1-yr")
    assert "b200" in table.out and "rent: no 1-yr price, not priced" in table.out.replace("\n", " ")


def test_cost_names_the_price_and_its_date(cli):
    r = cli("cost", "h100-sxm", "--price-tier", "3-yr", "--json")
    assert r.code == 0, r.err
    s = r.json()["summary"]
    assert s["rented_chip_hour_usd"] == 4.86 and s["rent_price_basis"] == "Google Cloud 3-yr 2025-03-17"
    assert s["buy_price_basis"] == "uvation (reseller) street 2025-03-03"


def test_breakeven_rejects_rental_tier_and_bad_samples(cli):
    assert_one_line_error(cli("breakeven", SERVE, "--custom", CUSTOM, "--price-tier", "on-demand"), "list or street")
    assert_one_line_error(cli("breakeven", SERVE, "--custom", CUSTOM, "--samples", "0"), "--samples")
    assert_one_line_error(cli("breakeven", SERVE, "--custom", CUSTOM, "--samples", "100000000"), "--samples")
    assert_one_line_error(cli("breakeven", SERVE, "--custom", CUSTOM, "--gpu-price", "-5"), "--gpu-price")
    assert_one_line_error(cli("breakeven", SERVE, "--custom", CUSTOM, "--gpu-price", "inf"), "--gpu-price")
    assert_one_line_error(cli("breakeven", SERVE, "--custom", CUSTOM, "--fleet", "nan"), "--fleet")


def test_cost_of_capital_out_of_range_is_one_line_error(cli, tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("ownership:\n  cost_of_capital: 1.5\n")
    assert_one_line_error(cli("cost", "h100-sxm", "--params", str(bad)), "cost_of_capital")


# ---------------------------------------------------------------- break-even, deterministic


def _case(**kw) -> BreakevenCase:
    base = dict(gpu_price_usd=30000.0, gpu_power_w=700.0, custom_cost_usd=6000.0, custom_power_w=500.0,
                throughput_ratio=0.8, nre_usd=5e8, respin_nre_usd=3e7, years=4.0, partner=True, params=default_params())
    base.update(kw)
    return BreakevenCase(**base)


def _hour(price, watts, r=0.10, kwh=0.08, apf=0.75):
    # ownership.yaml: 1.64 server / accelerator, 19% network, 5% ops, 1.82 server / TDP, PUE 1.25,
    # $11.7M per MW over 15 years, 5-year depreciation
    capex = price * 1.64 / 0.81
    kw = watts * 1.82 / 1000
    return (capex * crf(r, 5) / H + capex * 0.05 / H + kw * apf * 1.25 * kwh + kw / 1000 * 11.7e6 * crf(r, 15) / H)


def test_breakeven_deterministic_case_by_hand():
    case = _case()
    h_gpu = _hour(30000, 700)
    h_custom = _hour(6000 / (1 - 0.60), 500)  # partner margin 60%: unit = cost / 0.4 = $15,000
    saving = h_gpu - h_custom / 0.8
    t = fleet_terms(case, {})
    assert float(t["custom_unit_usd"]) == pytest.approx(15000)
    assert float(t["gpu_chip_hour_usd"]) == pytest.approx(h_gpu, rel=1e-9)
    assert float(t["saving_per_gpu_hour_usd"]) == pytest.approx(saving, rel=1e-9)
    assert float(t["fleet"]) == pytest.approx(5e8 * crf(0.10, 4) / (saving * H), rel=1e-9)
    # one respin (a mask set, 4.5 months late) and two generations: NRE 2 x (5e8 + 3e7) over 3.625 years
    t2 = fleet_terms(case, {"respin": 1.0, "generations": 2.0})
    assert float(t2["years_deployed"]) == pytest.approx(4 - 4.5 / 12)
    assert float(t2["fleet"]) == pytest.approx(2 * 5.3e8 * crf(0.10, 3.625) / (saving * H), rel=1e-9)
    # software at 60% of its model, maturing with tau = 1 year: mean over 4 years 1 - 0.4 x (1 - e^-4) / 4
    m = 1 - 0.4 * (1 - math.exp(-4)) / 4
    assert float(mean_maturity(0.6, 4.0)) == pytest.approx(m)
    t3 = fleet_terms(case, {"software_maturity": 0.6})
    assert float(t3["fleet"]) == pytest.approx(5e8 * crf(0.10, 4) / ((h_gpu * m - h_custom / 0.8) * H), rel=1e-9)
    # a GPU cheap enough that the custom chip never saves
    assert math.isinf(float(fleet_terms(case, {"gpu_price": 0.2})["fleet"]))


# ---------------------------------------------------------------- Monte Carlo


def test_monte_carlo_quantiles_converge_on_a_closed_form():
    # Only the GPU price varies, uniform on [0.6, 1.1] x $30,000; the fleet falls as the price
    # rises, so its q-quantile is the fleet at the price's (1 - q)-quantile.
    case = _case(partner=False)
    spec = {"gpu_price": dict(INPUTS["gpu_price"])}
    mc = monte_carlo(case, samples=400_000, seed=7, inputs=spec, fleet=None)
    h_custom = _hour(6000, 500)
    for key, q in (("p10", 0.10), ("p50", 0.50), ("p90", 0.90)):
        g = 0.6 + (1 - q) * 0.5
        expect = 5e8 * crf(0.10, 4) / ((_hour(30000 * g, 700) - h_custom / 0.8) * H)
        assert mc["quantiles"][key] == pytest.approx(expect, rel=0.005)
    assert mc["p_never"] == 0.0


def test_monte_carlo_probability_of_payback_closed_form():
    # Respin alone, p = 0.5: the fleet is either the base or the respin case; at a fleet between
    # the two, P(pays back) = P(no respin) = 0.5 (+- 3 sigma of a binomial share over 20,000 draws).
    case = _case()
    spec = {"respin": dict(INPUTS["respin"])}
    lo = float(fleet_terms(case, {})["fleet"])
    hi = float(fleet_terms(case, {"respin": 1.0})["fleet"])
    mc = monte_carlo(case, samples=20000, seed=1, inputs=spec, fleet=(lo + hi) / 2)
    assert abs(mc["p_pays_back"] - 0.5) < 3 * math.sqrt(0.25 / 20000)
    assert mc["quantiles"]["p05"] == pytest.approx(lo) and mc["quantiles"]["p95"] == pytest.approx(hi)


def test_monte_carlo_is_seeded_and_its_p_matches_its_quantiles():
    case = _case()
    a = monte_carlo(case, samples=5000, seed=3)
    b = monte_carlo(case, samples=5000, seed=3)
    assert a["quantiles"] == b["quantiles"]
    c = monte_carlo(case, samples=5000, seed=3, fleet=a["quantiles"]["p50"])
    # the median fleet pays back in (at least) half the draws: inverted-CDF quantile
    assert 0.5 <= c["p_pays_back"] <= 0.5 + 1 / 5000
    assert set(a["inputs"]) == set(INPUTS) and all(v["why"] for v in a["inputs"].values())
    assert np.all(np.diff(list(a["quantiles"].values())) >= 0)


def test_breakeven_inputs_come_sourced_from_their_yaml():
    # The inputs are data (data/economics/breakeven.yaml through fabless.params), not code: each
    # carries a source, a confidence and its reason, and each distribution is one monte_carlo draws.
    from fabless.economics.breakeven import MATURITY_TAU_YEARS, PARAMS, RESPIN_DELAY_MONTHS

    assert PARAMS.path.endswith("breakeven.yaml")
    assert PARAMS.params["maturity_tau_years"].value == MATURITY_TAU_YEARS
    assert PARAMS.params["respin_delay_months"].unit == "months" and RESPIN_DELAY_MONTHS > 0
    case = _case()
    for name, spec in INPUTS.items():
        p = PARAMS.params[f"inputs.{name}"]
        assert spec["why"] == p.note and spec["source"] == p.source and p.confidence == "assumed"
        assert spec["kind"] in ("factor", "value") and spec["low"] <= spec["high"]
        if spec["dist"][0] == "uniform":
            assert spec["dist"][1] <= spec["dist"][2]
        mc = monte_carlo(case, samples=50, seed=0, inputs={name: spec})
        assert mc["inputs"][name]["distribution"] == list(spec["dist"])
