"""`fabless fleet`: layouts per chip, fleet arithmetic and cost, bad inputs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fabless.economics import chip_hour, default_params
from fabless.hardware.presets import load_chip
from fabless.serve.fleet import HOURS_PER_MONTH, Layout, fleet_size, monthly_usd, usd_per_mtoken
from tests.conftest import assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "examples/scenarios/llama-70b-serving-dgx-h100.yaml")
MY_CHIP = str(ROOT / "examples/scenarios/hardware/my-chip.yaml")
SLO = "ttft_p99=2s,tpot_p99=50ms"


def test_fleet_arithmetic_by_hand():
    # 333.33 req/s over 3.12 req/s per replica: 106.8 -> 107 replicas; of tp2 -> 214 chips.
    assert fleet_size(20000 / 60, 3.125, 2) == (107, 214)
    assert fleet_size(10.0, 2.5, 8) == (4, 32)  # exact division does not round up
    assert Layout(4, 2).unit_chips == 8
    assert Layout(2, 1, prefill=1, decode=3).unit_chips == 8
    # $/month = chips x $/h x 730; $/Mtoken = chips x $/h / (tokens/s x 3600) x 1e6.
    assert monthly_usd(214, 2.0) == pytest.approx(214 * 2.0 * 730)
    assert usd_per_mtoken(100, 3.6, 1000.0) == pytest.approx(100.0)  # 360 $/h over 3.6 M tokens/h
    assert monthly_usd(10, None) is None


def test_fleet_end_to_end(cli):
    res = cli("fleet", SCENARIO, "--demand", "20000/min", "--slo", SLO, "--chips", f"h100-sxm,{MY_CHIP}",
              "--max-layouts", "2", "--duration", "30s", "--json")
    assert res.code == 0, res.err
    out = res.json()
    assert out["demand_per_s"] == pytest.approx(20000 / 60)
    h100, mine = out["rows"]
    # my-chip.yaml has no system preset: it runs in the scenario's DGX H100 and says so
    assert mine["chip"] == "my-chip" and mine["chips"] > 0 and "dgx-h100" in mine["system_note"]
    assert h100["chip"] == "h100-sxm" and h100["rate_per_s"] > 0
    # The reported fleet is the arithmetic on the reported rate and layout.
    assert h100["units"] == math.ceil(out["demand_per_s"] / h100["rate_per_s"])
    assert h100["chips"] == h100["units"] * h100["chips_per_unit"]
    per_h = chip_hour(load_chip("h100-sxm"), default_params()).owned_usd
    assert h100["buy_chip_hour_usd"] == pytest.approx(per_h)
    assert h100["buy_usd_per_month"] == pytest.approx(h100["chips"] * per_h * HOURS_PER_MONTH)
    out_tok_s = out["demand_per_s"] * 256
    assert h100["buy_usd_per_mtoken_output"] == pytest.approx(h100["chips"] * per_h / (out_tok_s * 3600) * 1e6)
    # The best is the fewest chips of every layout that met the SLO.
    ok = [t for t in h100["layouts"] if t["rate_per_s"] > 0]
    assert h100["chips"] == min(t["chips"] for t in ok)
    assert {t["mode"] for t in h100["layouts"]} == {"aggregated", "disaggregated"}
    # Deterministic: the same seed gives the same answer.
    again = cli("fleet", SCENARIO, "--demand", "20000/min", "--slo", SLO, "--chips", "h100-sxm",
                "--max-layouts", "2", "--duration", "30s", "--json").json()
    assert again["rows"][0]["chips"] == h100["chips"]


def test_tighter_slo_needs_no_fewer_chips(cli):
    args = ("--demand", "100/s", "--chips", "b200", "--max-layouts", "1", "--duration", "30s", "--json")
    loose = cli("fleet", SCENARIO, "--slo", "ttft_p99=4s,tpot_p99=100ms", *args).json()["rows"][0]
    tight = cli("fleet", SCENARIO, "--slo", "ttft_p99=1s,tpot_p99=30ms", *args).json()["rows"][0]
    assert tight["chips"] >= loose["chips"]


@pytest.mark.parametrize("args,fragment", [
    (("--demand", "0/s"), "--demand"),
    (("--demand", "fast"), "--demand"),
    (("--demand", "10/s", "--max-layouts", "0"), "--max-layouts"),
    (("--demand", "10/s", "--length-cv", "-1"), "--length-cv"),
])
def test_bad_inputs(cli, args, fragment):
    assert_one_line_error(cli("fleet", SCENARIO, "--slo", SLO, *args), fragment)


def test_bad_slo_and_missing_inference(cli, tmp_path):
    assert_one_line_error(cli("fleet", SCENARIO, "--demand", "10/s", "--slo", "ttft_p42=1s"))
    bad = tmp_path / "train.yaml"
    bad.write_text("model: llama-3.1-8b\nsystem: {name: dgx-h100, count: 8}\nprecision: bf16\nparallel: {tp: 8}\n"
                   "training: {global_batch: 8, micro_batch: 1, seq_len: 1024}\n")
    assert_one_line_error(cli("fleet", str(bad), "--demand", "10/s", "--slo", SLO), "inference")


def test_fleet_power_against_a_site_and_racks_by_hand():
    # H100: 700 W TDP x 1.82 (server power over TDP, ownership.yaml) = 1,274 W per chip in its server;
    # x PUE 1.25 = 1,592.5 W at the wall. 420 chips: 0.66885 MW. A 1 MW site powers 627 chips;
    # a 40 kW rack holds 31 chips' servers, so 420 chips need 14 racks.
    from fabless.hardware.presets import load_chip
    from fabless.serve.fleet import FleetOptions, fleet_power
    from fabless.serve.metrics import SLO
    from fabless.serve.scheduler import SchedulerConfig

    opts = FleetOptions(SLO.parse("ttft_p99=2s"), SchedulerConfig(), site_mw=1.0, rack_kw=40.0)
    p = fleet_power(load_chip("h100-sxm"), 420, opts)
    assert p["server_w_per_chip"] == pytest.approx(700 * 1.82)
    assert p["facility_mw"] == pytest.approx(420 * 700 * 1.82 * 1.25 / 1e6)
    assert (p["site_powerable_chips"], p["fits_site"], p["chips_per_rack"], p["racks"]) == (627, True, 31, 14)
    assert fleet_power(load_chip("h100-sxm"), 700, opts)["fits_site"] is False
