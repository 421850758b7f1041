"""fabless tco and fabless breakeven through the CLI, checked by hand arithmetic against
the engine's own throughput (`fabless estimate`) and the owned chip-hour of the H100
worked by hand in docs/economics.md.

H100 by hand (docs/economics.md): street price $31,250 (uvation, 2025-03-03, the cheapest
purchase quote within a year of the newest); capex 31,250 x 1.64 / 0.81 = $63,271.6;
hardware 63,271.6 x CRF(10%, 5) 0.263797 / 8760 = 1.9054; operations 63,271.6 x 0.05 / 8760
= 0.3611; energy 1.274 kW x 0.75 x 1.25 x 0.08 = 0.0956; data centre 1.274e-3 MW x $11.7M x
CRF(10%, 15) 0.131474 / 8760 = 0.2237; total $2.586/h. Rent: RunPod on-demand $2.99
(2025-03-03; AWS and Google quoted 12.29 and 11.06 on 2025-03-17, dearer)."""

from __future__ import annotations

import math

import pytest

from tests.conftest import assert_one_line_error, linkless_chip_file

SERVE = "examples/scenarios/llama-70b-serving-dgx-h100.yaml"
CUSTOM = "examples/scenarios/hardware/my-chip-system.yaml"


@pytest.fixture(scope="module")
def linkless_chip(tmp_path_factory):
    return linkless_chip_file(tmp_path_factory.mktemp("chip"), "linkless-npu")


HOURS = 8760.0
OWNED_H100 = 2.586
RENT_H100 = 2.99


def crf(r, n):
    return r / (1 - (1 + r) ** -n)


@pytest.fixture(scope="module")
def train_scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("scn") / "train.yaml"
    path.write_text("model: llama-3.1-8b\nsystem: {name: dgx-h100, count: 8}\nprecision: bf16\n"
                    "parallel: {tp: 1}\ntraining: {global_batch: 64, micro_batch: 1, seq_len: 4096, tokens: 1.0e+12}\n")
    return str(path)


def _estimate(cli, scenario, *extra):
    r = cli("estimate", scenario, *extra, "--json")
    assert r.code == 0, r.err
    return r.json()


def test_tco_inference_by_hand(cli):
    r = cli("tco", SERVE, "--json")
    assert r.code == 0, r.err
    (row,) = r.json()["rows"]
    est = _estimate(cli, SERVE)
    # throughput is the engine's, per chip
    assert row["tokens_per_s_per_chip"] == pytest.approx(est["output_tokens_per_s_per_chip"])
    # H100 owned chip-hour, by hand (module docstring): 1.905 + 0.361 + 0.096 + 0.224 = $2.586/h
    assert row["buy_chip_hour_usd"] == pytest.approx(OWNED_H100, abs=0.001)
    assert row["buy_price_basis"] == "uvation (reseller) street 2025-03-03"
    assert row["rent_chip_hour_usd"] == RENT_H100 and row["rent_price_basis"] == "RunPod on-demand 2025-03-03"
    out = est["output_tokens_per_s_per_chip"]
    # $/Mtoken = chip-hour $ / (3600 x tokens/s per chip) x 1e6
    assert row["buy_usd_per_mtoken_output_all_in"] == pytest.approx(OWNED_H100 / (3600 * out) * 1e6, rel=0.001)
    assert row["rent_usd_per_mtoken_output_all_in"] == pytest.approx(RENT_H100 / (3600 * out) * 1e6, rel=1e-9)
    # split by phase: prefill share of the chip time = TTFT / e2e; 2048 input, 256 output tokens per request
    share = est["ttft_s"] / est["e2e_latency_s"]
    inp = out * 2048 / 256
    assert row["rent_usd_per_mtoken_input"] == pytest.approx(RENT_H100 * share / (3600 * inp) * 1e6, rel=1e-9)
    assert row["rent_usd_per_mtoken_output"] == pytest.approx(RENT_H100 * (1 - share) / (3600 * out) * 1e6, rel=1e-9)
    # the split adds back to the whole: cost of 2048 input + 256 output tokens = all-in cost of 256 output tokens
    whole = 2048 * row["rent_usd_per_mtoken_input"] + 256 * row["rent_usd_per_mtoken_output"]
    assert whole == pytest.approx(256 * row["rent_usd_per_mtoken_output_all_in"], rel=1e-9)
    # tokens per joule: at most the TDP is drawn, so at least tokens/s / 700 W
    assert row["power_w"] <= 700
    assert row["tokens_per_joule"] == pytest.approx(out / row["power_w"])
    assert row["tokens_per_joule"] >= out / 700


def test_tco_training_run_by_hand(cli, train_scenario):
    r = cli("tco", train_scenario, "--json")
    assert r.code == 0, r.err
    (row,) = r.json()["rows"]
    est = _estimate(cli, train_scenario)
    # $/run = chip-hours x $/chip-hour = 8 chips x training time (h) x $2.586
    chip_hours = 8 * est["training_time_s"] / 3600
    assert row["buy_usd_per_run"] == pytest.approx(chip_hours * OWNED_H100, rel=0.001)
    assert row["rent_usd_per_run"] == pytest.approx(chip_hours * RENT_H100, rel=1e-6)
    # and $/Mtoken x 1e12 tokens / 1e6
    assert row["rent_usd_per_run"] == pytest.approx(row["rent_usd_per_mtoken"] * 1e6, rel=1e-9)
    assert 0 < row["matrix_util"] <= 1


def test_tco_compare_rows_and_chips_without_a_system(cli, linkless_chip):
    r = cli("tco", SERVE, "--compare", f"h100-sxm,tpu-v5p,graviton4,mtia-v2,{linkless_chip},examples/scenarios/hardware/my-chip.yaml,"
            + CUSTOM, "--json")
    assert r.code == 0, r.err
    rows = {row["chip"]: row for row in r.json()["rows"]}
    # a chip with no system preset goes into the scenario's own system (DGX H100), which needs
    # scale-up links: this one has none
    assert "no scale-up links" in rows[linkless_chip]["error"]
    # Graviton4 goes into its own CPU instance (c8g), where each socket runs a whole model copy:
    # the scenario's tp=8 plan is refused in one line naming the rule
    assert "c8g" in rows["graviton4"]["error"] and "each socket runs its own copy of the model" in rows["graviton4"]["error"]
    # MTIA v2 has no links of its own but systems of its own (a PCIe Gen5 switch per chassis)
    assert rows["mtia-v2"]["system"] == "mtia-v2-chassis" and "error" not in rows["mtia-v2"]
    mine = rows["examples/scenarios/hardware/my-chip.yaml"]
    assert mine["chip_name"] == "my-chip" and mine["chips"] == 8 and "dgx-h100" in mine["system_note"]
    # TPU v5p: Google sells no TPU -> no purchase price, said so (not its manufacturing cost);
    # no published TDP -> charged on modelled power; rented at Google's on-demand $4.20
    v5p = rows["tpu-v5p"]
    assert v5p["buy_chip_hour_usd"] is None and v5p["buy_price_basis"] == "no list or street price"
    assert v5p["ownership_power_basis"] == "modelled (no published TDP)"
    assert v5p["rent_chip_hour_usd"] == 4.2 and v5p["rent_price_basis"].startswith("Google Cloud on-demand")
    # a design file nobody sells is bought at its modelled unit cost, and the basis says so
    assert mine["buy_price_basis"].startswith("unit cost")
    assert rows[CUSTOM]["chips"] == 8 and rows[CUSTOM]["rent_chip_hour_usd"] is None and "system_note" not in rows[CUSTOM]


def test_tco_table_prints(cli, linkless_chip):
    r = cli("tco", SERVE, "--compare", f"h100-sxm,{linkless_chip}")
    assert r.code == 0, r.err
    assert "no scale-up links" in r.out and "h100-sxm" in r.out


def test_breakeven_by_hand(cli):
    r = cli("breakeven", SERVE, "--custom", CUSTOM, "--against", "h100-sxm", "--fleet", "10000", "--json")
    assert r.code == 0, r.err
    d = r.json()
    gpu = _estimate(cli, SERVE)["output_tokens_per_s_per_chip"]
    assert d["gpu_tokens_per_s_per_chip"] == pytest.approx(gpu)
    ratio = d["custom_tokens_per_s_per_chip"] / gpu
    assert d["throughput_ratio"] == pytest.approx(ratio)
    assert d["gpu_chip_hour_usd"] == pytest.approx(OWNED_H100, abs=0.001)
    assert d["gpu_price_usd"] == 31250 and d["gpu_price_basis"] == "uvation (reseller) street 2025-03-03"
    # N3 NRE by hand (docs/economics.md): IBS N3 design $650M (masks included in the IBS total)
    assert d["nre_usd"] == pytest.approx(650e6)
    saving = d["gpu_chip_hour_usd"] - d["custom_chip_hour_usd"] / ratio
    assert d["saving_per_gpu_hour_usd"] == pytest.approx(saving)
    for row in d["breakeven"]:
        # the NRE repaid as an annuity at the 10% cost of capital
        fleet = 650e6 * crf(0.10, row["years"]) / (saving * HOURS)
        assert row["breakeven_fleet_gpus"] == pytest.approx(fleet)
        assert row["breakeven_fleet_custom_chips"] == pytest.approx(fleet / ratio)
    # payback T at 10,000 GPUs: CRF(10%, T) = 10,000 x saving x H / NRE
    x = 10000 * saving * HOURS / 650e6
    assert crf(0.10, d["payback_years"]) == pytest.approx(x)
    # tornado: the inputs and the custom chip's silicon costs, sorted by swing
    names = [t["input"] for t in d["tornado"]]
    assert sorted(names) == sorted(["gpu_price", "partner_margin", "nre", "software_maturity", "cost_of_capital",
                                    "respin", "delay_months", "generations", "utilisation", "electricity",
                                    "defect_density", "memory_price", "wafer_price"])
    swings = [t["swing"] for t in d["tornado"]]
    assert swings == sorted(swings, reverse=True)
    by = {t["input"]: t for t in d["tornado"]}
    base4 = d["breakeven"][3]["breakeven_fleet_gpus"]
    # an immature software stack delivers less -> more GPUs' worth needed to repay the NRE
    assert by["software_maturity"]["result_low"] > base4 == pytest.approx(by["software_maturity"]["result_high"])
    # two generations in the horizon: twice the NRE, twice the fleet
    assert by["generations"]["result_high"] == pytest.approx(2 * base4)
    # a cheaper GPU saves less per GPU replaced
    assert by["gpu_price"]["result_low"] > base4 > by["gpu_price"]["result_high"]
    mc = d["monte_carlo"]
    assert mc["samples"] == 20000 and set(mc["quantiles"]) == {"p05", "p10", "p25", "p50", "p75", "p90", "p95"}
    q = list(mc["quantiles"].values())
    assert q == sorted(q) and 0 <= mc["p_pays_back"] <= 1


def test_breakeven_table_prints(cli):
    r = cli("breakeven", SERVE, "--custom", CUSTOM, "--against", "h100-sxm")
    assert r.code == 0, r.err
    assert "tornado" in r.out and "break-even fleet" in r.out


def test_breakeven_custom_chip_yaml_is_placed_in_the_scenario_system(cli):
    r = cli("breakeven", SERVE, "--custom", "examples/scenarios/hardware/my-chip.yaml", "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["custom"] == "my-chip" and any("dgx-h100" in n for n in d["notes"])


def test_breakeven_custom_without_links_is_one_line_error(cli, linkless_chip):
    assert_one_line_error(cli("breakeven", SERVE, "--custom", linkless_chip), "no scale-up links")


def test_breakeven_gpu_without_price_is_one_line_error(cli):
    assert_one_line_error(cli("breakeven", SERVE, "--custom", CUSTOM, "--against", "tpu-v5p"), "no list or street price")


def test_breakeven_bad_years(cli):
    assert_one_line_error(cli("breakeven", SERVE, "--custom", CUSTOM, "--years", "0"), "--years")


def test_tco_missing_scenario(cli):
    r = cli("tco", "no-such-file.yaml")
    assert r.code == 2 and "Traceback" not in r.err


@pytest.mark.parametrize("chip", ["tpu-v5p", "tpu-v6e", "trainium1", "inferentia2", "graviton4"])
def test_cost_without_tdp_falls_back_to_modelled_power(cli, chip):
    r = cli("cost", chip, "--json")
    assert r.code == 0, r.err
    s = r.json()["summary"]
    assert s["tdp_w"] is None
    assert s["ownership_power_basis"] == "modelled (no published TDP)"
    assert s["ownership_power_w"] == pytest.approx(s["power_w"])
    assert s["owned_chip_hour_usd"] > 0 and math.isfinite(s["owned_chip_hour_usd"])


def test_cost_shipped_chip_over_its_tdp_is_reported_not_rejected(cli):
    r = cli("cost", "mtia-v1", "--json")
    assert r.code == 0, r.err
    s = r.json()["summary"]
    assert s["power_w"] > s["tdp_w"] == 25 and s["sustained_clock_mhz"] is None
    assert s["ownership_power_w"] == 25
